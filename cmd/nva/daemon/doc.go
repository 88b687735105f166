// Package daemon is nva's composition root: the daemon's configuration
// (flags, NVA_* environment variables, a YAML file, defaults, in that order
// of precedence), logging, the explicit wiring of every component (the
// Raft store, the OpenFlow and OVSDB southbound, the REST server) through
// typed constructor parameters, and the lifecycle that opens the store,
// starts the southbound, serves the REST API, joins a cluster and shuts
// everything down gracefully.
package daemon
