package model

// PortKindSegment is Port.Kind of an L2 gateway attachment (RFC 8014
// §5.3): the port binds (interface, VLAN) on its NVE to its VN for a
// whole physical segment, whose hosts nva does not know. It has no MAC
// or IPs of its own; frames from it are not port-secured (they come from
// many hosts), their source MACs are learned (LearnedEndpoint, Via = the
// port's name), and the VN's broadcast, multicast and unknown unicast are
// flooded to it.
const PortKindSegment = "segment"

// IsSegment reports whether the port is an L2 gateway segment attachment.
func (p *Port) IsSegment() bool { return p.Kind == PortKindSegment }

// validateKind checks a port of a kind other than "": the name, VN, NVE,
// interface and VLAN rules of every port, and the kind's own.
func (p *Port) validateKind(fe *FieldErrors) {
	if p.Kind != PortKindSegment {
		fe.Add("kind", "must be empty (a tenant system's port) or %q", PortKindSegment)
		return
	}
	if p.MAC != "" {
		fe.Add("mac", "a segment port has no MAC of its own (its hosts' MACs are learned)")
	}
	if len(p.IPs) > 0 {
		fe.Add("ips", "a segment port binds no addresses")
	}
	if p.Pair != "" {
		fe.Add("pair", "a segment port attaches a segment, not one dual-homed system")
	}
	if p.VLAN < 0 || p.VLAN > 4094 {
		fe.Add("vlan", "must be between 0 (untagged) and 4094")
	}
}
