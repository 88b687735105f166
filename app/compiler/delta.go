package compiler

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// completeDelta is complete for a VN whose ctx (ctxFingerprint) is the
// same as at the last compile, which completed it from the VN's ports
// prev (PortsIn then) into one part slice per port with a MAC of its own
// (parts, in port name order) and gave no port warnings. Only ports that
// changed (added, removed, or a new revision) and the ports their change
// can affect are resolved again:
//   - a port's MAC ownership depends only on the VN's ports with the
//     same MAC (the first by name owns it; a pair shares it);
//   - the addresses a port answers for depend only on the VN's ports
//     binding the same addresses, and on whether those own their MAC.
//
// So a port is resolved again when it changed (samePort), when its VAP
// here changed (vapSig), when its MAC is one a changed port had or has,
// or when it binds an address that a changed port, or a port of such a
// MAC, binds or bound (found through the snapshot's index unless more
// than one port has the MAC or address). Every other port keeps its
// part: the part's fingerprint is its last slice's, and the compile
// reuses that slice (portPart.clean). What a change to one port costs is
// then a pass over the VN's ports and local VAPs comparing pointers and
// hashes, not their resolution.
//
// It reports false, leaving st for complete, when the change is large
// (more than a few ports) or when it would warn, involves a dual-homed
// pair, or needs the VN's ports looked through for an address's first
// binder (partCtx.allowBinder): complete then does it all, as before.
func (v *nveView) completeDelta(st *vnView, prev []*model.Port, prevLocal []vapSig, parts []*Slice) bool {
	s := v.in.Snapshot
	cur := s.PortsIn(st.name)
	limit := 8 + len(cur)/16 // changed ports beyond which complete is as cheap
	dirty := make([]bool, len(cur))
	// Ports whose VAP here came, went or changed (another OpenFlow port,
	// VLAN or mode, addresses bound or not): both lists by port name.
	indexOf := func(name string) (int, bool) {
		return slices.BinarySearchFunc(cur, name, func(p *model.Port, n string) int { return strings.Compare(p.Name, n) })
	}
	mark := func(name string) {
		if j, ok := indexOf(name); ok {
			dirty[j] = true
		}
	}
	for i, j := 0, 0; i < len(prevLocal) || j < len(st.local); {
		switch {
		case j == len(st.local) || i < len(prevLocal) && prevLocal[i].port.Name < st.local[j].port.Name:
			mark(prevLocal[i].port.Name)
			i++
		case i == len(prevLocal) || st.local[j].port.Name < prevLocal[i].port.Name:
			mark(st.local[j].port.Name)
			j++
		default:
			if !samePort(prevLocal[i].port, st.local[j].port) || prevLocal[i].h != signVAP(&st.local[j]) {
				mark(st.local[j].port.Name)
			}
			i++
			j++
		}
	}
	var macs [][6]byte
	var addrs []netip.Addr
	changed := 0
	note := func(p *model.Port) bool {
		changed++
		if changed > limit || p.Pair != "" {
			return false
		}
		if mac, ok := p.MACAddr(); ok {
			if !slices.Contains(macs, mac) {
				macs = append(macs, mac)
			}
		} else if p.MAC != "" {
			return false // an invalid MAC: complete warns about it
		}
		addrs = append(addrs, p.Addrs()...)
		return true
	}
	// The ports that changed: both lists are in name order. (A port
	// marked for its VAP alone keeps its MAC and addresses.)
	for i, j := 0, 0; i < len(prev) || j < len(cur); {
		switch {
		case j == len(cur) || i < len(prev) && prev[i].Name < cur[j].Name:
			if !note(prev[i]) {
				return false
			}
			i++
		case i == len(prev) || cur[j].Name < prev[i].Name:
			dirty[j] = true
			if !note(cur[j]) {
				return false
			}
			j++
		default:
			if !samePort(prev[i], cur[j]) {
				dirty[j] = true
				if !note(prev[i]) || !note(cur[j]) {
					return false
				}
			}
			i++
			j++
		}
	}
	// Ports sharing a MAC with a changed port may gain or lose its
	// ownership, and with it the addresses they answer for; ports
	// binding an address of either may answer for it or stop. They are
	// found through the snapshot's index when one port at most has the
	// MAC (the address), the usual case, else by a pass over the VN's
	// ports.
	at := func(o *model.Port) int {
		if j, ok := indexOf(o.Name); ok && cur[j] == o {
			return j
		}
		return -1
	}
	walk := false
	for _, m := range macs {
		if s.SharedMAC(st.name, m) {
			walk = true
			break
		}
		if o := s.PortByMAC(st.name, m); o != nil {
			if j := at(o); j >= 0 && !dirty[j] {
				if o.Pair != "" {
					return false
				}
				dirty[j] = true
				addrs = append(addrs, o.Addrs()...)
			}
		}
	}
	if walk {
		for j, p := range cur {
			if dirty[j] {
				continue
			}
			if mac, ok := p.MACAddr(); ok && slices.Contains(macs, mac) {
				if p.Pair != "" {
					return false
				}
				dirty[j] = true
				addrs = append(addrs, p.Addrs()...)
			}
		}
	}
	walk = false
	for _, a := range addrs {
		if s.SharedIP(st.name, a) {
			walk = true
			break
		}
		if o := s.PortByIP(st.name, a); o != nil {
			if j := at(o); j >= 0 {
				dirty[j] = true
			}
		}
	}
	if walk {
		for j, p := range cur {
			if dirty[j] {
				continue
			}
			for _, a := range p.Addrs() {
				if slices.Contains(addrs, a) {
					dirty[j] = true
					break
				}
			}
		}
	}
	// The VN's ports with a MAC of their own: a clean port is one if it
	// had a part; a dirty one is resolved as ownPorts does.
	ports := make([]*model.Port, 0, len(parts)+changed)
	var last []*Slice // parallel to ports: the part's last slice (nil: dirty)
	k := 0
	for j, p := range cur {
		for k < len(parts) && partPort(st.name, parts[k]) < p.Name {
			k++
		}
		had := k < len(parts) && partPort(st.name, parts[k]) == p.Name
		if !dirty[j] {
			if had {
				ports = append(ports, p)
				last = append(last, parts[k])
			}
			continue
		}
		if p.IsSegment() {
			continue
		}
		_, ok := p.MACAddr()
		if !ok && p.MAC == "" {
			continue
		}
		if !ok {
			return false
		}
		if _, own := ownMAC(s, st.name, p); !own {
			return false // complete warns about the duplicated MAC
		}
		ports = append(ports, p)
		last = append(last, nil)
	}
	st.ports = ports
	st.parts = v.partsFor(len(ports))
	pc := v.newPartCtx(st, false)
	for i, p := range ports {
		pp := &st.parts[i]
		if last[i] != nil {
			pp.port, pp.fp, pp.clean = p, last[i].Fingerprint, true
			continue
		}
		if !v.fillPart(st, pp, p, pc) {
			return false
		}
	}
	return true
}

