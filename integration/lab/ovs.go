package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func ovsEnv(hv *Hypervisor) []string {
	return []string{"OVS_RUNDIR=" + hv.Dir, "OVS_LOGDIR=" + hv.Dir, "OVS_DBDIR=" + hv.Dir}
}

// startOVS creates the hypervisor's database and starts ovsdb-server and
// ovs-vswitchd inside its namespace, as in the lab notes.
func startOVS(ctx context.Context, hv *Hypervisor) error {
	db := filepath.Join(hv.Dir, "conf.db")
	if _, err := run(ctx, nil, "ovsdb-tool", "create", db, schemaPath); err != nil {
		return err
	}
	env := ovsEnv(hv)
	if _, err := runIn(ctx, hv.NS, env, "ovsdb-server", db,
		"--remote=punix:"+filepath.Join(hv.Dir, "db.sock"),
		"--unixctl="+filepath.Join(hv.Dir, "ovsdb-server.ctl"),
		"--pidfile="+filepath.Join(hv.Dir, "ovsdb-server.pid"),
		"--log-file="+filepath.Join(hv.Dir, "ovsdb-server.log"),
		// As Open vSwitch's own startup script does: remotes and SSL
		// keys from the database, so `ovs-vsctl set-ssl` and
		// `set-manager pssl:…` can turn on OVSDB over TLS (TestTLS).
		"--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
		"--private-key=db:Open_vSwitch,SSL,private_key",
		"--certificate=db:Open_vSwitch,SSL,certificate",
		"--ca-cert=db:Open_vSwitch,SSL,ca_cert",
		"--detach", "--no-chdir"); err != nil {
		return err
	}
	if _, err := run(ctx, nil, "ovs-vsctl", "--db=unix:"+filepath.Join(hv.Dir, "db.sock"), "--no-wait", "init"); err != nil {
		return err
	}
	return startVswitchd(ctx, hv)
}

func startVswitchd(ctx context.Context, hv *Hypervisor) error {
	_, err := runIn(ctx, hv.NS, ovsEnv(hv), "ovs-vswitchd", "unix:"+filepath.Join(hv.Dir, "db.sock"),
		"--unixctl="+filepath.Join(hv.Dir, "ovs-vswitchd.ctl"),
		"--pidfile="+filepath.Join(hv.Dir, "ovs-vswitchd.pid"),
		"--log-file="+filepath.Join(hv.Dir, "ovs-vswitchd.log"),
		"--detach", "--no-chdir")
	return err
}

// StopVswitchd stops hypervisor i's ovs-vswitchd, as a crashed or
// stopped switch daemon: its OpenFlow connections drop and its datapath
// stops forwarding, while its ovsdb-server (and so nva's OVSDB session)
// keeps running. StartVswitchd brings it back.
func (l *Lab) StopVswitchd(ctx context.Context, i int) error {
	hv := l.HV(i)
	pid, err := readPidfile(filepath.Join(hv.Dir, "ovs-vswitchd.pid"))
	if err != nil {
		return fmt.Errorf("lab: %s: ovs-vswitchd: %w", hv.Name, err)
	}
	killPID(pid, 5*time.Second)
	return WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		_, err := os.Stat(filepath.Join(hv.Dir, "ovs-vswitchd.pid"))
		return errors.Is(err, os.ErrNotExist), nil
	})
}

// StartVswitchd starts hypervisor i's ovs-vswitchd again (after
// StopVswitchd). It rebuilds the bridges from its database; the underlay
// address of br-phy, whose userspace-datapath internal port is recreated,
// is restored.
func (l *Lab) StartVswitchd(ctx context.Context, i int) error {
	hv := l.HV(i)
	if err := startVswitchd(ctx, hv); err != nil {
		return err
	}
	if err := waitLink(ctx, hv.NS, PhysBridge); err != nil {
		return err
	}
	if _, err := ipCmd(ctx, hv.NS, "addr", "replace", hv.UnderlayIP.String()+"/24", "dev", PhysBridge); err != nil {
		return err
	}
	_, err := ipCmd(ctx, hv.NS, "link", "set", PhysBridge, "up")
	return err
}

// stopOVS stops the daemons whose pidfiles are in dir.
func stopOVS(dir string) {
	for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
		pid, err := readPidfile(filepath.Join(dir, d+".pid"))
		if err != nil {
			continue
		}
		killPID(pid, 3*time.Second)
	}
}

func vsctl(ctx context.Context, hv *Hypervisor, args ...string) (string, error) {
	a := append([]string{"--db=unix:" + filepath.Join(hv.Dir, "db.sock"), "--timeout=20"}, args...)
	return run(ctx, nil, "ovs-vsctl", a...)
}

// Vsctl runs ovs-vsctl against hypervisor i's database (waiting for
// ovs-vswitchd to apply the change) and returns its output.
func (l *Lab) Vsctl(ctx context.Context, i int, args ...string) (string, error) {
	return vsctl(ctx, l.HV(i), args...)
}

// BridgeTarget is the ovs-ofctl target for a bridge of hypervisor i: its
// management socket, "unix:/…/<bridge>.mgmt".
func (l *Lab) BridgeTarget(i int, bridge string) string {
	return "unix:" + filepath.Join(l.HV(i).Dir, bridge+".mgmt")
}

