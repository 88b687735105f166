package wire

import "time"

// Count is packets and bytes.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// VNCounters is a VN's traffic entering its pipeline: from local VAPs
// and from tunnels (other NVEs).
type VNCounters struct {
	FromPorts   Count `json:"from_ports"`
	FromTunnels Count `json:"from_tunnels"`
}

// PortCounters is a port's (VAP's) traffic: rx from the tenant system,
// tx known unicast delivered to it.
type PortCounters struct {
	VN string `json:"vn"`
	Rx Count  `json:"rx"`
	Tx Count  `json:"tx"`
}

// TunnelCounters is the traffic with a remote NVE: tx known unicast sent
// to it, rx received from it.
type TunnelCounters struct {
	Tx Count `json:"tx"`
	Rx Count `json:"rx"`
}

// NVECounters is one NVE's counters.
type NVECounters struct {
	NVE          string                    `json:"nve"`
	VNs          map[string]VNCounters     `json:"vns"`
	Ports        map[string]PortCounters   `json:"ports"`
	Tunnels      map[string]TunnelCounters `json:"tunnels"` // by remote NVE
	Drops        map[string]Count          `json:"drops"`   // by stage
	Unattributed Count                     `json:"unattributed"`
}

// Counters is GET /api/v1/counters: the traffic counters this node last
// read from the NVEs connected to it, per NVE and summed (tunnels keyed
// "nve->remote").
type Counters struct {
	Enabled  bool                      `json:"enabled"`
	PolledAt *time.Time                `json:"polled_at,omitempty"`
	NVEs     []NVECounters             `json:"nves"`
	VNs      map[string]VNCounters     `json:"vns"`
	Ports    map[string]PortCounters   `json:"ports"`
	Tunnels  map[string]TunnelCounters `json:"tunnels"`
	Drops    map[string]Count          `json:"drops"`
}

// VNCountersReport is GET /api/v1/vns/{name}/counters: the VN's traffic
// summed over the NVEs, and its ports'.
type VNCountersReport struct {
	VN       string                  `json:"vn"`
	Enabled  bool                    `json:"enabled"`
	PolledAt *time.Time              `json:"polled_at,omitempty"`
	Counters VNCounters              `json:"counters"`
	Ports    map[string]PortCounters `json:"ports"`
}

// PortCountersReport is GET /api/v1/ports/{name}/counters.
type PortCountersReport struct {
	Port     string       `json:"port"`
	Enabled  bool         `json:"enabled"`
	PolledAt *time.Time   `json:"polled_at,omitempty"`
	Counters PortCounters `json:"counters"`
}
