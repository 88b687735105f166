package lab

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// VNSpec is a virtual network to create through nva's API.
type VNSpec struct {
	Name  string
	VNI   uint32
	Encap string // vxlan, geneve, gre
}

// TenantSpec is a tenant system and its nva port (same name).
type TenantSpec struct {
	Name   string
	VN     string
	HV     int    // hypervisor index
	IP     string // without prefix length
	Prefix int    // prefix length of the tenant subnet (24 if 0)
	IP6    string // optional IPv6 address (without prefix length; /64)
	MAC    string
	// AttachBridge, when set, is the bridge AddTenant adds the tenant's
	// interface to itself before creating its port (for an NVE whose
	// OVSDB nva does not manage, e.g. kind openflow); empty leaves that
	// to nva's OVSDB manager.
	AttachBridge string
	// NVE names where the tenant attaches when that is not hypervisor
	// HV (a bare-metal host behind a VTEP: the VTEP's name).
	NVE string
}

// Overlay is a lab whose NVEs, VNs and ports were created through nva's
// REST API.
type Overlay struct {
	Lab *Lab
	NVA *NVA
	// RealizeTimeout is the ?timeout= of every write (30 s by default).
	RealizeTimeout time.Duration

	mu      sync.Mutex
	vns     map[string]VNSpec
	tenants map[string]TenantSpec
	order   []string
}

