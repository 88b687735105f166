package ovsdb

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// Tunnel types nva configures. They are the OVS interface types of the same
// names.
const (
	TunnelVXLAN  = "vxlan"
	TunnelGENEVE = "geneve"
	TunnelGRE    = "gre"
)

// Datapath types.
const (
	DatapathSystem = "system"
	DatapathNetdev = "netdev"
)

// Controller row settings nva enforces on every controller target it manages.
const (
	// ControllerInactivityProbeMS is the OpenFlow inactivity probe interval:
	// OVS's default, written explicitly so a hand-edited 0 (disabled) or a
	// huge value is repaired.
	ControllerInactivityProbeMS = 5000
	// ControllerMaxBackoffMS bounds OVS's reconnect backoff towards nva so a
	// restarted controller is reconnected within about a second instead of
	// OVS's default of up to 8 s.
	ControllerMaxBackoffMS = 1000
)

// External-ID keys nva writes.
const (
	// OwnedKey marks a row nva inserted (value "true"); Remove deletes only
	// such rows.
	OwnedKey = "nva-owned"
	// origPrefix prefixes the keys that record a pre-existing bridge's
	// settings before nva first changed them.
	origPrefix          = "nva-orig-"
	origFailMode        = origPrefix + "fail-mode"
	origProtocols       = origPrefix + "protocols"
	origDatapathType    = origPrefix + "datapath-type"
	origDatapathID      = origPrefix + "datapath-id"
	origControllers     = origPrefix + "controllers"
	datapathIDConfigKey = "datapath-id"
)

// Tunnel is one tunnel port on the bridge, created with options key=flow so
// the OpenFlow pipeline sets the VNI (tun_id) per flow. Without RemoteIP it
// is a flow-based port (remote_ip=flow: the pipeline also chooses the
// remote VTEP per flow, with the Nicira tun_dst), one per encapsulation in
// use. With RemoteIP it is a per-remote port (remote_ip=RemoteIP), one per
// remote NVE: what a switch run with the strict OpenFlow 1.3 profile,
// which has no standard tunnel destination field, outputs to.
type Tunnel struct {
	Name     string            // port and interface name, e.g. "nva-vxlan" or "nvxc6120002"
	Type     string            // vxlan | geneve | gre
	LocalIP  string            // optional options:local_ip (underlay source address)
	RemoteIP string            // per-remote port: options:remote_ip (empty: remote_ip=flow)
	Options  map[string]string // optional extra interface options (e.g. dst_port); may not override remote_ip, key or local_ip
	// BFD is the interface's bfd column (e.g. enable=true, min_tx=100):
	// set exactly, for a per-remote port only (BFD needs a fixed
	// remote_ip); nil or empty: none.
	BFD map[string]string
}

// Desired is what nva wants on one NVE's Open vSwitch.
type Desired struct {
	NVE          string      // NVE name, for logs and status
	Endpoint     string      // OVSDB endpoint: unix:PATH | tcp:HOST:PORT | ssl:HOST:PORT
	Bridge       string      // integration bridge, e.g. br-int
	DatapathType string      // system | netdev (empty: leave the bridge's value; "system" on creation)
	DatapathID   string      // 16 hex digits -> other_config:datapath-id (empty: not managed)
	Controllers  []string    // OpenFlow targets, e.g. "tcp:198.18.255.1:6653": exactly these are set
	Tunnels      []Tunnel    // flow-based: one per encapsulation in use; per-remote: one per remote NVE
	Interfaces   []string    // VAP interfaces that must be ports on the bridge (added as system ports if absent)
	TLS          *tls.Config // client TLS configuration for ssl: endpoints; a different pointer reconnects
	// SwitchIdentity is the NVE's certificate pin: with WithClientTLS, an
	// ssl: server must present a matching certificate (tls.go).
	SwitchIdentity *model.SwitchIdentity
}

// validIfName reports whether s is 1-15 characters of letters, digits
// and _ . : @ - (an interface name OVS and Linux accept).
func validIfName(s string) bool { return validChars(s, 1, 15, "_.:@-", true) }

// validBridgeName reports whether s is 1-15 characters of letters, digits
// and _ . -.
func validBridgeName(s string) bool { return validChars(s, 1, 15, "_.-", true) }

// validDatapathID reports whether s is 16 hexadecimal digits.
func validDatapathID(s string) bool { return validChars(s, 16, 16, "abcdefABCDEF", false) }

// validChars reports whether s has min to max bytes, each an ASCII digit,
// a letter (if letters) or one of extra. (Validate runs on every desired
// state handed to the manager: 1,000 of them after a restart.)
func validChars(s string, min, max int, extra string, letters bool) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case letters && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'):
		case strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// reservedOptions are the tunnel options nva sets itself.
var reservedOptions = []string{"remote_ip", "key", "local_ip"}

