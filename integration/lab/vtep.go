package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// vtepSchemaPath is the hardware_vtep schema Debian's openvswitch-vtep
// ships, with the ovs-vtep emulator.
const (
	vtepSchemaPath = "/usr/share/openvswitch/vtep.ovsschema"
	ovsVTEPPath    = "/usr/share/openvswitch/scripts/ovs-vtep"
	// systemPython runs ovs-vtep: Debian's python3-openvswitch is in
	// the system interpreter's path (a python3 earlier in PATH, e.g.
	// pyenv's, may not have it).
	systemPython = "/usr/bin/python3"
)

// VTEPRequirements is why the machine cannot run a VTEP emulator ("" when
// it can).
func VTEPRequirements() string {
	for _, p := range []string{vtepSchemaPath, ovsVTEPPath, systemPython, "/usr/bin/vtep-ctl"} {
		if _, err := os.Stat(p); err != nil {
			return "missing " + p + " (Debian's openvswitch-vtep)"
		}
	}
	return ""
}

// VTEP is a hardware VTEP emulated by Open vSwitch's ovs-vtep in its own
// namespace: one ovsdb-server serving conf.db and vtep.db, ovs-vswitchd
// (userspace datapath) with br-phy owning the tunnel IP on the lab's
// fabric, and the physical switch bridge whose ports are the VTEP's
// physical ports. ovs-vtep reads the hardware_vtep database nva writes
// and programs the bridges; it polls about once a second.
type VTEP struct {
	Name     string     // "vtep1"; also the physical switch's name
	NS       string     // network namespace
	Dir      string     // OVS_RUNDIR, OVS_LOGDIR and the databases
	TunnelIP netip.Addr // on br-phy: 198.18.0.<100+index>/24
	hv       *Hypervisor
}

// Endpoint is the OVSDB address nva is given for the VTEP's
// hardware_vtep database.
func (v *VTEP) Endpoint() string { return "unix:" + filepath.Join(v.Dir, "db.sock") }

func (v *VTEP) env() []string { return ovsEnv(v.hv) }

