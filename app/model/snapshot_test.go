package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
)

// randomDomain builds a domain with the awkward cases a snapshot may hold
// besides the store's: ports of VNs and NVEs that do not exist, MACs and
// IPs shared within a VN, invalid MACs and IPs, IPv4-mapped IPv6, NVEs
// sharing or lacking a datapath ID. Some ports are parsed (as the store
// does), some not, some parsed and then edited.
func randomDomain(r *rand.Rand, nVN, nNVE, nPort int) (map[string]*VN, map[string]*NVE, map[string]*Port) {
	vns, nves, ports := map[string]*VN{}, map[string]*NVE{}, map[string]*Port{}
	for i := 0; i < nVN; i++ {
		if r.Intn(10) > 0 {
			n := fmt.Sprintf("vn%d", i)
			vns[n] = &VN{Name: n, VNI: uint32(i / 2)} // VNI 0 and shared VNIs too
		}
	}
	for i := 0; i < nNVE; i++ {
		if r.Intn(10) > 0 {
			n := fmt.Sprintf("hv%d", i)
			nves[n] = &NVE{Name: n, DatapathID: FormatDatapathID(uint64(r.Intn(nNVE + 1)))}
		}
	}
	macs := []string{"02:00:00:00:00:01", "02-00-00-00-00-02", "02:00:00:00:00:03", "not-a-mac", "02:00:00:00:00:00:00:04", ""}
	ips := []string{"10.0.0.1", "10.0.0.2", "::ffff:10.0.0.2", "2001:db8::1", "fe80::1", "bogus", "10.0.0.3"}
	for i := 0; i < nPort; i++ {
		p := &Port{
			Name:      fmt.Sprintf("p%d", r.Intn(nPort*2)),
			VN:        fmt.Sprintf("vn%d", r.Intn(nVN+1)),
			NVE:       fmt.Sprintf("hv%d", r.Intn(nNVE+1)),
			Interface: fmt.Sprintf("if%d", r.Intn(4)),
			MAC:       macs[r.Intn(len(macs))],
			Revision:  uint64(r.Intn(100)),
		}
		for k := r.Intn(3); k > 0; k-- {
			p.IPs = append(p.IPs, ips[r.Intn(len(ips))])
		}
		switch r.Intn(4) {
		case 0: // never parsed
		case 1: // parsed, then a copy edited
			p.Parse()
			c := *p
			c.MAC = macs[r.Intn(len(macs))]
			if len(c.IPs) > 0 {
				c.IPs = slices.Clone(c.IPs)
				c.IPs[0] = ips[r.Intn(len(ips))]
			}
			p = &c
		default:
			p.Parse()
		}
		ports[p.Name] = p
	}
	return vns, nves, ports
}

// The brute-force answers: a scan of every object, as the snapshot's
// helpers answered before they had an index.

