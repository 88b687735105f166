package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/internal/ofshim"
)

// A hypervisor can play a hardware OpenFlow 1.3 switch ("kind: openflow"):
// its bridge is prepared by hand, as a switch administrator configures a
// switch (PrepareStrictBridge), nva never touches its OVSDB, and its
// OpenFlow connection goes through a strict-OpenFlow-1.3 conformance proxy
// (StartShim, internal/ofshim) that refuses what a hardware switch would.

// RemoteTunnelPort is the name nva looks for on a strict switch for the
// tunnel port of encapsulation encap ("vxlan", "geneve", "gre") to the
// remote NVE whose first underlay address is remote (nva's naming
// convention, compiler.RemoteTunnelPortName: "nvxc6120002" is VXLAN to
// 198.18.0.2). It returns "" for an address that is not IPv4.
func RemoteTunnelPort(encap, remote string) string {
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return ""
	}
	return compiler.RemoteTunnelPortName(model.Encap(encap), a)
}

// StrictBridgeOptions configures PrepareStrictBridge.
type StrictBridgeOptions struct {
	// DatapathID is other_config:datapath-id, 16 hex digits: the datapath
	// ID the NVE is registered with (required).
	DatapathID string
	// Controller is the bridge's controller target, e.g. a shim's
	// Target() (required).
	Controller string
	// Encap is the tunnel ports' encapsulation (default "vxlan").
	Encap string
	// Remotes are the hypervisors to create a per-remote tunnel port
	// toward, named by RemoteTunnelPort.
	Remotes []int
}

// PrepareStrictBridge configures br-int on hypervisor i the way an
// administrator configures a hardware OpenFlow switch for nva: a userspace
// bridge speaking OpenFlow 1.3 only, fail_mode=secure, the given datapath
// ID, one out-of-band controller target, and one tunnel port per remote
// hypervisor with that remote's underlay address fixed (remote_ip),
// hypervisor i's own as local_ip, and the VNI from the flow (key=flow).
// Tenants' VAP interfaces are added with AttachTenant (or
// TenantSpec.AttachBridge).
func (l *Lab) PrepareStrictBridge(ctx context.Context, i int, o StrictBridgeOptions) error {
	if o.DatapathID == "" || o.Controller == "" {
		return fmt.Errorf("lab: hv%d: PrepareStrictBridge needs a datapath ID and a controller target", i)
	}
	if o.Encap == "" {
		o.Encap = "vxlan"
	}
	br := IntegrationBridge
	args := []string{"--may-exist", "add-br", br,
		"--", "set", "bridge", br, "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13",
		"other_config:datapath-id=" + o.DatapathID,
		"--", "--id=@c", "create", "controller", `target="` + o.Controller + `"`, "connection_mode=out-of-band",
		"--", "set", "bridge", br, "controller=@c"}
	local := l.UnderlayIP(i)
	for _, r := range o.Remotes {
		remote := l.UnderlayIP(r)
		p := RemoteTunnelPort(o.Encap, remote)
		if p == "" {
			return fmt.Errorf("lab: hv%d: no tunnel port name for %s", i, remote)
		}
		args = append(args, "--", "--may-exist", "add-port", br, p,
			"--", "set", "interface", p, "type="+o.Encap,
			"options:remote_ip="+remote, "options:local_ip="+local, "options:key=flow")
	}
	if _, err := l.Vsctl(ctx, i, args...); err != nil {
		return fmt.Errorf("hv%d: preparing %s as a strict switch: %w", i, br, err)
	}
	return nil
}

// StartShim starts a strict OpenFlow 1.3 conformance proxy (internal/ofshim)
// in the test process: it listens on the lab's controller address with a
// free port (every hypervisor reaches it over its management veth; give a
// bridge its Target() as controller) and dials nva's OpenFlow listener
// (ControllerAddr) once per switch connection. maxTables is the profile's
// table count (4 for openflow13). Its refusals are logged through the
// lab's logger and written into the failure artifacts (shim-refusals.txt).
// Close it before the test ends (t.Cleanup): the lab does not.
func (l *Lab) StartShim(ctx context.Context, maxTables int) (*ofshim.Shim, error) {
	s, err := ofshim.Start(ctx, ofshim.Options{
		Listen:       "tcp:" + netip.AddrPortFrom(l.ctrlIP, 0).String(),
		Upstream:     "tcp:" + l.ControllerAddr(),
		MaxTables:    maxTables,
		KeepRefusals: 64,
		Log:          func(format string, args ...any) { l.logf(format, args...) },
	})
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l.OnDump(func(dir string) {
		_ = os.WriteFile(filepath.Join(dir, "shim-refusals.txt"), []byte(ShimReport(s)), 0o644)
	})
	return s, nil
}

// ShimReport describes what a shim forwarded and refused, with its last
// refusals, one per line.
func ShimReport(s *ofshim.Shim) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shim %s: %d controller-to-switch messages forwarded, refused by reason: %v\n", s.Target(), s.Forwarded(), s.Refused())
	for _, r := range s.Refusals() {
		fmt.Fprintf(&b, "  %v\n", r)
	}
	return b.String()
}

// NewOverlayOnly is an Overlay on lab l driven through nva n with no NVE
// registered: register them with AddOVSNVE and AddOpenFlowNVE (NewOverlay
// registers every hypervisor as an ovs NVE).
func NewOverlayOnly(l *Lab, n *NVA) *Overlay {
	return &Overlay{Lab: l, NVA: n, RealizeTimeout: 30 * time.Second, vns: map[string]VNSpec{}, tenants: map[string]TenantSpec{}}
}

// AddOVSNVE registers hypervisor hv as an NVE of kind ovs, as NewOverlay
// does (its OVSDB socket, br-int, userspace datapath) plus the fields of
// extra (e.g. "profile"), and waits up to bridgeWait for nva's OVSDB
// manager to create br-int.
func (o *Overlay) AddOVSNVE(ctx context.Context, hv int, extra map[string]any, bridgeWait time.Duration) error {
	h := o.Lab.HV(hv)
	body := map[string]any{
		"name":          h.Name,
		"kind":          "ovs",
		"underlay_ips":  []string{h.UnderlayIP.String()},
		"ovsdb":         o.Lab.OVSDBSocket(hv),
		"bridge":        IntegrationBridge,
		"datapath_type": "netdev",
	}
	for k, v := range extra {
		body[k] = v
	}
	if err := o.Post(ctx, "/api/v1/nves", body); err != nil {
		return err
	}
	err := WaitFor(ctx, bridgeWait, 100*time.Millisecond, func() (bool, error) {
		_, err := o.Lab.Vsctl(ctx, hv, "br-exists", IntegrationBridge)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("lab: nva did not create %s on %s: %w", IntegrationBridge, h.Name, err)
	}
	return nil
}

// AddOpenFlowNVE registers hypervisor hv as an NVE of kind openflow (a
// hardware switch nva reaches only over OpenFlow) with its datapath ID and
// underlay address, plus the fields of extra. Its bridge must have been
// prepared (PrepareStrictBridge).
func (o *Overlay) AddOpenFlowNVE(ctx context.Context, hv int, datapathID string, extra map[string]any) error {
	h := o.Lab.HV(hv)
	body := map[string]any{
		"name":         h.Name,
		"kind":         "openflow",
		"datapath_id":  datapathID,
		"underlay_ips": []string{h.UnderlayIP.String()},
	}
	for k, v := range extra {
		body[k] = v
	}
	return o.Post(ctx, "/api/v1/nves", body)
}
