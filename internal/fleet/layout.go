package fleet

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// Layout is the benchmark's domain: NVEs NVEs with PortsPerNVE tenant
// ports each, and one VN per NVE whose ports are spread over Span
// consecutive NVEs (VN v spans NVEs v, v+1, ..., v+Span-1, modulo NVEs), so
// every NVE is in Span VNs with PortsPerNVE/Span ports in each and every
// switch holds the same number of flows at every size.
type Layout struct {
	NVEs        int
	PortsPerNVE int
	Span        int
	// Kind is ovs (Open vSwitch NVEs with an OVSDB server each) or
	// openflow (strict OpenFlow 1.3 switches with one tunnel port per
	// remote NVE, no OVSDB).
	Kind model.NVEKind
	// SparePorts is how many extra ports each openflow switch has for the
	// attach phase (ovs NVEs get theirs from OVSDB when nva adds them).
	SparePorts int
}

// Check reports what is wrong with the layout.
func (l Layout) Check() error {
	switch {
	case l.NVEs < 1 || l.NVEs > 9999:
		return fmt.Errorf("NVEs: %d is not between 1 and 9999", l.NVEs)
	case l.Span < 1 || l.Span > l.NVEs:
		return fmt.Errorf("span: %d is not between 1 and the number of NVEs (%d)", l.Span, l.NVEs)
	case l.PortsPerNVE < l.Span || l.PortsPerNVE%l.Span != 0 || l.PortsPerNVE/l.Span > 25:
		return fmt.Errorf("ports per NVE: %d is not a multiple of the span %d (at most 25 per VN and NVE)", l.PortsPerNVE, l.Span)
	case l.Kind != model.NVEOVS && l.Kind != model.NVEOpenFlow:
		return fmt.Errorf("kind: %q is not ovs or openflow", l.Kind)
	case l.SparePorts < 0 || l.SparePorts > 99:
		return fmt.Errorf("spare ports: %d is not between 0 and 99", l.SparePorts)
	}
	return nil
}

// NVEName names NVE j.
func NVEName(j int) string { return fmt.Sprintf("nve%04d", j) }

// VNName names VN v.
func VNName(v int) string { return fmt.Sprintf("vn%04d", v) }

// UnderlayIP is NVE j's underlay address (198.18.0.0/15, the benchmark
// range).
func UnderlayIP(j int) netip.Addr {
	n := j + 1
	return netip.AddrFrom4([4]byte{198, byte(18 + n>>16), byte(n >> 8), byte(n)})
}

// DatapathID is the datapath ID of openflow NVE j (ovs NVEs get theirs
// from nva).
func DatapathID(j int) uint64 { return 0xf1ee70000000 + uint64(j) + 1 }

// VN is VN v.
func (l Layout) VN(v int) model.VN {
	return model.VN{Name: VNName(v), VNI: uint32(10000 + v), Encap: model.EncapVXLAN}
}

// NVE is NVE j; ovsdb is its OVSDB endpoint (ovs kind only).
func (l Layout) NVE(j int, ovsdb string) model.NVE {
	n := model.NVE{Name: NVEName(j), Kind: l.Kind, UnderlayIPs: []string{UnderlayIP(j).String()}}
	if l.Kind == model.NVEOVS {
		n.OVSDB = ovsdb
	} else {
		n.DatapathID = model.FormatDatapathID(DatapathID(j))
	}
	return n
}

// vnOf is the VN of NVE j's port p and the port's index inside that VN.
func (l Layout) vnOf(j, p int) (vn, idx int) {
	r := p % l.Span // NVE j is the r-th NVE of the VN
	q := p / l.Span
	return (j - r + l.NVEs) % l.NVEs, q*l.Span + r
}

// Port is NVE j's tenant port p (0 <= p < PortsPerNVE).
func (l Layout) Port(j, p int) model.Port {
	vn, idx := l.vnOf(j, p)
	return model.Port{
		Name: fmt.Sprintf("p%04d-%02d", j, p), VN: VNName(vn), NVE: NVEName(j),
		Interface: fmt.Sprintf("t%04dp%02d", j, p),
		MAC:       fmt.Sprintf("02:f1:%02x:%02x:00:%02x", j>>8, j&0xff, p),
		IPs:       []string{fmt.Sprintf("10.%d.%d.%d", vn>>8, vn&0xff, idx+1)},
	}
}

// AttachPort is the k-th port the attach phase adds on NVE j, into the
// first VN NVE j is in.
func (l Layout) AttachPort(j, k int) model.Port {
	vn := j // NVE j is the first NVE of VN j
	return model.Port{
		Name: fmt.Sprintf("a%04d-%02d", j, k), VN: VNName(vn), NVE: NVEName(j),
		Interface: fmt.Sprintf("a%04dp%02d", j, k),
		MAC:       fmt.Sprintf("02:f2:%02x:%02x:00:%02x", j>>8, j&0xff, k),
		IPs:       []string{fmt.Sprintf("10.%d.%d.%d", vn>>8, vn&0xff, 100+k)},
	}
}

// Remotes are the NVEs that share a VN with NVE j.
func (l Layout) Remotes(j int) []int {
	var out []int
	for d := -(l.Span - 1); d <= l.Span-1; d++ {
		if r := (j + d + l.NVEs) % l.NVEs; d != 0 && r != j && !contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// SwitchPorts are the ports an openflow switch of NVE j has from the
// start: its tenant ports, the spare ports for attaches, and one VXLAN
// tunnel port per remote NVE, named by nva's convention.
func (l Layout) SwitchPorts(j int) []Port {
	var out []Port
	for p := 0; p < l.PortsPerNVE; p++ {
		out = append(out, Port{No: uint32(p + 1), Name: l.Port(j, p).Interface})
	}
	for k := 0; k < l.SparePorts; k++ {
		out = append(out, Port{No: uint32(1000 + k), Name: l.AttachPort(j, k).Interface})
	}
	for i, r := range l.Remotes(j) {
		out = append(out, Port{No: uint32(2000 + i), Name: compiler.RemoteTunnelPortName(model.EncapVXLAN, UnderlayIP(r))})
	}
	return out
}

// BatchItems are the creates of the whole domain, VNs and NVEs first,
// in batches of at most perBatch items; ovsdb gives NVE j's OVSDB
// endpoint.
func (l Layout) BatchItems(ovsdb func(j int) string, perBatch int) ([][]wire.BatchItem, error) {
	if perBatch <= 0 || perBatch > wire.MaxBatchItems {
		perBatch = wire.MaxBatchItems
	}
	var all []wire.BatchItem
	add := func(kind, name string, obj any) error {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		all = append(all, wire.BatchItem{Op: wire.OpCreate, Kind: kind, Name: name, Object: b})
		return nil
	}
	for v := 0; v < l.NVEs; v++ {
		vn := l.VN(v)
		if err := add(wire.KindVN, vn.Name, vn); err != nil {
			return nil, err
		}
	}
	for j := 0; j < l.NVEs; j++ {
		n := l.NVE(j, ovsdb(j))
		if err := add(wire.KindNVE, n.Name, n); err != nil {
			return nil, err
		}
	}
	for j := 0; j < l.NVEs; j++ {
		for p := 0; p < l.PortsPerNVE; p++ {
			pt := l.Port(j, p)
			if err := add(wire.KindPort, pt.Name, pt); err != nil {
				return nil, err
			}
		}
	}
	var out [][]wire.BatchItem
	for len(all) > 0 {
		n := min(perBatch, len(all))
		out = append(out, all[:n])
		all = all[n:]
	}
	return out, nil
}