// samePort reports whether a and b (of one name) are one port: the same
// object, the same revision (the store gives every change a new one), or
// without revisions (built by hand) the same in everything fnv64.port
// hashes and the pair.
func samePort(a, b *model.Port) bool {
	switch {
	case a == b:
		return true
	case a.Revision != 0 || b.Revision != 0:
		return a.Revision == b.Revision
	}
	return a.VN == b.VN && a.NVE == b.NVE && a.Interface == b.Interface && a.MAC == b.MAC &&
		slices.Equal(a.IPs, b.IPs) && a.VLAN == b.VLAN && a.VLANMode == b.VLANMode && a.Untagged == b.Untagged &&
		slices.Equal(a.AllowedVLANs, b.AllowedVLANs) && a.Pair == b.Pair && a.Kind == b.Kind
}

// samePorts reports whether two lists of a VN's ports (by name) are the
// same ports (samePort): usually the very same list, the snapshots
// sharing it.
func samePorts(a, b []*model.Port) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i].Name != b[i].Name || !samePort(a[i], b[i]) {
			return false
		}
	}
	return true
}

// vapSig is what the memo keeps of a local VAP: its port and a hash of
// how it is attached (signVAP).
type vapSig struct {
	port *model.Port
	h    uint64
}

// signVAP hashes how a VAP is attached: OpenFlow port, VLAN, mode, MAC,
// bound addresses, segment or not.
func signVAP(a *vap) uint64 {
	h := newFNV()
	h.u64(uint64(a.ofp))
	h.u64(uint64(a.vlan))
	h.vapMode(*a)
	h.bool(a.segment)
	var mac uint64
	for _, c := range a.mac {
		mac = mac<<8 | uint64(c)
	}
	h.u64(uint64(len(a.mac)))
	h.u64(mac)
	h.u64(uint64(len(a.addrs)))
	for _, ip := range a.addrs {
		h.addr(ip)
	}
	return uint64(h)
}

// signVAPs signs a VN's local VAPs for the memo.
func signVAPs(local []vap) []vapSig {
	if len(local) == 0 {
		return nil
	}
	out := make([]vapSig, len(local))
	for i := range local {
		out[i] = vapSig{port: local[i].port, h: signVAP(&local[i])}
	}
	return out
}

// partPort is the port of one of VN vn's port part slices.
func partPort(vn string, s *Slice) string {
	if len(s.Key) <= len(vn) {
		return ""
	}
	return s.Key[len(vn)+1:]
}
