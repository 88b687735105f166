// Package daemon owns the wiring of the nva daemon: its configuration
// (flags, NVA_* environment variables, a YAML file, defaults, in that order
// of precedence), logging, and the lifecycle that opens the Raft store,
// serves the REST API, joins a cluster, starts southbound components and
// shuts everything down gracefully. The OpenFlow and OVSDB southbound plug
// in as Components (Config.Southbound); the daemon itself opens no switch
// connections.
package daemon