// Ofctl runs "ovs-ofctl -O OpenFlow13 <cmd> <bridge-target> args..." on
// hypervisor i.
func (l *Lab) Ofctl(ctx context.Context, i int, cmd, bridge string, args ...string) (string, error) {
	a := append([]string{"-O", "OpenFlow13", cmd, l.BridgeTarget(i, bridge)}, args...)
	return run(ctx, nil, "ovs-ofctl", a...)
}

// Appctl runs ovs-appctl against hypervisor i's ovs-vswitchd.
func (l *Lab) Appctl(ctx context.Context, i int, args ...string) (string, error) {
	a := append([]string{"-t", filepath.Join(l.HV(i).Dir, "ovs-vswitchd.ctl")}, args...)
	return run(ctx, nil, "ovs-appctl", a...)
}

// DumpFlows returns the flows of a bridge on hypervisor i, one per line,
// without the reply header and without the per-flow statistics
// (duration, n_packets, n_bytes, idle_age), sorted.
func (l *Lab) DumpFlows(ctx context.Context, i int, bridge string, match ...string) ([]string, error) {
	out, err := l.Ofctl(ctx, i, "dump-flows", bridge, append([]string{"--no-stats"}, match...)...)
	if err != nil {
		return nil, err
	}
	var flows []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "OFPST_FLOW") || strings.HasPrefix(line, "NXST_FLOW") {
			continue
		}
		flows = append(flows, line)
	}
	sort.Strings(flows)
	return flows, nil
}

// DumpGroups returns the groups of a bridge on hypervisor i, sorted.
func (l *Lab) DumpGroups(ctx context.Context, i int, bridge string) ([]string, error) {
	out, err := l.Ofctl(ctx, i, "dump-groups", bridge)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "OFPST_GROUP") {
			continue
		}
		groups = append(groups, line)
	}
	sort.Strings(groups)
	return groups, nil
}

// BridgeOptions configures PrepareBridge.
type BridgeOptions struct {
	// DatapathID is other_config:datapath-id (16 hex digits); empty lets
	// OVS choose.
	DatapathID string
	// NoController leaves the bridge without a controller target.
	NoController bool
	// FailMode is "secure" (default) or "standalone".
	FailMode string
}

// PrepareBridge creates br-int on hypervisor i the way nva's OVSDB manager
// does: userspace datapath, OpenFlow 1.3, fail_mode=secure, the
// controller target ControllerTarget with connection_mode=out-of-band, and
// one flow-based tunnel port per encapsulation (nva-vxlan, nva-geneve,
// nva-gre with remote_ip=flow, key=flow). It is for tests that run before
// or without the OVSDB manager.
func (l *Lab) PrepareBridge(ctx context.Context, i int, o BridgeOptions) error {
	if o.FailMode == "" {
		o.FailMode = "secure"
	}
	br := IntegrationBridge
	args := []string{"--may-exist", "add-br", br,
		"--", "set", "bridge", br, "datapath_type=netdev", "fail_mode=" + o.FailMode, "protocols=OpenFlow13"}
	if o.DatapathID != "" {
		args = append(args, "other_config:datapath-id="+o.DatapathID)
	}
	if !o.NoController {
		args = append(args,
			"--", "--id=@c", "create", "controller", "target=\""+l.ControllerTarget()+"\"", "connection_mode=out-of-band",
			"--", "set", "bridge", br, "controller=@c")
	}
	for _, encap := range []string{"vxlan", "geneve", "gre"} {
		p := TunnelPorts[encap]
		args = append(args, "--", "--may-exist", "add-port", br, p,
			"--", "set", "interface", p, "type="+encap, "options:remote_ip=flow", "options:key=flow")
	}
	if _, err := l.Vsctl(ctx, i, args...); err != nil {
		return fmt.Errorf("hv%d: preparing %s: %w", i, br, err)
	}
	return nil
}

// OFPort returns the OpenFlow port number of an interface on hypervisor i,
// waiting up to 10 s for OVS to assign one.
func (l *Lab) OFPort(ctx context.Context, i int, ifname string) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := l.Vsctl(ctx, i, "--if-exists", "get", "interface", ifname, "ofport")
		if err == nil {
			if n, perr := strconv.Atoi(strings.TrimSpace(out)); perr == nil && n > 0 {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("ofport is %q", strings.TrimSpace(out))
			}
			return 0, fmt.Errorf("hv%d: no OpenFlow port for %s: %w", i, ifname, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// BridgeController reports whether hypervisor i's bridge has a connected
// controller, as OVS reports it (is_connected lags a few seconds).
func (l *Lab) BridgeController(ctx context.Context, i int, bridge string) (bool, error) {
	out, err := l.Vsctl(ctx, i, "--columns=is_connected", "--bare", "find", "controller")
	if err != nil {
		return false, err
	}
	return strings.Contains(out, "true"), nil
}

// WaitFor polls cond every interval until it returns true, an error, or
// the timeout passes.
func WaitFor(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("timed out after %v: %w", timeout, last)
			}
			return fmt.Errorf("timed out after %v", timeout)
		case <-time.After(interval):
		}
	}
}

// copyFile copies a file, best effort, for artifacts.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
