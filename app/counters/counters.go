// Package counters owns nva's traffic attribution: it turns an NVE's
// OpenFlow flow statistics (packets and bytes per installed flow, found by
// cookie) into counters per VN, per port (VAP), per tunnel (remote NVE)
// and drops per pipeline stage, using the compiler's result for that NVE:
// every flow nva installs carries a cookie derived from its identity, and
// the compiler's slices say which VN or port each flow belongs to. It
// does no I/O.
//
// Attribution, per NVE:
//   - a port's rx: its VAP's classification flows (every frame from the VAP
//     matches exactly one); its tx: its local L2 forwarding flows (known
//     unicast delivered to it; flooded copies go through groups and are
//     not counted per port);
//   - a VN's traffic: the classification flows of its slices, split into
//     frames from local VAPs and frames from tunnels;
//   - a tunnel's tx: the L2 forwarding flows of the VN ports hosted by that
//     remote NVE (known unicast); its rx: the tunnel classification flows
//     that name that NVE (tun_src on OVS, its tunnel port on strict
//     OpenFlow 1.3);
//   - drops: every explicit drop flow (no actions, no goto), by the
//     stage(s) of its table: port security, unknown unicast (l2_forward),
//     unknown neighbor targets (neighbor), unknown VAPs or tunnels
//     (classify), and any stage added later (a policy stage counts under
//     its own name); and the same drops by reason (DropReason: TTL
//     expiry told apart from the routing stage's other flows);
//   - interfaces: the southbound adds the switch's port statistics of
//     tunnel ports and VAP interfaces (every frame, flooded copies
//     included, and the interface's own drops and errors).
package counters

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// Count is packets and bytes.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func (c *Count) add(o Count) { c.Packets += o.Packets; c.Bytes += o.Bytes }

// Stat is one installed flow's statistics.
type Stat struct {
	Cookie  uint64
	Packets uint64
	Bytes   uint64
}

// NVE is one NVE's counters.
type NVE struct {
	NVE     string            `json:"nve"`
	VNs     map[string]VN     `json:"vns"`
	Ports   map[string]Port   `json:"ports"`
	Tunnels map[string]Tunnel `json:"tunnels"` // by remote NVE
	Drops   map[string]Count  `json:"drops"`   // by stage
	// DropReasons is the same drops by why (DropReason).
	DropReasons map[string]Count `json:"drop_reasons"`
	// Interfaces are the switch's own statistics of nva's interfaces
	// (tunnel ports and VAP interfaces), by interface name: every frame,
	// flooded copies included, and what the interface dropped or failed.
	Interfaces map[string]Iface `json:"interfaces,omitempty"`
	// BUM is the live replication per VN, from the flood groups'
	// statistics (BUMIndex), sorted by VN.
	BUM []BUM `json:"bum,omitempty"`
	// Unattributed counts nva flows whose cookie the compiled state does
	// not know (installed by an older compile, about to be replaced).
	Unattributed Count `json:"unattributed"`
}

// VN is a VN's traffic entering its pipeline on one NVE.
type VN struct {
	FromPorts   Count `json:"from_ports"`
	FromTunnels Count `json:"from_tunnels"`
}

// Port is a VAP's traffic.
type Port struct {
	VN string `json:"vn"`
	Rx Count  `json:"rx"` // from the tenant system into the pipeline
	Tx Count  `json:"tx"` // known unicast delivered to it
}

// Tunnel is the traffic with one remote NVE.
type Tunnel struct {
	Tx Count `json:"tx"` // known unicast sent to it
	Rx Count `json:"rx"` // received from it
}

// Interface kinds.
const (
	IfaceVAP    = "vap"
	IfaceTunnel = "tunnel"
)

