package wire

// TraceRequest is the body of POST /api/v1/traces: a packet entering by a
// port, simulated through the compiled pipeline of every NVE it crosses.
// Only port is required; see the README's "Tracing and counters".
type TraceRequest struct {
	Port     string `json:"port"`
	ToPort   string `json:"to_port,omitempty"`
	EthSrc   string `json:"eth_src,omitempty"`
	EthDst   string `json:"eth_dst,omitempty"`
	VLAN     *int   `json:"vlan,omitempty"`
	Protocol string `json:"protocol,omitempty"` // arp, icmp (default), tcp, udp
	SrcIP    string `json:"src_ip,omitempty"`
	DstIP    string `json:"dst_ip,omitempty"`
	SrcPort  uint16 `json:"src_port,omitempty"`
	DstPort  uint16 `json:"dst_port,omitempty"`
	ARPOp    uint16 `json:"arp_op,omitempty"`
	// Live also injects the packet, marked, at the source VAP and
	// observes it on the NVEs (OVS-profile NVEs; see LiveTrace).
	Live bool `json:"live,omitempty"`
	// WaitMS bounds the live trace's wait for its packet, in ms
	// (default 2000, at most 10000).
	WaitMS int `json:"wait_ms,omitempty"`
}

// TraceResult is the answer of POST /api/v1/traces.
type TraceResult struct {
	Packet    string          `json:"packet"`
	VN        string          `json:"vn"`
	Hops      []TraceHop      `json:"hops"`
	Delivered []TraceDelivery `json:"delivered"`
	Dropped   bool            `json:"dropped"`
	Errors    []string        `json:"errors,omitempty"`
	// Live is the live trace (requested with live: true).
	Live *LiveTrace `json:"live,omitempty"`
}

// TraceDelivery is where one copy ended: a tenant port ("port", or
// "in_port" when sent back where it came from) or the controller.
type TraceDelivery struct {
	NVE  string `json:"nve"`
	Port string `json:"port,omitempty"`
	Kind string `json:"kind"`
}

// TraceHop is the packet's pass through one NVE.
type TraceHop struct {
	NVE     string        `json:"nve"`
	Profile string        `json:"profile"`
	Arrival string        `json:"arrival"`
	Steps   []TraceStep   `json:"steps"`
	Outputs []TraceOutput `json:"outputs"`
	Drop    string        `json:"drop,omitempty"`
}

// TraceStep is one table lookup: the flow matched ("" on a miss) and its
// decision.
type TraceStep struct {
	Table    string   `json:"table"`
	Number   uint8    `json:"number"`
	Stages   []string `json:"stages"`
	Flow     string   `json:"flow,omitempty"`
	Decision string   `json:"decision"`
	Verdict  string   `json:"verdict"`
	Goto     string   `json:"goto,omitempty"`
}

// TraceOutput is one copy leaving an NVE: by a tenant port, to the
// controller, or into a tunnel.
type TraceOutput struct {
	Port       string       `json:"port,omitempty"`
	Controller bool         `json:"controller,omitempty"`
	Tunnel     *TraceTunnel `json:"tunnel,omitempty"`
	Packet     string       `json:"packet,omitempty"`
}

// TraceTunnel is a tunnel a copy left by. RemoteIP is omitted for
// tenants (the underlay is not theirs to see).
type TraceTunnel struct {
	Encap     string `json:"encap"`
	RemoteNVE string `json:"remote_nve"`
	RemoteIP  string `json:"remote_ip,omitempty"`
	VNI       uint64 `json:"vni"`
}
