package model

// NVEVTEP is a hardware VTEP (a top-of-rack switch that encapsulates in
// VXLAN) managed over OVSDB with the hardware_vtep schema (RFC 8014 §5.2).
// nva programs it with tables, not flows: a Logical_Switch per VN, the
// (physical port, VLAN) bindings of its VAPs, and the remote MACs and
// replication lists of the VN's other NVEs. Its VAPs are ports whose
// interface is the physical port's name and whose vlan is the tag on it;
// their MAC is optional (a bare-metal host behind the VTEP is learned).
const NVEVTEP NVEKind = "vtep"

// validateVTEP adds a vtep NVE's rules: an OVSDB endpoint (the VTEP's
// hardware_vtep database), exactly one underlay IP (its VXLAN tunnel IP),
// and none of the OpenFlow bridge settings.
func (n *NVE) validateVTEP(fe *FieldErrors) {
	if n.OVSDB == "" {
		fe.Add("ovsdb", "is required for kind vtep (the hardware_vtep database: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT)")
	} else if err := ValidateOVSDBEndpoint(n.OVSDB); err != nil {
		fe.Add("ovsdb", "%v", err)
	}
	if len(n.UnderlayIPs) > 1 {
		fe.Add("underlay_ips", "kind vtep takes exactly one underlay IP (the VTEP's tunnel IP)")
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"bridge", n.Bridge != ""},
		{"datapath_type", n.DatapathType != ""},
		{"datapath_id", n.DatapathID != ""},
		{"profile", n.Profile != ""},
		{"table_ids", len(n.TableIDs) > 0},
		{"tunnel_ports", len(n.TunnelPorts) > 0},
	} {
		if f.set {
			fe.Add(f.name, "is not used by kind vtep (nva programs a VTEP's hardware_vtep tables, not OpenFlow)")
		}
	}
}

// CheckPortOnNVE checks the rules that join a port to its NVE and VN: a
// port needs a MAC unless it is a VAP on a VTEP (whose bare-metal hosts are
// learned), and a VTEP encapsulates in VXLAN only, so its VAPs' VN must
// use encap vxlan.
func CheckPortOnNVE(p *Port, nve *NVE, vn *VN) *Error {
	if nve.Kind != NVEVTEP {
		if p.MAC == "" && p.Kind == "" {
			return Errorf(KindInvalid, "mac", "is required (only a VAP on a vtep NVE or a segment port may omit it)")
		}
		return nil
	}
	if p.Kind != "" {
		return Errorf(KindInvalid, "kind", "a port on hardware VTEP %q is a (physical port, vlan) VAP; kind %s is for OVS and OpenFlow NVEs", nve.Name, p.Kind)
	}
	if vn.Encap != EncapVXLAN {
		return Errorf(KindInvalid, "vn", "vn %q uses encap %s; nve %q is a hardware VTEP, which supports only vxlan", vn.Name, vn.Encap, nve.Name)
	}
	if p.MAC == "" && len(p.IPs) > 0 {
		return Errorf(KindInvalid, "ips", "a VAP without a MAC binds no addresses (give the bare-metal host's mac too)")
	}
	return nil
}

// VTEPStatus is what a vtep NVE's status adds: whether its database holds
// what nva wants, what could not be put there, and the MACs the VTEP has
// learned on its physical ports in nva's VNs.
type VTEPStatus struct {
	InSync   bool          `json:"in_sync"`
	Warnings []string      `json:"warnings,omitempty"`
	Learned  []VTEPLearned `json:"learned,omitempty"`
}

// VTEPLearned is a MAC a VTEP learned (its Ucast_Macs_Local row).
type VTEPLearned struct {
	VN  string `json:"vn"`
	MAC string `json:"mac"`
	IP  string `json:"ip,omitempty"`
}

// summarizeVTEP is SummarizeNVE for a vtep NVE: its OVSDB side is all
// there is (nva sends a VTEP no flows).
func summarizeVTEP(nve *NVE, st *NVEStatus, c SummaryContext) string {
	o := st.OVSDB
	switch {
	case o == nil && c.OVSDBOnLeader:
		return "vtep: managed by the leader"
	case o == nil:
		return "vtep: pending: not synced yet"
	case !o.Connected && o.LastError != "":
		return "vtep: connecting (" + o.LastError + ")"
	case !o.Connected:
		return "vtep: connecting to " + nve.OVSDB
	case o.LastError != "":
		return "vtep: error: " + o.LastError
	case !o.BridgeReady:
		return "vtep: pending: updating the hardware_vtep tables"
	}
	s := "ok: vtep in sync"
	if st.VTEP != nil && len(st.VTEP.Warnings) > 0 {
		s += "; warning: " + st.VTEP.Warnings[0]
	}
	return s
}
