package ofctl

import (
	"context"
	"fmt"

	"antrea.io/libOpenflow/openflow13"
)

// SetPortDown takes an OpenFlow port of NVE nve's switch administratively
// down (down true) or up: OFPT_PORT_MOD with OFPPC_PORT_DOWN in the mask,
// the port's hardware address as the switch described it, then a barrier.
// Open vSwitch turns the port's network device down, so a tenant system on
// a veth or tap sees its carrier go (VAP error signalling, RFC 8014 §4.5).
// It fails when the NVE's switch is not connected to this node, does not
// have the port, or refuses the message (a node without the master role).
func (s *Southbound) SetPortDown(ctx context.Context, nve string, port uint32, down bool) error {
	s.mu.Lock()
	w := s.workerFor(nve)
	s.mu.Unlock()
	if w == nil || w.sw == nil {
		return fmt.Errorf("ofctl: NVE %s: switch not connected to this node", nve)
	}
	info, ok := w.sw.Ports()[port]
	if !ok {
		return fmt.Errorf("ofctl: NVE %s: switch has no port %d", nve, port)
	}
	pm := openflow13.NewPortMod(int(port))
	pm.Header.Version = openflow13.VERSION
	copy(pm.HWAddr, info.HWAddr)
	pm.Mask = openflow13.PC_PORT_DOWN
	if down {
		pm.Config = openflow13.PC_PORT_DOWN
	}
	if _, err := w.sw.Send(pm); err != nil {
		return fmt.Errorf("ofctl: NVE %s: port-mod of port %d: %w", nve, port, err)
	}
	if err := w.sw.Barrier(ctx); err != nil {
		return fmt.Errorf("ofctl: NVE %s: port-mod of port %d: %w", nve, port, err)
	}
	return nil
}

// PortsAdminDown returns the OpenFlow ports of NVE nve's switch that are
// administratively down (OFPPC_PORT_DOWN in its port table), and whether
// the switch is connected to this node.
func (s *Southbound) PortsAdminDown(nve string) ([]uint32, bool) {
	s.mu.Lock()
	w := s.workerFor(nve)
	s.mu.Unlock()
	if w == nil || w.sw == nil {
		return nil, false
	}
	var out []uint32
	for no, p := range w.sw.Ports() {
		if !p.AdminUp {
			out = append(out, no)
		}
	}
	return out, true
}