func scanPorts(s *Snapshot, keep func(*Port) bool) []*Port {
	var out []*Port
	for _, p := range s.Ports.All() {
		if keep(p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func scanSet(s *Snapshot, key func(*Port) (string, bool)) []string {
	set := map[string]bool{}
	for _, p := range s.Ports.All() {
		if k, ok := key(p); ok {
			set[k] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func scanPeers(s *Snapshot, nve string) []Peer {
	var out []Peer
	for _, other := range scanSet(s, func(p *Port) (string, bool) { return p.NVE, p.NVE != nve }) {
		shared := scanSet(s, func(p *Port) (string, bool) {
			if p.NVE != other {
				return "", false
			}
			for _, q := range s.Ports.All() {
				if q.NVE == nve && q.VN == p.VN {
					return p.VN, true
				}
			}
			return "", false
		})
		if len(shared) > 0 {
			out = append(out, Peer{NVE: other, VNs: shared})
		}
	}
	return out
}

func parseMACText(s string) ([6]byte, bool) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return [6]byte{}, false
	}
	return [6]byte(m), true
}

func parseIPsText(ips []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func scanByMAC(s *Snapshot, vn string, mac [6]byte) *Port {
	for _, p := range scanPorts(s, func(p *Port) bool { return p.VN == vn }) {
		if m, ok := parseMACText(p.MAC); ok && m == mac {
			return p
		}
	}
	return nil
}

func scanByIP(s *Snapshot, vn string, ip netip.Addr) *Port {
	for _, p := range scanPorts(s, func(p *Port) bool { return p.VN == vn }) {
		if slices.Contains(parseIPsText(p.IPs), ip.Unmap()) {
			return p
		}
	}
	return nil
}

// scanShared reports whether more than one port of VN vn has MAC mac
// (ip invalid) or binds ip (mac ignored).
func scanShared(s *Snapshot, vn string, mac [6]byte, ip netip.Addr) bool {
	n := 0
	for _, p := range scanPorts(s, func(p *Port) bool { return p.VN == vn }) {
		if ip.IsValid() {
			if slices.Contains(parseIPsText(p.IPs), ip.Unmap()) {
				n++
			}
		} else if m, ok := parseMACText(p.MAC); ok && m == mac {
			n++
		}
	}
	return n > 1
}

func scanByDPID(s *Snapshot, dpid uint64) *NVE {
	var best *NVE
	for _, n := range s.NVEs {
		if dpid != 0 && n.DPID() == dpid && (best == nil || n.Name < best.Name) {
			best = n
		}
	}
	return best
}

func scanByVNI(s *Snapshot, vni uint32) *VN {
	var best *VN
	for _, v := range s.VNs {
		if vni != 0 && v.VNI == vni && (best == nil || v.Name < best.Name) {
			best = v
		}
	}
	return best
}

// same compares slices, nil and empty alike.
func same[T any](a, b []T) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }

// TestSnapshotIndexMatchesScan checks every answer of the index against a
// scan of the objects, on random domains from a fixed list of seeds.
func TestSnapshotIndexMatchesScan(t *testing.T) {
	seeds := []int64{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597}
	for _, seed := range seeds {
		r := rand.New(rand.NewSource(seed))
		nVN, nNVE := 1+r.Intn(8), 1+r.Intn(8)
		vns, nves, ports := randomDomain(r, nVN, nNVE, r.Intn(60))
		var s *Snapshot
		if seed%2 == 0 {
			s = NewSnapshot(uint64(seed), vns, nves, ports)
		} else { // a literal: the index is built by the first query
			s = &Snapshot{Revision: uint64(seed), VNs: vns, NVEs: nves, Ports: TableOf(ports)}
		}
		checkIndex(t, fmt.Sprintf("seed %d", seed), s, nVN, nNVE)
		fail := func(what string, got, want any) {
			t.Helper()
			t.Fatalf("seed %d: %s = %v, want %v", seed, what, got, want)
		}
		for _, p := range ports {
			mac, ok := p.MACAddr()
			wmac, wok := parseMACText(p.MAC)
			if mac != wmac || ok != wok {
				fail("MACAddr of "+p.Name, mac, wmac)
			}
			if got, want := p.Addrs(), parseIPsText(p.IPs); !same(got, want) {
				fail("Addrs of "+p.Name, got, want)
			}
		}
	}
}

// checkIndex checks every answer of s's index against a scan of its
// objects; names run one past the generated ones (vn0..vn<nVN>, hv0..).
func checkIndex(t *testing.T, label string, s *Snapshot, nVN, nNVE int) {
	t.Helper()
	vns, nves := s.VNs, s.NVEs
	fail := func(what string, got, want any) {
		t.Helper()
		t.Fatalf("%s: %s = %v, want %v", label, what, got, want)
	}
	if got, want := s.SortedVNs(), sortedValues(maps.All(vns), len(vns), func(v *VN) string { return v.Name }); !same(got, want) {
		fail("SortedVNs", got, want)
	}
	if got, want := s.SortedNVEs(), sortedValues(maps.All(nves), len(nves), func(n *NVE) string { return n.Name }); !same(got, want) {
		fail("SortedNVEs", got, want)
	}
	if got, want := s.SortedPorts(), scanPorts(s, func(*Port) bool { return true }); !same(got, want) {
		fail("SortedPorts", got, want)
	}
	// One name past the generated ones, and one never generated.
	for i := 0; i <= nVN+1; i++ {
		vn := fmt.Sprintf("vn%d", i)
		if got, want := s.PortsIn(vn), scanPorts(s, func(p *Port) bool { return p.VN == vn }); !same(got, want) {
			fail("PortsIn("+vn+")", got, want)
		}
		if got, want := s.NVEsHosting(vn), scanSet(s, func(p *Port) (string, bool) { return p.NVE, p.VN == vn }); !same(got, want) {
			fail("NVEsHosting("+vn+")", got, want)
		}
		for _, m := range []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:09"} {
			mac, _ := parseMACText(m)
			if got, want := s.PortByMAC(vn, mac), scanByMAC(s, vn, mac); got != want {
				fail(fmt.Sprintf("PortByMAC(%s, %s)", vn, m), got, want)
			}
			if got, want := s.SharedMAC(vn, mac), scanShared(s, vn, mac, netip.Addr{}); got != want {
				fail(fmt.Sprintf("SharedMAC(%s, %s)", vn, m), got, want)
			}
		}
		for _, a := range []string{"10.0.0.1", "10.0.0.2", "::ffff:10.0.0.1", "2001:db8::1", "fe80::1", "10.0.0.3", "10.9.9.9"} {
			ip := netip.MustParseAddr(a)
			if got, want := s.PortByIP(vn, ip), scanByIP(s, vn, ip); got != want {
				fail(fmt.Sprintf("PortByIP(%s, %s)", vn, a), got, want)
			}
			if got, want := s.SharedIP(vn, ip), scanShared(s, vn, [6]byte{}, ip); got != want {
				fail(fmt.Sprintf("SharedIP(%s, %s)", vn, a), got, want)
			}
		}
	}
	for i := 0; i <= nNVE+1; i++ {
		nve := fmt.Sprintf("hv%d", i)
		if got, want := s.PortsOn(nve), scanPorts(s, func(p *Port) bool { return p.NVE == nve }); !same(got, want) {
			fail("PortsOn("+nve+")", got, want)
		}
		if got, want := s.VNsOn(nve), scanSet(s, func(p *Port) (string, bool) { return p.VN, p.NVE == nve }); !same(got, want) {
			fail("VNsOn("+nve+")", got, want)
		}
		if got, want := s.Peers(nve), scanPeers(s, nve); !same(got, want) {
			fail("Peers("+nve+")", got, want)
		}
		for j := 0; j <= nVN+1; j++ {
			vn := fmt.Sprintf("vn%d", j)
			if got, want := s.PortsAt(nve, vn), scanPorts(s, func(p *Port) bool { return p.NVE == nve && p.VN == vn }); !same(got, want) {
				fail("PortsAt("+nve+", "+vn+")", got, want)
			}
		}
	}
	for d := uint64(0); d <= uint64(nNVE)+1; d++ {
		if got, want := s.NVEByDPID(d), scanByDPID(s, d); got != want {
			fail(fmt.Sprintf("NVEByDPID(%d)", d), got, want)
		}
	}
	for v := uint32(0); v <= uint32(nVN)+1; v++ {
		if got, want := s.VNByVNI(v), scanByVNI(s, v); got != want {
			fail(fmt.Sprintf("VNByVNI(%d)", v), got, want)
		}
	}
}

// TestSnapshotDeriveMatchesScan: a snapshot derived from the previous one
// through random changes (ports created, moved between VNs and NVEs,
// readdressed, deleted; VNs and NVEs created, changed, deleted) answers
// every query as a scan of its objects does, at every step, and the
// snapshots it was derived from still answer as before (nothing shared was
// modified).
func TestSnapshotDeriveMatchesScan(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 4, 5, 6, 7, 8} {
		r := rand.New(rand.NewSource(seed))
		nVN, nNVE := 1+r.Intn(6), 1+r.Intn(6)
		vns, nves, ports := randomDomain(r, nVN, nNVE, 10+r.Intn(40))
		s := NewSnapshot(1, vns, nves, ports)
		var history []*Snapshot
		for step := 0; step < 40; step++ {
			vns, nves, ports = maps.Clone(s.VNs), maps.Clone(s.NVEs), s.Ports.Map()
			var ch Changed
			nv2, nn2, np2 := randomDomain(r, nVN, nNVE, 20)
			for k := r.Intn(4); k >= 0; k-- {
				switch r.Intn(10) {
				case 0: // a VN replaced or deleted
					name := fmt.Sprintf("vn%d", r.Intn(nVN+1))
					if v, ok := nv2[name]; ok && r.Intn(3) > 0 {
						vns[name] = v
					} else {
						delete(vns, name)
					}
					ch.VNs = append(ch.VNs, name)
				case 1: // an NVE replaced or deleted
					name := fmt.Sprintf("hv%d", r.Intn(nNVE+1))
					if n, ok := nn2[name]; ok && r.Intn(3) > 0 {
						nves[name] = n
					} else {
						delete(nves, name)
					}
					ch.NVEs = append(ch.NVEs, name)
				case 2, 3: // a port deleted
					for name := range ports {
						delete(ports, name)
						ch.Ports = append(ch.Ports, name)
						break
					}
				default: // a port created or replaced (maybe moved)
					for _, p := range np2 {
						if r.Intn(2) == 0 {
							if old, ok := ports[p.Name]; ok && r.Intn(2) == 0 {
								c := *old
								c.NVE, c.MAC = p.NVE, p.MAC
								p = &c
							}
						}
						ports[p.Name] = p
						ch.Ports = append(ch.Ports, p.Name, p.Name) // repeats are harmless
						break
					}
				}
			}
			if r.Intn(5) == 0 { // an unchanged name listed
				for name := range ports {
					ch.Ports = append(ch.Ports, name)
					break
				}
			}
			history = append(history, s)
			s = s.Derive(uint64(step+2), vns, nves, ports, ch)
			checkIndex(t, fmt.Sprintf("seed %d step %d", seed, step), s, nVN, nNVE)
		}
		for i, h := range history {
			checkIndex(t, fmt.Sprintf("seed %d: snapshot %d after deriving from it", seed, i), h, nVN, nNVE)
		}
	}
}

// TestSnapshotDeriveEditsAddresses: in VNs whose ports mostly have
// addresses of their own (a few collide, a few are invalid), a derived
// snapshot answers every query as a scan does, and most single-port
// changes edit the VN's previous entries (its NVE list is shared with the
// previous snapshot's) instead of rebuilding them.
func TestSnapshotDeriveEditsAddresses(t *testing.T) {
	edited := 0
	for _, seed := range []int64{1, 2, 3} {
		r := rand.New(rand.NewSource(seed))
		const nVN, nNVE = 3, 4
		port := func() *Port {
			i := r.Intn(400)
			p := &Port{Name: fmt.Sprintf("p%d", i), VN: fmt.Sprintf("vn%d", r.Intn(nVN)), NVE: fmt.Sprintf("hv%d", r.Intn(nNVE)),
				MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), IPs: []string{fmt.Sprintf("10.0.%d.%d", i>>8, i&0xff)}}
			switch r.Intn(20) {
			case 0: // a MAC another port may have
				p.MAC = fmt.Sprintf("02:00:00:00:00:%02x", r.Intn(4))
			case 1: // an address another port may have, and one it repeats
				p.IPs = []string{fmt.Sprintf("10.0.0.%d", r.Intn(4)), p.IPs[0], p.IPs[0]}
			case 2:
				p.MAC, p.IPs = "not-a-mac", append(p.IPs, "bogus")
			}
			if r.Intn(2) == 0 {
				p.Parse()
			}
			return p
		}
		vns, nves, ports := map[string]*VN{}, map[string]*NVE{}, map[string]*Port{}
		for i := 0; i < nVN; i++ {
			vns[fmt.Sprintf("vn%d", i)] = &VN{Name: fmt.Sprintf("vn%d", i), VNI: uint32(i + 1)}
		}
		for i := 0; i < nNVE; i++ {
			nves[fmt.Sprintf("hv%d", i)] = &NVE{Name: fmt.Sprintf("hv%d", i)}
		}
		for i := 0; i < 60; i++ {
			p := port()
			ports[p.Name] = p
		}
		s := NewSnapshot(1, vns, nves, ports)
		for step := 0; step < 150; step++ {
			ports = s.Ports.Map()
			var ch Changed
			for k := r.Intn(3); k >= 0; k-- {
				if r.Intn(4) == 0 {
					for name := range ports {
						delete(ports, name)
						ch.Ports = append(ch.Ports, name)
						break
					}
					continue
				}
				p := port()
				if old, ok := ports[p.Name]; ok && r.Intn(2) == 0 { // moved or readdressed
					c := *old
					c.NVE = p.NVE
					if r.Intn(2) == 0 {
						c.IPs = []string{fmt.Sprintf("10.1.%d.%d", step, k)}
					}
					p = &c
				}
				ports[p.Name] = p
				ch.Ports = append(ch.Ports, p.Name)
			}
			prev := s
			s = s.Derive(uint64(step+2), vns, nves, ports, ch)
			checkIndex(t, fmt.Sprintf("seed %d step %d", seed, step), s, nVN, nNVE)
			for vn := range vns {
				a, b := prev.index().nvesOf.Get(vn), s.index().nvesOf.Get(vn)
				if len(a) > 0 && len(b) > 0 && &a[0] == &b[0] && !slices.Equal(prev.PortsIn(vn), s.PortsIn(vn)) {
					edited++
				}
			}
		}
	}
	if edited < 100 {
		t.Errorf("%d VN changes edited the previous entries, want at least 100", edited)
	}
}

// TestSnapshotIndexOnce queries a literal snapshot from many goroutines at
// once: the index is built once (run with -race).
func TestSnapshotIndexOnce(t *testing.T) {
	vns, nves, ports := randomDomain(rand.New(rand.NewSource(7)), 5, 5, 50)
	s := &Snapshot{VNs: vns, NVEs: nves, Ports: TableOf(ports)}
	var wg sync.WaitGroup
	got := make([]*index, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.PortsIn("vn1")
			got[i] = s.index()
		}()
	}
	wg.Wait()
	for _, ix := range got {
		if ix != got[0] {
			t.Fatal("the index was built more than once")
		}
	}
}

