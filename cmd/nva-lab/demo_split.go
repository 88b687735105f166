package main

import (
	"context"
	"fmt"
	"log"

	"github.com/nva-project/nva/integration/lab"
)

// demoSplitHV is the demo's split hypervisor: a tNVE (RFC 8014 §4.2)
// whose uplink is cabled into hv1, its nNVE. It does not tunnel: nva
// allocates a VLAN per VN on the access link and hv1 maps (port, VLAN)
// to the VN and tunnels for it.
const demoSplitHV = 4

// demoSplit cables the split hypervisor to hv1 and declares it a tNVE
// through the API.
func demoSplit(ctx context.Context, l *lab.Lab, ov *lab.Overlay, logger *log.Logger) error {
	for _, hv := range []int{1, demoSplitHV} {
		if err := l.SetVLANLimit(ctx, hv, 2); err != nil { // QinQ for passthrough ports
			return err
		}
	}
	uplink, port, err := l.AddAccessLink(ctx, demoSplitHV, 1)
	if err != nil {
		return err
	}
	if err := ov.Patch(ctx, fmt.Sprintf("/api/v1/nves/hv%d", demoSplitHV), map[string]any{
		"access_link": map[string]any{"nnve": "hv1", "uplink": uplink, "nnve_port": port},
	}); err != nil {
		return err
	}
	logger.Printf("hv%d is a split hypervisor (tNVE): uplink %s cabled to hv1's %s (nNVE); see nvactl access-links", demoSplitHV, uplink, port)
	return nil
}
