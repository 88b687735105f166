package model

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// VLANMode is how a VAP treats VLAN tags (RFC 8014 §3.1.1).
type VLANMode string

const (
	// VLANAccess (the default, also spelled "") is the VAP (interface,
	// VLAN or untagged): the tag is removed on ingress and added on
	// egress; Port.VLAN is the VLAN.
	VLANAccess VLANMode = "access"
	// VLANPassthrough carries the tenant's own tags unchanged inside the
	// VN: frames tagged with a VLAN of Port.AllowedVLANs (and untagged
	// frames if Port.Untagged) are admitted as they are, anything else is
	// dropped.
	VLANPassthrough VLANMode = "passthrough"
)

// Passthrough reports whether the port's VAP is in passthrough mode.
func (p *Port) Passthrough() bool { return p.VLANMode == VLANPassthrough }

// defaultsVLANMode puts allowed_vlans in ascending order without
// duplicates (into a slice of its own: the caller's stays as given).
func (p *Port) defaultsVLANMode() {
	if len(p.AllowedVLANs) > 0 {
		v := slices.Clone(p.AllowedVLANs)
		slices.Sort(v)
		p.AllowedVLANs = slices.Compact(v)
	}
}

func (p *Port) validateVLANMode(fe *FieldErrors) {
	switch p.VLANMode {
	case "", VLANAccess:
		if len(p.AllowedVLANs) > 0 {
			fe.Add("allowed_vlans", "is only allowed with vlan_mode passthrough")
		}
		if p.Untagged {
			fe.Add("untagged", "is only allowed with vlan_mode passthrough (an access VAP is untagged when vlan is 0)")
		}
	case VLANPassthrough:
		if p.VLAN != 0 {
			fe.Add("vlan", "must be 0 with vlan_mode passthrough (the tenant's tags are carried; list them in allowed_vlans)")
		}
		if len(p.AllowedVLANs) == 0 && !p.Untagged {
			fe.Add("allowed_vlans", "a passthrough VAP needs at least one allowed VLAN (or untagged: true)")
		}
		for i, v := range p.AllowedVLANs {
			if v < 1 || v > 4094 {
				fe.Add(fmt.Sprintf("allowed_vlans[%d]", i), "VLAN %d must be between 1 and 4094", v)
			}
		}
	default:
		fe.Add("vlan_mode", "must be one of access, passthrough")
	}
}

// AccessLink declares an NVE (kind ovs) the tNVE of a split NVE (RFC 8014
// §4.2): its Uplink interface is cabled to port NNVEPort of NVE NNVE, the
// nNVE, which maps (access port, VLAN) to VNs and tunnels for it. nva
// allocates one VLAN per VN with ports on the tNVE from VLANPool and
// records it in VLANs; VLANs and NextVLAN are nva's (read-only: a PUT
// keeps the stored ones).
type AccessLink struct {
	NNVE     string `json:"nnve"`
	Uplink   string `json:"uplink"`
	NNVEPort string `json:"nnve_port"`
	// VLANPool is the VLANs the link may use: comma-separated VLANs and
	// ranges ("100-199,300"); "" is DefaultVLANPool.
	VLANPool string `json:"vlan_pool,omitempty"`
	// VLANs is the allocation: VN name -> VLAN on the link.
	VLANs map[string]int `json:"vlans,omitempty"`
	// NextVLAN is where the next allocation starts looking (next fit):
	// a freed VLAN is handed out again only after every other free VLAN
	// of the pool was.
	NextVLAN int `json:"next_vlan,omitempty"`
}

// DefaultVLANPool is the access-link VLAN pool when none is given: every
// usable 802.1Q VLAN except 1 (the default VLAN of most switches).
const DefaultVLANPool = "2-4094"

// Pool returns the link's pool text ("" is the default).
func (l *AccessLink) Pool() string {
	if l.VLANPool == "" {
		return DefaultVLANPool
	}
	return l.VLANPool
}

// VLANRange is an inclusive range of VLANs.
type VLANRange struct{ First, Last int }

// ParseVLANPool parses "2-4094" or "100-199,300,400-410" into ascending,
// non-overlapping ranges of VLANs 1-4094.
func ParseVLANPool(s string) ([]VLANRange, error) {
	var out []VLANRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		switch {
		case err1 != nil || err2 != nil:
			return nil, fmt.Errorf("%q is not a VLAN or VLAN range (like 100 or 100-199)", part)
		case a < 1 || b > 4094 || a > b:
			return nil, fmt.Errorf("%q must be VLANs between 1 and 4094, first <= last", part)
		}
		out = append(out, VLANRange{a, b})
	}
	slices.SortFunc(out, func(x, y VLANRange) int { return x.First - y.First })
	for i := 1; i < len(out); i++ {
		if out[i].First <= out[i-1].Last {
			return nil, fmt.Errorf("ranges %d-%d and %d-%d overlap", out[i-1].First, out[i-1].Last, out[i].First, out[i].Last)
		}
	}
	return out, nil
}

// InPool reports whether vlan is in the ranges.
func InPool(pool []VLANRange, vlan int) bool {
	for _, r := range pool {
		if vlan >= r.First && vlan <= r.Last {
			return true
		}
	}
	return false
}