// TestSnapshotSlicesClipped: callers appending to the same answer each get
// their own array, so they cannot write over each other's elements.
func TestSnapshotSlicesClipped(t *testing.T) {
	vns, nves, ports := randomDomain(rand.New(rand.NewSource(3)), 4, 4, 80)
	s := NewSnapshot(1, vns, nves, ports)
	x, y := &Port{Name: "x"}, &Port{Name: "y"}
	for i := 0; i < 5; i++ {
		vn, nve := fmt.Sprintf("vn%d", i), fmt.Sprintf("hv%d", i)
		for what, got := range map[string][]*Port{"PortsIn": s.PortsIn(vn), "PortsOn": s.PortsOn(nve), "PortsAt": s.PortsAt(nve, vn), "SortedPorts": s.SortedPorts()} {
			a, b := append(got, x), append(got, y)
			if a[len(got)] != x || b[len(got)] != y {
				t.Fatalf("%s: two appends to one answer share an array", what)
			}
		}
		for what, got := range map[string][]string{"VNsOn": s.VNsOn(nve), "NVEsHosting": s.NVEsHosting(vn)} {
			a, b := append(got, "x"), append(got, "y")
			if a[len(got)] != "x" || b[len(got)] != "y" {
				t.Fatalf("%s: two appends to one answer share an array", what)
			}
		}
	}
}