// NewOverlay registers the lab's hypervisors as NVEs of nva (kind ovs,
// their OVSDB sockets, br-int, userspace datapath) and waits up to
// bridgeWait for nva's OVSDB manager to create br-int on each.
func NewOverlay(ctx context.Context, l *Lab, n *NVA, bridgeWait time.Duration) (*Overlay, error) {
	o := &Overlay{Lab: l, NVA: n, RealizeTimeout: 30 * time.Second, vns: map[string]VNSpec{}, tenants: map[string]TenantSpec{}}
	for _, hv := range l.Hypervisors() {
		if err := o.Post(ctx, "/api/v1/nves", map[string]any{
			"name":          hv.Name,
			"kind":          "ovs",
			"underlay_ips":  []string{hv.UnderlayIP.String()},
			"ovsdb":         l.OVSDBSocket(hv.Index),
			"bridge":        IntegrationBridge,
			"datapath_type": "netdev",
		}); err != nil {
			return nil, err
		}
	}
	var missing []string
	err := WaitFor(ctx, bridgeWait, 100*time.Millisecond, func() (bool, error) {
		missing = nil
		for _, hv := range l.Hypervisors() {
			if _, err := l.Vsctl(ctx, hv.Index, "br-exists", IntegrationBridge); err != nil {
				missing = append(missing, hv.Name)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab: nva did not create %s on %v: %w", IntegrationBridge, missing, err)
	}
	return o, nil
}

// Post creates an object through the API and waits for its realization.
func (o *Overlay) Post(ctx context.Context, path string, body any) error {
	_, err := o.NVA.Client.Do(ctx, http.MethodPost, Realized(path, o.RealizeTimeout), body, nil)
	return err
}

// Patch changes an object through the API and waits for its realization.
func (o *Overlay) Patch(ctx context.Context, path string, body any) error {
	_, err := o.NVA.Client.Do(ctx, http.MethodPatch, Realized(path, o.RealizeTimeout), body, nil)
	return err
}

// AddVN creates a VN.
func (o *Overlay) AddVN(ctx context.Context, v VNSpec) error {
	if err := o.Post(ctx, "/api/v1/vns", map[string]any{"name": v.Name, "vni": v.VNI, "encap": v.Encap}); err != nil {
		return err
	}
	o.mu.Lock()
	o.vns[v.Name] = v
	o.mu.Unlock()
	return nil
}

// AddTenant creates the tenant system in the lab and its port through the
// API; nva attaches the interface to br-int.
func (o *Overlay) AddTenant(ctx context.Context, ts TenantSpec) error {
	if ts.Prefix == 0 {
		ts.Prefix = 24
	}
	addrs := []string{fmt.Sprintf("%s/%d", ts.IP, ts.Prefix)}
	ips := []string{ts.IP}
	if ts.IP6 != "" {
		addrs = append(addrs, ts.IP6+"/64")
		ips = append(ips, ts.IP6)
	}
	if _, err := o.Lab.AddTenant(ctx, ts.HV, ts.Name, ts.MAC, addrs, 0); err != nil {
		return err
	}
	if ts.AttachBridge != "" {
		if _, err := o.Lab.AttachTenant(ctx, ts.Name, ts.AttachBridge); err != nil {
			return err
		}
	}
	if err := o.Post(ctx, "/api/v1/ports", map[string]any{
		"name":      ts.Name,
		"vn":        ts.VN,
		"nve":       fmt.Sprintf("hv%d", ts.HV),
		"interface": "vm-" + ts.Name,
		"mac":       ts.MAC,
		"ips":       ips,
	}); err != nil {
		return err
	}
	o.mu.Lock()
	o.tenants[ts.Name] = ts
	o.order = append(o.order, ts.Name)
	o.mu.Unlock()
	return nil
}

// MoveTenant migrates a tenant system to hypervisor hv: the lab moves its
// veth, then its port is PATCHed to the new NVE and interface. It returns
// how long the PATCH took to be realized and the time the write started.
func (o *Overlay) MoveTenant(ctx context.Context, name string, hv int) (start time.Time, realized time.Duration, err error) {
	ts, ok := o.TenantSpec(name)
	if !ok {
		return time.Time{}, 0, fmt.Errorf("lab: no tenant %s", name)
	}
	if err := o.Lab.MoveTenant(ctx, name, hv); err != nil {
		return time.Time{}, 0, err
	}
	start = time.Now()
	if err := o.Patch(ctx, "/api/v1/ports/"+name, map[string]any{"nve": fmt.Sprintf("hv%d", hv), "interface": "vm-" + name}); err != nil {
		return start, 0, err
	}
	realized = time.Since(start)
	o.mu.Lock()
	ts.HV = hv
	o.tenants[name] = ts
	o.mu.Unlock()
	return start, realized, nil
}

// TenantSpec returns a tenant's spec.
func (o *Overlay) TenantSpec(name string) (TenantSpec, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ts, ok := o.tenants[name]
	return ts, ok
}

// VN returns a VN's spec.
func (o *Overlay) VN(name string) VNSpec {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.vns[name]
}

// TenantNames returns the tenants in creation order.
func (o *Overlay) TenantNames() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.order...)
}

// Owner returns the tenant of vn that has ip, or "".
func (o *Overlay) Owner(vn, ip string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.order {
		if ts := o.tenants[n]; ts.VN == vn && ts.IP == ip {
			return n
		}
	}
	return ""
}

// ExpectReach checks that tenant from reaches ip within timeout and that
// the answer came from the tenant of from's VN that owns ip (by the MAC
// from resolved ip to). It returns the time to the first reply.
func (o *Overlay) ExpectReach(ctx context.Context, from, ip string, timeout time.Duration) (time.Duration, error) {
	d, err := o.Lab.Reachable(ctx, from, ip, timeout)
	if err != nil {
		return 0, err
	}
	src, _ := o.TenantSpec(from)
	want := o.Owner(src.VN, ip)
	n, err := o.Lab.Neighbor(ctx, from, ip)
	if err != nil {
		return d, err
	}
	if want == "" {
		return d, fmt.Errorf("%s (%s) reached %s, which no tenant of %s has (neighbour %q)", from, src.VN, ip, src.VN, n)
	}
	wt, _ := o.TenantSpec(want)
	if !strings.Contains(n, wt.MAC) {
		return d, fmt.Errorf("%s reached %s but resolved it to %q; want %s's MAC %s", from, ip, n, want, wt.MAC)
	}
	return d, nil
}

// Cell is one entry of a reachability matrix: whether From pinging To's IP
// got To's own answer.
type Cell struct {
	From, To string
	Want     bool  // same VN
	Reached  bool  // To answered (not another tenant with the same IP)
	Err      error // why the outcome is not what was wanted, if it is not
	Note     string
}

// Matrix pings every ordered pair of the named tenants (in parallel,
// a few at a time) and reports, for each, whether the pair reached each
// other: same-VN pairs must (with the answer from the right MAC),
// cross-VN pairs must not. A cross-VN pair whose IP also exists in the
// sender's VN reaches that other tenant, which does not count as reaching
// To.
func (o *Overlay) Matrix(ctx context.Context, names []string, timeout time.Duration) []Cell {
	var cells []Cell
	for _, a := range names {
		for _, b := range names {
			if a != b {
				cells = append(cells, Cell{From: a, To: b})
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for i := range cells {
		wg.Add(1)
		go func(c *Cell) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ta, _ := o.TenantSpec(c.From)
			tb, _ := o.TenantSpec(c.To)
			c.Want = ta.VN == tb.VN
			switch {
			case c.Want:
				_, c.Err = o.ExpectReach(ctx, c.From, tb.IP, timeout)
				c.Reached = c.Err == nil
			case o.Owner(ta.VN, tb.IP) == c.From:
				// To has From's own IP in another VN: From's own stack
				// answers; nothing can reach To.
				c.Note = "own IP"
			case o.Owner(ta.VN, tb.IP) != "":
				if _, err := o.ExpectReach(ctx, c.From, tb.IP, timeout); err != nil {
					c.Err = fmt.Errorf("%s cannot reach its own VN's %s: %w", c.From, tb.IP, err)
				}
				if n, _ := o.Lab.Neighbor(ctx, c.From, tb.IP); strings.Contains(n, tb.MAC) {
					c.Reached = true
					c.Err = fmt.Errorf("%s resolved %s to %s's MAC across VNs: %s", c.From, tb.IP, c.To, n)
				}
			default:
				r, err := o.Lab.Ping(ctx, c.From, tb.IP, 2)
				c.Reached = err == nil && r.Received > 0
				if err != nil {
					c.Err = err
				} else if c.Reached {
					c.Err = fmt.Errorf("%s (%s) reached %s (%s) across VNs: %v", c.From, ta.VN, c.To, tb.VN, r)
				}
			}
		}(&cells[i])
	}
	wg.Wait()
	return cells
}

// FormatMatrix renders cells as a table: rows ping columns; "yes" reached,
// "no" did not, "!" marks an outcome other than the wanted one.
func (o *Overlay) FormatMatrix(names []string, cells []Cell) string {
	idx := map[[2]string]Cell{}
	for _, c := range cells {
		idx[[2]string{c.From, c.To}] = c
	}
	label := func(n string) string {
		ts, _ := o.TenantSpec(n)
		if ts.NVE != "" {
			return fmt.Sprintf("%s/%s@%s", n, ts.VN, ts.NVE)
		}
		return fmt.Sprintf("%s/%s@hv%d", n, ts.VN, ts.HV)
	}
	w := 0
	for _, n := range names {
		if l := len(label(n)); l > w {
			w = l
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s", w+2, "from \\ to")
	for _, n := range names {
		fmt.Fprintf(&b, " %-6s", n)
	}
	b.WriteString("\n")
	for _, a := range names {
		fmt.Fprintf(&b, "%-*s", w+2, label(a))
		for _, bn := range names {
			mark := "·"
			if a != bn {
				c := idx[[2]string{a, bn}]
				mark = "no"
				if c.Reached {
					mark = "yes"
				}
				if c.Reached != c.Want || c.Err != nil {
					mark += "!"
				}
			}
			fmt.Fprintf(&b, " %-6s", mark)
		}
		b.WriteString("\n")
	}
	return b.String()
}
