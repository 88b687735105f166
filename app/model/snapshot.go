package model

import "sort"

// Snapshot is an immutable, self-consistent view of the whole domain at one
// store revision. It is the input of the flow compiler and of the topology
// view; callers must not modify what it holds.
type Snapshot struct {
	Revision uint64
	VNs      map[string]*VN
	NVEs     map[string]*NVE
	Ports    map[string]*Port
}

// SortedVNs returns the VNs ordered by name.
func (s *Snapshot) SortedVNs() []*VN {
	out := make([]*VN, 0, len(s.VNs))
	for _, v := range s.VNs {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SortedNVEs returns the NVEs ordered by name.
func (s *Snapshot) SortedNVEs() []*NVE {
	out := make([]*NVE, 0, len(s.NVEs))
	for _, n := range s.NVEs {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SortedPorts returns the ports ordered by name.
func (s *Snapshot) SortedPorts() []*Port {
	out := make([]*Port, 0, len(s.Ports))
	for _, p := range s.Ports {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PortsOn returns the ports attached on NVE nve, ordered by name.
func (s *Snapshot) PortsOn(nve string) []*Port {
	var out []*Port
	for _, p := range s.SortedPorts() {
		if p.NVE == nve {
			out = append(out, p)
		}
	}
	return out
}

// PortsIn returns the ports of VN vn, ordered by name.
func (s *Snapshot) PortsIn(vn string) []*Port {
	var out []*Port
	for _, p := range s.SortedPorts() {
		if p.VN == vn {
			out = append(out, p)
		}
	}
	return out
}

// VNsOn returns the names of the VNs NVE nve hosts (has a port of), sorted.
func (s *Snapshot) VNsOn(nve string) []string {
	set := map[string]bool{}
	for _, p := range s.Ports {
		if p.NVE == nve {
			set[p.VN] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// NVEsHosting returns the names of the NVEs that have a port in VN vn, sorted.
func (s *Snapshot) NVEsHosting(vn string) []string {
	set := map[string]bool{}
	for _, p := range s.Ports {
		if p.VN == vn {
			set[p.NVE] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