func TestPortParse(t *testing.T) {
	cases := []struct {
		mac string
		ips []string
	}{
		{"02:aa:bb:cc:dd:ee", []string{"10.0.0.1", "2001:db8::1"}},
		{"02-AA-BB-CC-DD-EE", []string{"::ffff:10.0.0.1"}},
		{"0200.5e00.0001", nil},
		{"02:00:5e:10:00:00:00:01", []string{"bad", "fe80::1%eth0"}}, // EUI-64: not an Ethernet MAC
		{"", []string{""}},
		{"zz:zz:zz:zz:zz:zz", []string{"10.0.0.256", "10.0.0.7"}},
	}
	for _, c := range cases {
		p := Port{MAC: c.mac, IPs: slices.Clone(c.ips)}
		unparsed := p
		p.Parse()
		wantMAC, wantOK := parseMACText(c.mac)
		wantIPs := parseIPsText(c.ips)
		for name, q := range map[string]*Port{"parsed": &p, "unparsed": &unparsed} {
			if m, ok := q.MACAddr(); m != wantMAC || ok != wantOK {
				t.Errorf("%s %q: MACAddr = %v %v, want %v %v", name, c.mac, m, ok, wantMAC, wantOK)
			}
			hw := q.HardwareAddr()
			if wantOK != (hw != nil) || (wantOK && [6]byte(hw) != wantMAC) {
				t.Errorf("%s %q: HardwareAddr = %v", name, c.mac, hw)
			}
			if got := q.Addrs(); !same(got, wantIPs) {
				t.Errorf("%s %v: Addrs = %v, want %v", name, c.ips, got, wantIPs)
			}
		}
		// HardwareAddr is the caller's own.
		if hw := p.HardwareAddr(); hw != nil {
			hw[0] = 0xff
			if m, _ := p.MACAddr(); m != wantMAC {
				t.Errorf("%q: writing HardwareAddr's result changed the port", c.mac)
			}
		}
	}

	// A copy edited after Parse answers for its new text, and so does the
	// original when the copy wrote into the IPs array they share.
	p := Port{MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}}
	p.Parse()
	c := p
	c.MAC = "02:00:00:00:00:02"
	c.IPs[0] = "10.0.0.2"
	for _, q := range []*Port{&p, &c} {
		if m, _ := q.MACAddr(); m != [6]byte(must(net.ParseMAC(q.MAC))) {
			t.Errorf("MAC %s: MACAddr = %v (stale parse)", q.MAC, m)
		}
		if got := q.Addrs(); !reflect.DeepEqual(got, []netip.Addr{netip.MustParseAddr("10.0.0.2")}) {
			t.Errorf("IPs %v: Addrs = %v (stale parse)", q.IPs, got)
		}
	}

	// The parsed values are not part of the port's JSON.
	q := Port{Name: "p", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}}
	before, _ := json.Marshal(q)
	q.Parse()
	after, _ := json.Marshal(q)
	if string(before) != string(after) {
		t.Errorf("JSON changed by Parse: %s, was %s", after, before)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// benchDomain is 1,000 NVEs, 1,000 VNs and 20,000 ports, each port in a
// random VN on a random NVE (about 20 ports per VN and per NVE), parsed
// as the store stores them.
func benchDomain() (map[string]*VN, map[string]*NVE, map[string]*Port) {
	r := rand.New(rand.NewSource(1))
	vns, nves, ports := map[string]*VN{}, map[string]*NVE{}, map[string]*Port{}
	for i := 0; i < 1000; i++ {
		v := fmt.Sprintf("vn%04d", i)
		vns[v] = &VN{Name: v, VNI: uint32(i + 1)}
		n := fmt.Sprintf("hv%04d", i)
		nves[n] = &NVE{Name: n, UnderlayIPs: []string{fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)}, DatapathID: FormatDatapathID(uint64(i + 1))}
	}
	for i := 0; i < 20000; i++ {
		p := &Port{Name: fmt.Sprintf("p%05d", i), VN: fmt.Sprintf("vn%04d", r.Intn(1000)), NVE: fmt.Sprintf("hv%04d", r.Intn(1000)),
			Interface: fmt.Sprintf("vm%d", i), MAC: fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16, (i>>8)&0xff, i&0xff),
			IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff)}}
		p.Parse()
		ports[p.Name] = p
	}
	return vns, nves, ports
}

