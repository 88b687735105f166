package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/integration/lab"
)

// The demo's overlay: two VXLAN VNs sharing 192.0.2.0/24 with identical
// IPs, on three hypervisors and a split one (hv4, a tNVE behind hv1:
// demo_split.go); red is not on hv3.
var demoVNs = []lab.VNSpec{
	{Name: "blue", VNI: 1001, Encap: "vxlan"},
	{Name: "red", VNI: 1002, Encap: "vxlan"},
}

var demoTenants = []lab.TenantSpec{
	{Name: "b1", VN: "blue", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:01:01"},
	{Name: "b2", VN: "blue", HV: 1, IP: "192.0.2.12", MAC: "02:00:00:00:01:02"},
	{Name: "b3", VN: "blue", HV: 2, IP: "192.0.2.13", MAC: "02:00:00:00:01:03"},
	{Name: "b4", VN: "blue", HV: 3, IP: "192.0.2.14", MAC: "02:00:00:00:01:04"},
	{Name: "r1", VN: "red", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:02:01"},
	{Name: "r2", VN: "red", HV: 2, IP: "192.0.2.12", MAC: "02:00:00:00:02:02"},
	{Name: "r3", VN: "red", HV: 2, IP: "192.0.2.23", MAC: "02:00:00:00:02:03"},
	{Name: "b5", VN: "blue", HV: demoSplitHV, IP: "192.0.2.15", MAC: "02:00:00:00:01:05"},
	{Name: "r5", VN: "red", HV: demoSplitHV, IP: "192.0.2.25", MAC: "02:00:00:00:02:05"},
}

func demoPidfile() string { return filepath.Join(lab.BaseDir(), "demo.owner") }

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nvaPath := fs.String("nva", "", "nva binary (default: build cmd/nva into a temporary directory)")
	api := fs.String("api", "127.0.0.1:8080", "REST API listen address of the demo's nva")
	tlsDir := fs.String("tls", "", "run with TLS: make (or reuse) an ovs-pki lab CA and certificates in this directory; nva speaks OpenFlow over TLS to switches that present pinned certificates, and manages their OVSDB over ssl:")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if reason := lab.Requirements(); reason != "" {
		return fmt.Errorf("cannot run a lab: %s", reason)
	}
	if pid, alive := lab.OwnerAlive(demoPidfile()); alive {
		return fmt.Errorf("a demo is already running (pid %d); stop it with Ctrl-C there or `make demo-down`", pid)
	}
	logger := log.New(stderr, "demo: ", log.Ltime|log.Lmicroseconds)
	bin, cleanBin, err := nvaBinary(ctx, *nvaPath, logger.Printf)
	if err != nil {
		return err
	}
	defer cleanBin()

	l, err := lab.Create(ctx, lab.Options{Hypervisors: demoSplitHV, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer func() {
		logger.Printf("removing the lab")
		if err := l.Close(); err != nil {
			logger.Printf("cleanup: %v", err)
		}
	}()
	if err := lab.WriteOwnerFile(demoPidfile()); err != nil {
		return err
	}
	defer os.Remove(demoPidfile())
	var ov *lab.Overlay
	var n *lab.NVA
	if *tlsDir == "" {
		n, err = l.StartNVA(ctx, lab.NVAOptions{Bin: bin, APIAddr: *api, LogLevel: "info"})
		if err != nil {
			return err
		}
		logger.Printf("nva running (log %s); web UI http://%s/", n.Proc().Log, n.APIAddr)
		if ov, err = lab.NewOverlay(ctx, l, n, 30*time.Second); err != nil {
			return err
		}
	} else if n, ov, err = demoTLS(ctx, l, bin, *api, *tlsDir, logger); err != nil {
		return err
	}
	if err := demoSplit(ctx, l, ov, logger); err != nil {
		return err
	}
	for _, v := range demoVNs {
		if err := ov.AddVN(ctx, v); err != nil {
			return err
		}
		logger.Printf("VN %s: VNI %d, %s", v.Name, v.VNI, v.Encap)
	}
	for _, ts := range demoTenants {
		if err := ov.AddTenant(ctx, ts); err != nil {
			return err
		}
		logger.Printf("tenant %s: VN %s on hv%d, %s %s", ts.Name, ts.VN, ts.HV, ts.IP, ts.MAC)
	}
	var names []string
	for _, ts := range demoTenants {
		names = append(names, ts.Name)
	}
	bareMetal, err := demoVTEP(ctx, l, ov, logger) // demo_vtep.go
	if err != nil {
		return err
	}
	names = append(names, bareMetal...)
	// Let the overlay converge (30 s at most in all) before judging it.
	converge := time.Now().Add(30 * time.Second)
	for _, a := range demoTenants {
		for _, b := range demoTenants {
			if left := time.Until(converge); a.Name != b.Name && a.VN == b.VN && left > 0 {
				_, _ = ov.ExpectReach(ctx, a.Name, b.IP, left)
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	logger.Printf("pinging every pair")
	cells := ov.Matrix(ctx, names, 5*time.Second)
	if ctx.Err() != nil {
		return nil
	}
	ok := true
	var problems []string
	for _, c := range cells {
		if c.Reached != c.Want || c.Err != nil {
			ok = false
			problems = append(problems, fmt.Sprintf("  %s -> %s: %v", c.From, c.To, c.Err))
		}
	}
	l3Table, l3Problems, err := demoL3(ctx, l, ov, logger) // demo_l3.go: a routed pair and an external host through an L3 gateway
	if err != nil {
		return err
	}
	base := "http://" + n.APIAddr
	fmt.Fprintf(stdout, "\nReachability (row pings column's IP; yes = the column tenant itself answered):\n%s\n", ov.FormatMatrix(names, cells))
	if ok {
		fmt.Fprintln(stdout, "The matrix is exactly the intended one: every pair in the same VN reaches each other, no pair across VNs does (blue and red share 192.0.2.0/24 and the IPs .11 and .12).")
	} else {
		fmt.Fprintf(stdout, "UNEXPECTED reachability (marked !):\n%s\n", strings.Join(problems, "\n"))
	}
	fmt.Fprintf(stdout, "\nRouted and external (tenant demo, L3 domain prod: r-web and r-db routed; gateway demo-gw on hv3 to inet, SNAT to %s; row pings column's IP):\n%s", demoGatewayExt, l3Table)
	if len(l3Problems) == 0 {
		fmt.Fprintf(stdout, "As intended: the routed pair reaches each other, both reach inet through the gateway (inet sees %s, or rd1's floating IP %s), and from outside only the floating IP answers.\n", demoGatewayExt, demoFloatingIP)
	} else {
		fmt.Fprintf(stdout, "UNEXPECTED (marked !):\n%s\n", strings.Join(l3Problems, "\n"))
	}
	fmt.Fprintf(stdout, `
nva web UI:    %[1]s/   (open it in a browser: the lab's NVEs, tunnels and tenant ports, live)
nva REST API:  %[1]s/api/v1   (topology: %[1]s/api/v1/topology, NVEs: %[1]s/api/v1/nves)
nva log:       %[2]s
Try:           ip netns exec %[3]st-b1 ping 192.0.2.13
               ip netns exec %[3]st-rw1 ping 198.51.100.80   (through the L3 gateway; watch: ip netns exec %[3]sx-inet tcpdump -ni eth0 icmp)
               curl -s %[1]s/api/v1/nves/hv1/flows
               curl -s %[1]s/api/v1/access-links   (hv4 is a split hypervisor behind hv1: a VLAN per VN)
Press Ctrl-C to stop the demo and remove everything.
`, base, n.Proc().Log, l.Prefix)
	if *tlsDir != "" {
		fmt.Fprintf(stdout, `TLS:           OpenFlow and OVSDB over TLS with the certificates in %[1]s (ovs-pki);
               each NVE pins its switch's certificate: nvactl nve get hv1 --server %[2]s
               refused switches: curl -s %[2]s/api/v1/switches/unclaimed
`, *tlsDir, base)
	}
	select {
	case <-ctx.Done():
	case <-n.Proc().Done():
		logger.Printf("nva exited: %v", n.Proc().Err())
	}
	return nil
}

// demoTLS makes (or reuses) the lab PKI in dir — nva's node certificate
// from a cluster CA made with `nva pki` (dir/nva), one certificate per
// hypervisor from ovs-pki's switch CA —, gives every hypervisor's Open vSwitch its certificate (SSL
// table) and OVSDB on pssl:, starts nva with its TLS identity, and
// registers the hypervisors as NVEs with ssl: OVSDB endpoints, each
// pinning its switch's certificate by fingerprint.
func demoTLS(ctx context.Context, l *lab.Lab, bin, api, dir string, logger *log.Logger) (*lab.NVA, *lab.Overlay, error) {
	const ovsdbPort = 6640
	pki, err := lab.NewOVSPKI(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	apiHost, _, _ := net.SplitHostPort(api)
	hosts := []string{"127.0.0.1", l.ControllerIP()}
	if apiHost != "" && apiHost != "127.0.0.1" {
		hosts = append(hosts, apiHost)
	}
	nvaCert, nvaKey, clusterCA, err := lab.NVAPKI(ctx, bin, filepath.Join(dir, "nva"), "nva1", hosts...)
	if err != nil {
		return nil, nil, err
	}
	pins := map[int]string{}
	for _, hv := range l.Hypervisors() {
		cert, key, err := pki.Issue(ctx, hv.Name, "switch")
		if err != nil {
			return nil, nil, err
		}
		c, err := lab.ReadCertificate(cert)
		if err != nil {
			return nil, nil, err
		}
		pins[hv.Index] = model.CertFingerprint(c)
		if err := l.EnableSSL(ctx, hv.Index, cert, key, clusterCA, ovsdbPort); err != nil {
			return nil, nil, err
		}
	}
	logger.Printf("lab PKI in %s: cluster CA %s, switch CA %s", dir, clusterCA, pki.CACert("switch"))
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: bin, APIAddr: api, LogLevel: "info",
		TLS: &lab.NVATLS{Cert: nvaCert, Key: nvaKey, CA: clusterCA, SwitchCA: pki.CACert("switch")}})
	if err != nil {
		return nil, nil, err
	}
	logger.Printf("nva running with TLS (log %s); web UI https://%s/ (cluster CA %s)", n.Proc().Log, n.APIAddr, clusterCA)
	ov := lab.NewOverlayOnly(l, n)
	for _, hv := range l.Hypervisors() {
		if err := ov.AddOVSNVE(ctx, hv.Index, map[string]any{"ovsdb": l.SSLEndpoint(hv.Index, ovsdbPort),
			"switch_identity": map[string]string{"fingerprint": pins[hv.Index]}}, 30*time.Second); err != nil {
			return nil, nil, err
		}
		logger.Printf("NVE %s: OVSDB %s, switch certificate pinned %s", hv.Name, l.SSLEndpoint(hv.Index, ovsdbPort), pins[hv.Index])
	}
	return n, ov, nil
}

func demoDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root")
	}
	found, err := lab.StopOwner(demoPidfile(), 30*time.Second)
	if err != nil {
		return err
	}
	if found {
		fmt.Fprintln(stdout, "stopped the running demo")
	}
	if err := lab.Sweep(ctx, func(f string, a ...any) { fmt.Fprintf(stdout, f+"\n", a...) }); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "no demo lab left")
	return nil
}