// AddVTEP starts VTEP number index (1-99) with no physical ports.
func (l *Lab) AddVTEP(ctx context.Context, index int) (*VTEP, error) {
	if reason := VTEPRequirements(); reason != "" {
		return nil, fmt.Errorf("lab: %s", reason)
	}
	if index < 1 || index > 99 {
		return nil, fmt.Errorf("lab: VTEP index %d: want 1-99", index)
	}
	name := fmt.Sprintf("vtep%d", index)
	// The directory matches the hv* glob of the cleanup, which stops the
	// daemons by their pidfiles; the namespace's processes (ovs-vtep
	// too) are killed with it.
	dir := filepath.Join(l.Dir, "hv"+name)
	v := &VTEP{Name: name, NS: l.Prefix + name, Dir: dir, TunnelIP: netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + index)})}
	v.hv = &Hypervisor{Name: name, NS: v.NS, Dir: dir, UnderlayIP: v.TunnelIP}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := addNamespace(ctx, v.NS); err != nil {
		return nil, err
	}
	conf, vdb := filepath.Join(dir, "conf.db"), filepath.Join(dir, "vtep.db")
	for _, c := range [][2]string{{conf, schemaPath}, {vdb, vtepSchemaPath}} {
		if _, err := run(ctx, nil, "ovsdb-tool", "create", c[0], c[1]); err != nil {
			return nil, err
		}
	}
	if _, err := runIn(ctx, v.NS, v.env(), "ovsdb-server", conf, vdb,
		"--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"),
		"--detach", "--no-chdir"); err != nil {
		return nil, err
	}
	if _, err := v.vsctl(ctx, "--no-wait", "init"); err != nil {
		return nil, err
	}
	if err := startVswitchd(ctx, v.hv); err != nil {
		return nil, err
	}
	mtu := strconv.Itoa(l.opts.UnderlayMTU)
	fabIf := name
	for _, s := range [][]string{
		{v.NS, "link", "add", "eth1", "mtu", mtu, "type", "veth", "peer", "name", fabIf, "mtu", mtu, "netns", l.fabricNS},
		{l.fabricNS, "link", "set", fabIf, "master", "br0", "up"},
		{v.NS, "link", "set", "eth1", "up"},
		{v.NS, "link", "set", "lo", "up"},
	} {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	if _, err := v.vsctl(ctx, "add-br", PhysBridge, "--", "set", "bridge", PhysBridge, "datapath_type=netdev",
		"--", "add-port", PhysBridge, "eth1", "--", "set", "interface", PhysBridge, "mtu_request="+mtu,
		"--", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev"); err != nil {
		return nil, err
	}
	if err := waitLink(ctx, v.NS, PhysBridge); err != nil {
		return nil, err
	}
	for _, s := range [][]string{
		{v.NS, "addr", "add", v.TunnelIP.String() + "/24", "dev", PhysBridge},
		{v.NS, "link", "set", PhysBridge, "up"},
	} {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	if _, err := v.vtepctl(ctx, "add-ps", name, "--", "set", "Physical_Switch", name, "tunnel_ips="+v.TunnelIP.String()); err != nil {
		return nil, err
	}
	if _, err := runIn(ctx, v.NS, v.env(), systemPython, ovsVTEPPath,
		"--log-file="+filepath.Join(dir, "ovs-vtep.log"),
		"--pidfile="+filepath.Join(dir, "ovs-vtep.pid"),
		"--detach", "--no-chdir", name); err != nil {
		return nil, err
	}
	l.AddArtifact(filepath.Join(dir, "ovs-vtep.log"))
	l.logf("lab %s: VTEP %s (tunnel IP %s) up", l.Prefix, name, v.TunnelIP)
	return v, nil
}

func (v *VTEP) vsctl(ctx context.Context, args ...string) (string, error) {
	return runIn(ctx, "", nil, "ovs-vsctl", append([]string{"--db=" + v.Endpoint(), "--timeout=20"}, args...)...)
}

func (v *VTEP) vtepctl(ctx context.Context, args ...string) (string, error) {
	return runIn(ctx, "", nil, "vtep-ctl", append([]string{"--db=" + v.Endpoint(), "--timeout=20"}, args...)...)
}

// VTEPCtl runs vtep-ctl on the VTEP's database.
func (v *VTEP) VTEPCtl(ctx context.Context, args ...string) (string, error) {
	return v.vtepctl(ctx, args...)
}

// AddPhysicalPort adds physical port port (a veth whose other end,
// "<port>t", goes to the VTEP's helper bridge "bmbr" as a trunk) to the
// VTEP, and waits until ovs-vtep has listed it in the hardware_vtep
// database.
func (l *Lab) AddPhysicalPort(ctx context.Context, v *VTEP, port string) error {
	trunk := port + "t"
	if _, err := ipCmd(ctx, v.NS, "link", "add", port, "type", "veth", "peer", "name", trunk); err != nil {
		return err
	}
	for _, ifn := range []string{port, trunk} {
		if _, err := ipCmd(ctx, v.NS, "link", "set", ifn, "up"); err != nil {
			return err
		}
	}
	if _, err := v.vsctl(ctx, "add-port", v.Name, port,
		"--", "--may-exist", "add-br", "bmbr", "--", "set", "bridge", "bmbr", "datapath_type=netdev",
		"--", "add-port", "bmbr", trunk); err != nil {
		return err
	}
	return WaitFor(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		out, err := v.vtepctl(ctx, "list-ports", v.Name)
		return err == nil && strings.Contains(" "+strings.Join(strings.Fields(out), " ")+" ", " "+port+" "), nil
	})
}