// BenchmarkSnapshotIndex measures building the index of a 1,000-NVE,
// 1,000-VN, 20,000-port domain, and its queries; scan/ is what the same
// queries cost when answered by scanning the ports (before the index).
func BenchmarkSnapshotIndex(b *testing.B) {
	vns, nves, ports := benchDomain()
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewSnapshot(1, vns, nves, ports)
		}
	})
	s := NewSnapshot(1, vns, nves, ports)
	byName := s.SortedPorts() // the queries ask about every VN, NVE and port in turn
	vnNames, nveNames := make([]string, 1000), make([]string, 1000)
	for i := range vnNames {
		vnNames[i], nveNames[i] = fmt.Sprintf("vn%04d", i), fmt.Sprintf("hv%04d", i)
	}
	queries := []struct {
		name string
		f    func(i int)
	}{
		{"PortsIn", func(i int) { s.PortsIn(vnNames[i%1000]) }},
		{"PortsOn", func(i int) { s.PortsOn(nveNames[i%1000]) }},
		{"PortsAt", func(i int) { p := byName[i%len(byName)]; s.PortsAt(p.NVE, p.VN) }},
		{"NVEsHosting", func(i int) { s.NVEsHosting(vnNames[i%1000]) }},
		{"VNsOn", func(i int) { s.VNsOn(nveNames[i%1000]) }},
		{"Peers", func(i int) { s.Peers(nveNames[i%1000]) }},
		{"PortByMAC", func(i int) { p := byName[i%len(byName)]; m, _ := p.MACAddr(); s.PortByMAC(p.VN, m) }},
		{"PortByIP", func(i int) { p := byName[i%len(byName)]; s.PortByIP(p.VN, p.Addrs()[0]) }},
		{"NVEByDPID", func(i int) { s.NVEByDPID(uint64(i%1000 + 1)) }},
	}
	for _, q := range queries {
		b.Run("query/"+q.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				q.f(i)
				i++
			}
		})
	}
	b.Run("scan/PortsOn", func(b *testing.B) {
		i := 0
		for b.Loop() {
			nve := nveNames[i%1000]
			scanPorts(s, func(p *Port) bool { return p.NVE == nve })
			i++
		}
	})
	b.Run("scan/NVEsHosting", func(b *testing.B) {
		i := 0
		for b.Loop() {
			vn := vnNames[i%1000]
			scanSet(s, func(p *Port) (string, bool) { return p.NVE, p.VN == vn })
			i++
		}
	})
}