// Validate reports every problem with d, naming the field at fault.
func (d Desired) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if d.NVE == "" {
		bad("nve", "must not be empty")
	}
	if err := validateEndpoint(d.Endpoint); err != nil {
		bad("endpoint", "%v", err)
	} else if strings.HasPrefix(d.Endpoint, "ssl:") && d.TLS == nil {
		bad("tls", "an ssl: endpoint needs a TLS configuration (nva needs a TLS identity: its certificate, key and CA)")
	}
	if !validBridgeName(d.Bridge) {
		bad("bridge", "%q is not a valid bridge name (1-15 characters of letters, digits, _ . -)", d.Bridge)
	}
	switch d.DatapathType {
	case "", DatapathSystem, DatapathNetdev:
	default:
		bad("datapath_type", "%q is not one of system, netdev", d.DatapathType)
	}
	if d.DatapathID != "" && !validDatapathID(d.DatapathID) {
		bad("datapath_id", "%q is not 16 hexadecimal digits", d.DatapathID)
	}
	seenCtl := map[string]bool{}
	for i, c := range d.Controllers {
		if err := validateControllerTarget(c); err != nil {
			bad(fmt.Sprintf("controllers[%d]", i), "%v", err)
		}
		if seenCtl[c] {
			bad(fmt.Sprintf("controllers[%d]", i), "duplicate target %q", c)
		}
		seenCtl[c] = true
	}
	names := make(map[string]string, 1+len(d.Tunnels)+len(d.Interfaces))
	names[d.Bridge] = "bridge"
	seenType := map[string]bool{}
	seenRemote := map[string]string{} // type + remote IP -> the tunnel with it
	for i, t := range d.Tunnels {
		f := "tunnels[" + strconv.Itoa(i) + "]"
		if !validIfName(t.Name) {
			bad(f+".name", "%q is not a valid interface name", t.Name)
		} else if other, dup := names[t.Name]; dup {
			bad(f+".name", "%q is already used by %s", t.Name, other)
		}
		names[t.Name] = f
		switch t.Type {
		case TunnelVXLAN, TunnelGENEVE, TunnelGRE:
		default:
			bad(f+".type", "%q is not one of vxlan, geneve, gre", t.Type)
		}
		if t.RemoteIP == "" {
			if seenType[t.Type] {
				bad(f+".type", "a flow-based %s tunnel is already listed (one port per encapsulation)", t.Type)
			}
			seenType[t.Type] = true
		} else if a, err := netip.ParseAddr(t.RemoteIP); err != nil || a.IsUnspecified() || a.IsMulticast() {
			bad(f+".remote_ip", "%q is not a unicast IP address", t.RemoteIP)
		} else if other, dup := seenRemote[t.Type+" "+t.LocalIP+" "+a.String()]; dup {
			bad(f+".remote_ip", "%s already tunnels (%s) to %s", other, t.Type, a)
		} else {
			// (one port per local and remote address: multihomed NVEs
			// have one per path)
			seenRemote[t.Type+" "+t.LocalIP+" "+a.String()] = f
		}
		if t.LocalIP != "" {
			if _, err := netip.ParseAddr(t.LocalIP); err != nil {
				bad(f+".local_ip", "%q is not an IP address", t.LocalIP)
			}
		}
		if len(t.BFD) > 0 && t.RemoteIP == "" {
			bad(f+".bfd", "BFD needs a per-remote port (a fixed remote_ip), not a flow-based one")
		}
		for k := range t.Options {
			if slices.Contains(reservedOptions, k) {
				bad(f+".options", "%q is set by nva and may not be overridden", k)
			}
		}
	}
	for i, n := range d.Interfaces {
		f := "interfaces[" + strconv.Itoa(i) + "]"
		if !validIfName(n) {
			bad(f, "%q is not a valid interface name", n)
		} else if other, dup := names[n]; dup {
			bad(f, "%q is already used by %s", n, other)
		}
		names[n] = f
	}
	return errors.Join(errs...)
}

// validateEndpoint checks an OVSDB endpoint: unix:PATH, tcp:HOST:PORT or
// ssl:HOST:PORT.
func validateEndpoint(ep string) error {
	return validateTarget(ep, "unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT")
}

// validateControllerTarget accepts the active OpenFlow connection methods of
// ovs-vswitchd: tcp:HOST:PORT, ssl:HOST:PORT and unix:PATH. OVS writes IPv6
// hosts in brackets, which SplitHostPort accepts.
func validateControllerTarget(t string) error {
	return validateTarget(t, "tcp:HOST:PORT, ssl:HOST:PORT or unix:PATH")
}

// validateTarget checks the unix:/tcp:/ssl: connection forms OVS shares
// between its database and OpenFlow connections; forms names them in errors.
func validateTarget(t, forms string) error {
	scheme, rest, ok := strings.Cut(t, ":")
	if !ok || rest == "" {
		return fmt.Errorf("%q is not %s", t, forms)
	}
	switch scheme {
	case "unix":
		return nil
	case "tcp", "ssl":
		return validateHostPort(rest)
	default:
		return fmt.Errorf("%q: unsupported scheme %q (want unix, tcp or ssl)", t, scheme)
	}
}

func validateHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q: %v", hp, err)
	}
	if host == "" {
		return fmt.Errorf("%q: missing host", hp)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: bad port %q", hp, port)
	}
	return nil
}

// tunnelOptions is the exact options map nva wants on a tunnel interface.
func (t Tunnel) tunnelOptions() map[string]string {
	o := make(map[string]string, len(t.Options)+3)
	for k, v := range t.Options {
		o[k] = v
	}
	o["remote_ip"] = "flow"
	if t.RemoteIP != "" {
		o["remote_ip"] = t.RemoteIP
	}
	o["key"] = "flow"
	if t.LocalIP != "" {
		o["local_ip"] = t.LocalIP
	}
	return o
}
