// Package web owns nva's northbound HTTP surface: the versioned REST API
// (/api/v1: health, cluster membership, VNs, NVEs, ports, topology, NVE
// flows), the Prometheus endpoint (/metrics) and the mount point of the
// store's internal cluster endpoints (/internal/). It translates HTTP to
// calls on a Backend (the Raft store) and domain errors (*model.Error) to
// the documented status codes and error bodies (web/wire holds the bodies
// clients share). What the southbound reports reaches it as typed reporters
// given explicitly in Options (Realizer, FlowReporter, StatusReporter,
// SwitchReporter); a nil one means the node has no such component.
package web