// BenchmarkDeriveOnePort measures deriving the snapshot after one port of
// a VN of M ports (over three NVEs, as in the real-OVS bench) is attached
// or detached, alternately: what every single-port write costs the store.
func BenchmarkDeriveOnePort(b *testing.B) {
	for _, m := range []int{10, 200, 1000} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			vns := map[string]*VN{"vn": {Name: "vn", VNI: 1}}
			nves := map[string]*NVE{}
			for i := 1; i <= 3; i++ {
				n := fmt.Sprintf("hv%d", i)
				nves[n] = &NVE{Name: n, UnderlayIPs: []string{fmt.Sprintf("198.18.0.%d", i)}}
			}
			ports := map[string]*Port{}
			mk := func(i int) *Port {
				p := &Port{Name: fmt.Sprintf("p%05d", i), VN: "vn", NVE: fmt.Sprintf("hv%d", i%3+1), Interface: fmt.Sprintf("vm%d", i),
					MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), IPs: []string{fmt.Sprintf("10.0.%d.%d", i>>8, i&0xff)}}
				p.Parse()
				return p
			}
			for i := 0; i < m; i++ {
				p := mk(i)
				ports[p.Name] = p
			}
			s := NewSnapshot(1, vns, nves, ports)
			s.PortsIn("vn") // the index built
			extra := mk(m)
			b.ReportAllocs()
			rev := uint64(1)
			for b.Loop() {
				rev++
				if _, ok := ports[extra.Name]; ok {
					delete(ports, extra.Name)
				} else {
					ports[extra.Name] = extra
				}
				s = s.Derive(rev, vns, nves, ports, Changed{Ports: []string{extra.Name}})
				s.PortsIn("vn")
			}
		})
	}
}