// Iface is an interface's statistics as its switch counts them
// (OpenFlow port statistics).
type Iface struct {
	Kind      string `json:"kind"` // vap or tunnel
	Rx        Count  `json:"rx"`
	Tx        Count  `json:"tx"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
}

// Drop reasons (NVE.DropReasons): the stage a drop flow is in says why,
// except TTL expiry (a drop flow that matches the TTL, in the routing
// stage); a stage without a reason of its own (e.g. a policy stage) is
// its own reason.
const (
	ReasonSpoofed         = "spoofed"          // port_security: not the port's addresses, or a frame type it may not send
	ReasonUnknownUnicast  = "unknown_unicast"  // l2_forward: no port of the VN has the destination MAC (VN policy drop)
	ReasonUnknownNeighbor = "unknown_neighbor" // neighbor: ARP/ND for an unknown target (VN policy drop)
	ReasonUnknownIngress  = "unknown_ingress"  // classify: not a known VAP or tunnel of a VN here
	ReasonTTLExpired      = "ttl_expired"      // a routed packet whose TTL ran out
)

// DropReason is why a drop flow of stages drops.
func DropReason(stages []string, f *flow.Flow) string {
	if f.Match.Has(flow.IPTTL) {
		return ReasonTTLExpired
	}
	if len(stages) == 0 {
		return f.Table
	}
	// A table shared by parallel stages (l2_forward and l3_route on the
	// strict profile) takes the first stage with a reason.
	for _, st := range stages {
		switch st {
		case pipeline.PortSecurity:
			return ReasonSpoofed
		case pipeline.L2Forward:
			return ReasonUnknownUnicast
		case pipeline.Neighbor:
			return ReasonUnknownNeighbor
		case pipeline.Classify:
			return ReasonUnknownIngress
		}
	}
	return strings.Join(stages, "/")
}

type kind uint8

const (
	kindPortRx kind = iota + 1
	kindPortTx
	kindTunnelRxVN // tunnel classification: VN from tunnels (+ tunnel rx when remote known)
	kindTunnelTx
	kindDrop
	kindNone // a flow of the compile that counts nothing
)

type attr struct {
	kind   kind
	vn     string
	port   string
	remote string
	stage  string
	reason string
}

// Index maps an NVE's cookies to what their flows count.
type Index struct {
	nve      string
	byCookie map[uint64]attr
}

// NewIndex builds the index of NVE nve from its compiled result res for
// profile prof. tunnelPorts names the remote NVE of each per-remote tunnel
// port (strict profile; nil on OVS, where tun_src names it).
func NewIndex(snap *model.Snapshot, nve string, prof pipeline.Profile, res compiler.Result, tunnelPorts map[uint32]string) *Index {
	ix := &Index{nve: nve, byCookie: map[uint64]attr{}}
	stages := map[string][]string{}
	for _, t := range prof.Tables {
		stages[t.Name] = t.Stages
	}
	has := func(table, stage string) bool {
		for _, s := range stages[table] {
			if s == stage {
				return true
			}
		}
		return false
	}
	byUnderlay := map[netip.Addr]string{}
	for _, n := range snap.SortedNVEs() {
		for _, u := range n.UnderlayIPs {
			if a, err := netip.ParseAddr(u); err == nil {
				byUnderlay[a.Unmap()] = n.Name
			}
		}
	}
	for _, sl := range res.Slices {
		vn, port := sl.VN, sl.Port()
		for i := range sl.Flows {
			f := &sl.Flows[i]
			a := attr{vn: vn, port: port}
			switch {
			case len(f.Actions) == 0 && f.Goto == "", isTTLPunt(f):
				a.kind, a.stage, a.reason = kindDrop, stageName(stages[f.Table], f.Table), DropReason(stages[f.Table], f)
			case has(f.Table, pipeline.Classify) && port != "":
				a.kind = kindPortRx
			case has(f.Table, pipeline.Classify) && vn != "":
				a.kind = kindTunnelRxVN
				a.remote = remoteOf(f, byUnderlay, tunnelPorts)
			case has(f.Table, pipeline.L2Forward) && port != "" && hasOutput(f):
				if p := snap.Ports.Get(port); p == nil {
					a.kind = kindNone
				} else if p.NVE == nve {
					a.kind = kindPortTx
				} else {
					a.kind, a.remote = kindTunnelTx, p.NVE
				}
			default:
				a.kind = kindNone
			}
			ix.byCookie[f.Cookie] = a
		}
	}
	return ix
}

// isTTLPunt reports whether f is a routing stage's TTL-expiry flow that
// sends the packet to the controller only (for an ICMP time-exceeded): it
// forwards nothing, so it counts as a ttl_expired drop.
func isTTLPunt(f *flow.Flow) bool {
	if !f.Match.Has(flow.IPTTL) || f.Goto != "" || len(f.Actions) == 0 {
		return false
	}
	for _, a := range f.Actions {
		if o, ok := a.(flow.Output); !ok || o.Port != flow.PortController {
			return false
		}
	}
	return true
}

func stageName(stages []string, table string) string {
	if len(stages) == 0 {
		return table
	}
	return strings.Join(stages, "/")
}

func hasOutput(f *flow.Flow) bool {
	for _, a := range f.Actions {
		if _, ok := a.(flow.Output); ok {
			return true
		}
	}
	return false
}

// remoteOf is the remote NVE a tunnel classification flow admits.
func remoteOf(f *flow.Flow, byUnderlay map[netip.Addr]string, tunnelPorts map[uint32]string) string {
	for m := range f.Match.Fields() {
		switch m.Field {
		case flow.TunIPv4Src:
			if a, ok := netip.AddrFromSlice(m.Value); ok && m.Mask == nil {
				return byUnderlay[a.Unmap()]
			}
		case flow.InPort:
			if len(m.Value) == 4 && tunnelPorts != nil {
				no := uint32(m.Value[0])<<24 | uint32(m.Value[1])<<16 | uint32(m.Value[2])<<8 | uint32(m.Value[3])
				if r, ok := tunnelPorts[no]; ok {
					return r
				}
			}
		}
	}
	return ""
}

// Len is the number of attributed flows.
func (ix *Index) Len() int { return len(ix.byCookie) }

// Attribute sums stats (nva's flows) into the NVE's counters. Stats of
// cookies the index does not know count as Unattributed; flows that
// count nothing (port security passes, neighbor answers) are skipped.
func (ix *Index) Attribute(stats []Stat) NVE {
	out := NVE{NVE: ix.nve, VNs: map[string]VN{}, Ports: map[string]Port{}, Tunnels: map[string]Tunnel{}, Drops: map[string]Count{},
		DropReasons: map[string]Count{}}
	for _, s := range stats {
		c := Count{Packets: s.Packets, Bytes: s.Bytes}
		a, ok := ix.byCookie[s.Cookie]
		if !ok {
			out.Unattributed.add(c)
			continue
		}
		switch a.kind {
		case kindPortRx:
			p := out.Ports[a.port]
			p.VN = a.vn
			p.Rx.add(c)
			out.Ports[a.port] = p
			v := out.VNs[a.vn]
			v.FromPorts.add(c)
			out.VNs[a.vn] = v
		case kindPortTx:
			p := out.Ports[a.port]
			p.VN = a.vn
			p.Tx.add(c)
			out.Ports[a.port] = p
		case kindTunnelRxVN:
			v := out.VNs[a.vn]
			v.FromTunnels.add(c)
			out.VNs[a.vn] = v
			if a.remote != "" {
				t := out.Tunnels[a.remote]
				t.Rx.add(c)
				out.Tunnels[a.remote] = t
			}
		case kindTunnelTx:
			t := out.Tunnels[a.remote]
			t.Tx.add(c)
			out.Tunnels[a.remote] = t
		case kindDrop:
			d := out.Drops[a.stage]
			d.add(c)
			out.Drops[a.stage] = d
			r := out.DropReasons[a.reason]
			r.add(c)
			out.DropReasons[a.reason] = r
		}
	}
	return out
}

// Total is the counters of several NVEs added up: per VN, per port (a port
// is on one NVE), per tunnel as "local->remote", drops per stage.
type Total struct {
	VNs     map[string]VN     `json:"vns"`
	Ports   map[string]Port   `json:"ports"`
	Tunnels map[string]Tunnel `json:"tunnels"`
	Drops   map[string]Count  `json:"drops"`
	// DropReasons are the drops by reason; Interfaces the interfaces'
	// statistics keyed "nve/interface".
	DropReasons map[string]Count `json:"drop_reasons"`
	Interfaces  map[string]Iface `json:"interfaces"`
}

// Sum adds up NVEs' counters.
func Sum(nves []NVE) Total {
	t := Total{VNs: map[string]VN{}, Ports: map[string]Port{}, Tunnels: map[string]Tunnel{}, Drops: map[string]Count{},
		DropReasons: map[string]Count{}, Interfaces: map[string]Iface{}}
	sort.Slice(nves, func(i, j int) bool { return nves[i].NVE < nves[j].NVE })
	for _, n := range nves {
		for k, v := range n.VNs {
			x := t.VNs[k]
			x.FromPorts.add(v.FromPorts)
			x.FromTunnels.add(v.FromTunnels)
			t.VNs[k] = x
		}
		for k, p := range n.Ports {
			x := t.Ports[k]
			x.VN = p.VN
			x.Rx.add(p.Rx)
			x.Tx.add(p.Tx)
			t.Ports[k] = x
		}
		for k, v := range n.Tunnels {
			key := n.NVE + "->" + k
			x := t.Tunnels[key]
			x.Tx.add(v.Tx)
			x.Rx.add(v.Rx)
			t.Tunnels[key] = x
		}
		for k, d := range n.Drops {
			x := t.Drops[k]
			x.add(d)
			t.Drops[k] = x
		}
		for k, d := range n.DropReasons {
			x := t.DropReasons[k]
			x.add(d)
			t.DropReasons[k] = x
		}
		for k, i := range n.Interfaces {
			t.Interfaces[n.NVE+"/"+k] = i
		}
	}
	return t
}
