package compiler

import "github.com/nva-project/nva/app/model"

// Hardware VTEPs (model.NVEVTEP) get no flows: nva programs their
// hardware_vtep tables (ovsdb/vtep). To the other NVEs a VTEP is a remote
// NVE of each VN it has VAPs in, like any other (findRemotes: tunnels to
// its tunnel IP, a bucket in the VN's BUM replication group), and the
// bare-metal hosts behind it are learned endpoints at it (segment.go).
// Until a host has spoken it is unknown, so a VN with a MAC-less VTEP VAP
// floods unknown unicast like a VN with a segment port.

// isVTEPVAP reports whether p is a VAP on a VTEP without a MAC of its own.
func isVTEPVAP(s *model.Snapshot, p *model.Port) bool {
	if p.MAC != "" {
		return false
	}
	n := s.NVEs[p.NVE]
	return n != nil && n.Kind == model.NVEVTEP
}