// AddBareMetal creates a bare-metal host: a tenant namespace whose eth0 (MAC
// mac, addresses ips in CIDR form) is a veth to the VTEP's helper bridge,
// on an access port tagged vlan (0: untagged), so that its frames reach
// physical port port tagged (the kernel here has no VLAN devices).
func (l *Lab) AddBareMetal(ctx context.Context, v *VTEP, name, port string, vlan int, mac string, ips []string) (*Tenant, error) {
	if !tenantNameRE.MatchString(name) {
		return nil, fmt.Errorf("lab: tenant name %q: want 1-10 of [a-z0-9]", name)
	}
	if _, err := net.ParseMAC(mac); err != nil {
		return nil, fmt.Errorf("lab: bare-metal host %s: %w", name, err)
	}
	t := &Tenant{Name: name, NS: l.Prefix + "t-" + name, If: "vm-" + name, MAC: strings.ToLower(mac), MTU: TenantMTU}
	for _, s := range ips {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("lab: bare-metal host %s: address %q: %w", name, s, err)
		}
		t.IPs = append(t.IPs, p)
	}
	l.mu.Lock()
	if _, dup := l.tenants[name]; dup {
		l.mu.Unlock()
		return nil, fmt.Errorf("lab: tenant %s exists", name)
	}
	l.tenants[name] = t
	l.mu.Unlock()
	if err := addNamespace(ctx, t.NS); err != nil {
		return nil, err
	}
	steps := [][]string{
		{v.NS, "link", "add", t.If, "type", "veth", "peer", "name", "eth0", "netns", t.NS},
		{t.NS, "link", "set", "eth0", "address", t.MAC},
	}
	for _, p := range t.IPs {
		steps = append(steps, []string{t.NS, "addr", "add", p.String(), "dev", "eth0"})
	}
	steps = append(steps, []string{t.NS, "link", "set", "eth0", "up"}, []string{v.NS, "link", "set", t.If, "up"})
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	if _, err := runIn(ctx, t.NS, nil, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return nil, err
	}
	args := []string{"--may-exist", "add-br", "bmbr", "--", "set", "bridge", "bmbr", "datapath_type=netdev", "--", "add-port", "bmbr", t.If}
	if vlan != 0 {
		args = append(args, "tag="+strconv.Itoa(vlan))
	}
	if _, err := v.vsctl(ctx, args...); err != nil {
		return nil, err
	}
	return t, nil
}

// VTEPPoint is an interface in the VTEP's namespace (e.g. its physical
// port) to capture on.
func (v *VTEP) Point(ifname string) CapturePoint { return CapturePoint{NS: v.NS, If: ifname} }

// AddVTEPNVE registers VTEP v with nva as an NVE of kind vtep.
func (o *Overlay) AddVTEPNVE(ctx context.Context, v *VTEP) error {
	return o.Post(ctx, "/api/v1/nves", map[string]any{"name": v.Name, "kind": "vtep",
		"underlay_ips": []string{v.TunnelIP.String()}, "ovsdb": v.Endpoint()})
}

// AddBareMetal creates bare-metal host ts (ts.HV is ignored) behind VTEP
// v's physical port port on VLAN vlan, and its VAP through the API:
// (port, vlan) bound to ts.VN, without a MAC (nva learns it from the
// VTEP). The host counts as a tenant of the overlay (Matrix, Owner).
func (o *Overlay) AddBareMetal(ctx context.Context, v *VTEP, ts TenantSpec, port string, vlan int) error {
	if ts.Prefix == 0 {
		ts.Prefix = 24
	}
	ts.NVE = v.Name
	if _, err := o.Lab.AddBareMetal(ctx, v, ts.Name, port, vlan, ts.MAC, []string{fmt.Sprintf("%s/%d", ts.IP, ts.Prefix)}); err != nil {
		return err
	}
	if err := o.Post(ctx, "/api/v1/ports", map[string]any{
		"name": ts.Name, "vn": ts.VN, "nve": v.Name, "interface": port, "vlan": vlan,
	}); err != nil {
		return err
	}
	o.mu.Lock()
	o.tenants[ts.Name] = ts
	o.order = append(o.order, ts.Name)
	o.mu.Unlock()
	return nil
}