// NextFree returns the first VLAN of the pool at or after from (wrapping
// around once) that used does not hold.
func NextFree(pool []VLANRange, from int, used func(int) bool) (int, bool) {
	if len(pool) == 0 {
		return 0, false
	}
	for pass := 0; pass < 2; pass++ {
		for _, r := range pool {
			lo := r.First
			if pass == 0 {
				if r.Last < from {
					continue
				}
				lo = max(lo, from)
			}
			for v := lo; v <= r.Last; v++ {
				if pass == 1 && v >= from {
					return 0, false
				}
				if !used(v) {
					return v, true
				}
			}
		}
	}
	return 0, false
}

func (n *NVE) defaultsAccessLink() {
	l := n.AccessLink
	if l == nil {
		return
	}
	c := *l // the caller's declaration stays as given
	c.VLANPool = strings.ReplaceAll(c.VLANPool, " ", "")
	if c.VLANPool == DefaultVLANPool {
		c.VLANPool = ""
	}
	if len(c.VLANs) == 0 {
		c.VLANs = nil
	} else {
		c.VLANs = maps.Clone(c.VLANs)
	}
	n.AccessLink = &c
}

func (n *NVE) validateAccessLink(fe *FieldErrors) {
	l := n.AccessLink
	if l == nil {
		return
	}
	if n.Kind != NVEOVS {
		fe.Add("access_link", "only an NVE of kind ovs (a hypervisor) can be a tNVE")
	}
	switch {
	case l.NNVE == "":
		fe.Add("access_link.nnve", "is required (the NVE the access link lands on)")
	case !ValidName(l.NNVE):
		fe.Add("access_link.nnve", "%q is not an NVE name", l.NNVE)
	case l.NNVE == n.Name:
		fe.Add("access_link.nnve", "an NVE cannot be its own nNVE")
	}
	if !ifaceRE.MatchString(l.Uplink) {
		fe.Add("access_link.uplink", "must be an interface name of this NVE (1-15 characters)")
	}
	if !ofPortNameRE.MatchString(l.NNVEPort) {
		fe.Add("access_link.nnve_port", "must be the nNVE's port name (1-15 printable ASCII characters, no spaces)")
	}
	pool, err := ParseVLANPool(l.Pool())
	if err != nil {
		fe.Add("access_link.vlan_pool", "%v", err)
	}
	for _, vn := range slices.Sorted(maps.Keys(l.VLANs)) {
		if v := l.VLANs[vn]; v < 1 || v > 4094 || (err == nil && !InPool(pool, v)) {
			fe.Add("access_link.vlans."+vn, "VLAN %d is not in the pool %s", v, l.Pool())
		}
	}
}

// AccessVLAN returns the VLAN allocated to VN vn on the NVE's access link
// (0: none, or not a tNVE).
func (n *NVE) AccessVLAN(vn string) int {
	if n == nil || n.AccessLink == nil {
		return 0
	}
	return n.AccessLink.VLANs[vn]
}

// IsTNVE reports whether the NVE is a split NVE's tNVE.
func (n *NVE) IsTNVE() bool { return n != nil && n.AccessLink != nil }

// splitIndex is who is whose nNVE in a snapshot.
type splitIndex struct {
	tnves map[string][]*NVE // nNVE name -> its tNVEs, by name
}

func (s *Snapshot) splitIx() *splitIndex {
	s.splitOnce.Do(func() {
		x := &splitIndex{}
		for _, n := range s.SortedNVEs() {
			if l := n.AccessLink; l != nil {
				if x.tnves == nil {
					x.tnves = map[string][]*NVE{}
				}
				x.tnves[l.NNVE] = append(x.tnves[l.NNVE], n)
			}
		}
		s.split = x
	})
	return s.split
}

// TNVEsOf returns the tNVEs whose access links land on NVE nnve, by name.
func (s *Snapshot) TNVEsOf(nnve string) []*NVE { return s.splitIx().tnves[nnve] }

// NNVEOf returns the name of NVE nve's nNVE ("" if nve is not a tNVE).
func (s *Snapshot) NNVEOf(nve string) string {
	if n := s.NVEs[nve]; n != nil && n.AccessLink != nil {
		return n.AccessLink.NNVE
	}
	return ""
}

// hasSplit reports whether any NVE of the snapshot is a tNVE.
func (s *Snapshot) hasSplit() bool { return len(s.splitIx().tnves) > 0 }

// splitVNsOn adds to an nNVE's own VNs those of its tNVEs.
func (s *Snapshot) splitVNsOn(nve string, own []string) []string {
	tn := s.splitIx().tnves[nve]
	if len(tn) == 0 {
		return own
	}
	out := slices.Clone(own)
	for _, t := range tn {
		out = append(out, s.index().vnsOn.Get(t.Name)...)
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// splitNVEsHosting adds to a VN's NVEs the nNVEs of its tNVEs.
func (s *Snapshot) splitNVEsHosting(nves []string) []string {
	var add []string
	for _, n := range nves {
		if nn := s.NNVEOf(n); nn != "" {
			add = append(add, nn)
		}
	}
	if len(add) == 0 {
		return nves
	}
	out := append(slices.Clone(nves), add...)
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}
