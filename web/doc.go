// Package web owns nva's northbound HTTP surface: the versioned REST API
// (/api/v1: health, cluster membership, VNs, NVEs, ports, topology, NVE
// flows, and the live event stream /api/v1/events the web UI follows), the
// embedded web UI at /, the Prometheus endpoint (/metrics) and the mount point of the
// store's internal cluster endpoints (/internal/). It translates HTTP to
// calls on a Backend (the Raft store) and domain errors (*model.Error) to
// the documented status codes and error bodies (web/wire holds the bodies
// clients share). What the southbound reports reaches it as typed reporters
// given explicitly in Options (Realizer, FlowReporter, StatusReporter,
// SwitchReporter, and StatusNotifier, which pushes status changes to the
// event streams); a nil one means the node has no such component. Close
// ends the open event streams before the HTTP server shuts down.
//
// It also owns who may call what (auth.go, scope.go): bearer tokens and
// the UI's session cookie mapped to roles (admin, operator, reader,
// tenant), the access of every route, a tenant's scope (its VNs and their
// ports, in reads, writes, batches and the event stream), the token and
// session endpoints, and the cross-site checks (JSON writes, Origin, Host).
//
// It also owns how that surface meets the network: NewHTTPServer (read,
// write and idle timeouts; the event stream and ?wait=realized writes set
// their own write deadlines), LimitListener (the connection cap), exact
// JSON keys, no redirects for writes, and the OVSDB endpoint policy an
// NVE must satisfy (Options.OVSDBAllow).
package web
