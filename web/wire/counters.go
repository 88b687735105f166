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
	NVE     string                    `json:"nve"`
	VNs     map[string]VNCounters     `json:"vns"`
	Ports   map[string]PortCounters   `json:"ports"`
	Tunnels map[string]TunnelCounters `json:"tunnels"` // by remote NVE
	Drops   map[string]Count          `json:"drops"`   // by stage
	// DropReasons are the drops by reason (spoofed, unknown_unicast,
	// unknown_neighbor, unknown_ingress, ttl_expired, or a stage's name).
	DropReasons map[string]Count `json:"drop_reasons"`
	// Interfaces are the switch's statistics of the tunnel ports and VAP
	// interfaces, by interface name.
	Interfaces   map[string]InterfaceCounters `json:"interfaces"`
	Unattributed Count                        `json:"unattributed"`
	// BUM is the NVE's live BUM replication per VN (from its flood
	// groups' statistics), sorted by VN.
	BUM []BUMCounters `json:"bum"`
}

// BUMCounters is a VN's BUM replication on one NVE, read from its flood
// groups' statistics: frames from local VAPs flooded, frames from tunnels
// delivered locally, copies sent into tunnels (to other NVEs or to
// replicators) and to local VAPs, and the underlay copies per frame from
// a local VAP as compiled (status.openflow.bum[].copies), to compare with
// underlay_copies / frames. relayed_copies are a replicator's copies of
// frames from tunnels into tunnels (its relay flows' statistics), not in
// underlay_copies.
type BUMCounters struct {
	VN                string `json:"vn"`
	Frames            uint64 `json:"frames"`
	FramesFromTunnels uint64 `json:"frames_from_tunnels"`
	UnderlayCopies    uint64 `json:"underlay_copies"`
	LocalCopies       uint64 `json:"local_copies"`
	CompiledCopies    int    `json:"compiled_copies"`
	RelayedCopies     uint64 `json:"relayed_copies"`
}

// InterfaceCounters is an interface's statistics as its switch counts
// them (OpenFlow port statistics): every frame, flooded copies included,
// and the interface's own drops and errors.
type InterfaceCounters struct {
	Kind      string `json:"kind"` // vap or tunnel
	Rx        Count  `json:"rx"`
	Tx        Count  `json:"tx"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
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
	// DropReasons are the drops by reason, summed over the NVEs.
	DropReasons map[string]Count `json:"drop_reasons"`
}

// CountersEvent is the data of the events stream's counters event
// (GET /api/v1/events): the totals of GET /api/v1/counters without the
// per-NVE and per-port detail, sent when a poll round has ended.
type CountersEvent struct {
	PolledAt    *time.Time                `json:"polled_at,omitempty"`
	VNs         map[string]VNCounters     `json:"vns"`
	Tunnels     map[string]TunnelCounters `json:"tunnels"`
	Drops       map[string]Count          `json:"drops"`
	DropReasons map[string]Count          `json:"drop_reasons"`
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
