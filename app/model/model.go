package model

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Service is the kind of overlay service a VN offers (RFC 8014 §3.1).
type Service string

const (
	ServiceL2   Service = "l2"
	ServiceL3   Service = "l3"
	ServiceL2L3 Service = "l2l3"
)

// Encap is the data-plane encapsulation a VN uses between NVEs (§10-11).
type Encap string

const (
	EncapVXLAN  Encap = "vxlan"
	EncapGENEVE Encap = "geneve"
	EncapGRE    Encap = "gre"
)

// Encaps lists every encapsulation, in a fixed order.
var Encaps = []Encap{EncapVXLAN, EncapGENEVE, EncapGRE}

// BUMMode is how broadcast, unknown-unicast and multicast frames reach the
// other NVEs of a VN (§4.3): head-end replication, two-tier replication
// through replicator NVEs, or underlay multicast (bum.go).
type BUMMode string

const (
	BUMReplicate  BUMMode = "replicate"
	BUMReplicator BUMMode = "replicator"
	BUMMulticast  BUMMode = "multicast"
)

// UnknownPolicy is what an NVE does with an ARP request or neighbor
// solicitation for an address nva does not know in the VN (§5.5).
type UnknownPolicy string

const (
	UnknownFlood UnknownPolicy = "flood"
	UnknownDrop  UnknownPolicy = "drop"
)

// MaxVNI is the largest 24-bit virtual network context identifier.
const MaxVNI = 1<<24 - 1

// BUM configures BUM delivery for a VN.
type BUM struct {
	Mode  BUMMode `json:"mode"`
	Group string  `json:"group,omitempty"` // underlay multicast group, with Mode multicast
	// Replicators names the replicator NVEs, with Mode replicator.
	Replicators []string `json:"replicators,omitempty"`
}

// VN is a virtual network instance.
type VN struct {
	Name    string        `json:"name"`
	VNI     uint32        `json:"vni"`
	Service Service       `json:"service"`
	Encap   Encap         `json:"encap"`
	BUM     BUM           `json:"bum"`
	Tenant  string        `json:"tenant,omitempty"`
	MTU     int           `json:"mtu,omitempty"`
	Unknown UnknownPolicy `json:"unknown_arp"` // ARP/ND for unknown targets: flood (default) or drop
	// Subnets and L3Domain are the VN's L3 service (see l3.go).
	Subnets  []Subnet `json:"subnets,omitempty"`
	L3Domain string   `json:"l3_domain,omitempty"`
	// Revision is the store (Raft) index of the last change; set by the store.
	Revision uint64 `json:"revision,omitempty"`
}

// NVEKind is the kind of network virtualization edge.
type NVEKind string

const (
	// NVEOVS is a hypervisor Open vSwitch, managed over OVSDB and OpenFlow
	// with Nicira extensions.
	NVEOVS NVEKind = "ovs"
	// NVEOpenFlow is a hardware OpenFlow 1.3 switch (standard OF1.3 only).
	NVEOpenFlow NVEKind = "openflow"
)

// Switch profiles an NVE may name in its Profile field to force one; the
// profiles themselves (tables, what the switch may be sent) are
// app/pipeline's.
const (
	// ProfileOVS is Open vSwitch with Nicira extensions and flow-based
	// tunnel ports (the default of kind ovs).
	ProfileOVS = "ovs"
	// ProfileStrict is standard OpenFlow 1.3 only, with one tunnel port
	// per remote NVE (the default of kind openflow).
	ProfileStrict = "openflow13"
)

// Profiles lists the profile names NVE.Profile accepts ("" as well: the
// kind's default).
var Profiles = []string{ProfileOVS, ProfileStrict}

// NVE is a network virtualization edge: a hypervisor vswitch or a ToR switch.
type NVE struct {
	Name         string   `json:"name"`
	Kind         NVEKind  `json:"kind"`
	UnderlayIPs  []string `json:"underlay_ips"`
	OVSDB        string   `json:"ovsdb,omitempty"`
	Bridge       string   `json:"bridge,omitempty"`
	DatapathType string   `json:"datapath_type,omitempty"`
	// DatapathID is 16 lowercase hex digits; assigned by nva for ovs NVEs,
	// given by the user for openflow NVEs.
	DatapathID string `json:"datapath_id,omitempty"`
	// Profile forces the switch profile the NVE is compiled for ("": the
	// kind's default, ovs for kind ovs and openflow13 for kind openflow).
	// An Open vSwitch run as a strict OpenFlow 1.3 switch is kind ovs
	// (nva keeps managing it over OVSDB) with profile openflow13.
	Profile string `json:"profile,omitempty"`
	// TableIDs pins table numbers by the profile's table names, for
	// switches whose tables are fixed; tables not named keep the
	// profile's numbers. The store checks it against the profile.
	TableIDs map[string]uint8 `json:"table_ids,omitempty"`
	// TunnelPorts names, by remote underlay IP, the port on this switch
	// that tunnels to the NVE with that IP: an explicit override of the
	// naming convention (compiler.RemoteTunnelPortName) for profiles
	// without flow-based tunnels.
	TunnelPorts map[string]string `json:"tunnel_ports,omitempty"`
	// SwitchIdentity pins the certificate the NVE's switch must present
	// (identity.go); nil: any certificate the switch CA signed.
	SwitchIdentity *SwitchIdentity `json:"switch_identity,omitempty"`
	Revision       uint64          `json:"revision,omitempty"`
}

// Port is a tenant system interface attached to a VN through a VAP on an NVE.
type Port struct {
	Name      string   `json:"name"`
	VN        string   `json:"vn"`
	NVE       string   `json:"nve"`
	Interface string   `json:"interface"`
	MAC       string   `json:"mac"`
	IPs       []string `json:"ips,omitempty"`
	VLAN      int      `json:"vlan,omitempty"` // 0 = untagged
	// Pair names the port that attaches the same tenant system to another
	// NVE (dual-homing, bum.go): same VN, MAC and IPs, another NVE.
	Pair     string `json:"pair,omitempty"`
	Revision uint64 `json:"revision,omitempty"`

	// parsed is MAC and IPs as typed values, filled by Parse (the store
	// calls it when it stores a port). Unexported, so never serialized.
	parsed *portAddrs
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ValidName reports whether s can name a VN, NVE or port: 1-63 characters,
// letters, digits, '_', '.', '-', starting with a letter or digit.
func ValidName(s string) bool { return nameRE.MatchString(s) }

func checkName(fe *FieldErrors, s string) {
	switch {
	case s == "":
		fe.Add("name", "is required")
	case !ValidName(s):
		fe.Add("name", "must be 1-63 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
}

// Defaults fills the VN's omitted fields. VNI allocation is the store's job.
func (v *VN) Defaults() {
	if v.Service == "" {
		v.Service = ServiceL2
	}
	if v.Encap == "" {
		v.Encap = EncapVXLAN
	}
	if v.BUM.Mode == "" {
		v.BUM.Mode = BUMReplicate
	}
	if v.Unknown == "" {
		v.Unknown = UnknownFlood
	}
	v.defaultsL3()
}

// Validate checks a defaulted VN. A VNI of 0 means "allocate" and is allowed.
func (v *VN) Validate() error {
	var fe FieldErrors
	checkName(&fe, v.Name)
	if v.VNI > MaxVNI {
		fe.Add("vni", "must be between 1 and %d", MaxVNI)
	}
	switch v.Service {
	case ServiceL2, ServiceL3, ServiceL2L3:
	default:
		fe.Add("service", "must be one of l2, l3, l2l3")
	}
	switch v.Encap {
	case EncapVXLAN, EncapGENEVE, EncapGRE:
	default:
		fe.Add("encap", "must be one of vxlan, geneve, gre")
	}
	v.BUM.validate(&fe)
	if v.MTU != 0 && (v.MTU < 576 || v.MTU > 9000) {
		fe.Add("mtu", "must be between 576 and 9000 (or 0 for the default)")
	}
	if v.Tenant != "" && !ValidName(v.Tenant) {
		fe.Add("tenant", "must be 1-63 characters of letters, digits, '_', '.', '-'")
	}
	switch v.Unknown {
	case UnknownFlood, UnknownDrop:
	default:
		fe.Add("unknown_arp", "must be one of flood, drop")
	}
	v.validateL3(&fe)
	return fe.Err()
}

// Defaults fills the NVE's omitted fields. Datapath ID assignment is the
// store's job.
func (n *NVE) Defaults() {
	if n.Kind == "" {
		n.Kind = NVEOVS
	}
	if n.Kind == NVEOVS {
		if n.Bridge == "" {
			n.Bridge = "br-int"
		}
		if n.DatapathType == "" {
			n.DatapathType = "system"
		}
	}
	if n.DatapathID != "" {
		if d, err := ParseDatapathID(n.DatapathID); err == nil {
			n.DatapathID = FormatDatapathID(d)
		}
	}
	for i, ip := range n.UnderlayIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			n.UnderlayIPs[i] = a.String()
		}
	}
	if len(n.TunnelPorts) > 0 {
		tp := make(map[string]string, len(n.TunnelPorts))
		for ip, port := range n.TunnelPorts {
			// IPv4 text has one canonical form, so only IPv6 spellings
			// (which Validate refuses) can collide here.
			if a, err := netip.ParseAddr(ip); err == nil {
				ip = a.String()
			}
			tp[ip] = port
		}
		n.TunnelPorts = tp
	}
	if n.TableIDs != nil && len(n.TableIDs) == 0 {
		n.TableIDs = nil
	}
	if n.TunnelPorts != nil && len(n.TunnelPorts) == 0 {
		n.TunnelPorts = nil
	}
	if n.SwitchIdentity != nil {
		id := *n.SwitchIdentity // the caller's pin stays as given
		id.normalize()
		n.SwitchIdentity = &id
	}
}

// TunnelPortFor returns the port name TunnelPorts gives for a remote NVE
// (the first of its underlay IPs that has an entry).
func (n *NVE) TunnelPortFor(remote *NVE) (name, remoteIP string, ok bool) {
	for _, ip := range remote.UnderlayIPs {
		if p, ok := n.TunnelPorts[ip]; ok {
			return p, ip, true
		}
	}
	return "", "", false
}

var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)

// ofPortNameRE: an OpenFlow port name is at most 15 bytes (16 with the
// NUL); hardware switches use names like "Ethernet1/3".
var ofPortNameRE = regexp.MustCompile(`^[\x21-\x7e]{1,15}$`)

// Validate checks a defaulted NVE.
func (n *NVE) Validate() error {
	var fe FieldErrors
	checkName(&fe, n.Name)
	switch n.Kind {
	case NVEOVS, NVEOpenFlow:
	default:
		fe.Add("kind", "must be one of ovs, openflow")
	}
	if len(n.UnderlayIPs) == 0 {
		fe.Add("underlay_ips", "at least one underlay IP is required")
	}
	seen := map[string]bool{}
	for i, ip := range n.UnderlayIPs {
		f := fmt.Sprintf("underlay_ips[%d]", i)
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			fe.Add(f, "%q is not an IP address", ip)
		case !a.Is4():
			fe.Add(f, "must be an IPv4 address (the tunnel ports use IPv4 underlays)")
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
			fe.Add(f, "must be a unicast address")
		case seen[a.String()]:
			fe.Add(f, "duplicate address %s", a)
		}
		if err == nil {
			seen[a.String()] = true
		}
	}
	if n.Kind == NVEOVS {
		if n.OVSDB == "" {
			fe.Add("ovsdb", "is required for kind ovs (unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT)")
		} else if err := ValidateOVSDBEndpoint(n.OVSDB); err != nil {
			fe.Add("ovsdb", "%v", err)
		}
		if !ifaceRE.MatchString(n.Bridge) {
			fe.Add("bridge", "must be a valid bridge name (1-15 characters)")
		}
		switch n.DatapathType {
		case "system", "netdev":
		default:
			fe.Add("datapath_type", "must be one of system, netdev")
		}
	} else if n.Kind == NVEOpenFlow {
		if n.DatapathID == "" {
			fe.Add("datapath_id", "is required for kind openflow")
		}
		// An openflow NVE is reached over OpenFlow only: nva manages no
		// bridge on it, so these would be stored and never used.
		if n.OVSDB != "" {
			fe.Add("ovsdb", "is only allowed for kind ovs")
		}
		if n.Bridge != "" {
			fe.Add("bridge", "is only allowed for kind ovs (nva manages no bridge on an openflow switch)")
		}
		if n.DatapathType != "" {
			fe.Add("datapath_type", "is only allowed for kind ovs (nva manages no bridge on an openflow switch)")
		}
	}
	if n.DatapathID != "" {
		if d, err := ParseDatapathID(n.DatapathID); err != nil {
			fe.Add("datapath_id", "%v", err)
		} else if d == 0 {
			fe.Add("datapath_id", "must not be zero")
		}
	}
	if n.Profile != "" && !slices.Contains(Profiles, n.Profile) {
		fe.Add("profile", "must be one of %s (or empty for the kind's default)", strings.Join(Profiles, ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(n.TableIDs)) {
		f := "table_ids." + name
		if name == "" {
			f = "table_ids"
		}
		switch no := n.TableIDs[name]; {
		case name == "":
			fe.Add(f, "a table name must not be empty")
		case no > MaxTableID:
			fe.Add(f, "table %d is not a flow table (0-%d)", no, MaxTableID)
		}
	}
	ports := map[string]string{}
	for _, ip := range slices.Sorted(maps.Keys(n.TunnelPorts)) {
		port := n.TunnelPorts[ip]
		f := "tunnel_ports." + ip
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			fe.Add(f, "%q is not an IP address (keys are remote NVEs' underlay IPs)", ip)
		case !a.Is4():
			fe.Add(f, "must be an IPv4 address (the tunnel ports use IPv4 underlays)")
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
			fe.Add(f, "must be a unicast address")
		case slices.Contains(n.UnderlayIPs, ip):
			fe.Add(f, "%s is this NVE's own underlay IP", ip)
		}
		switch {
		case !ofPortNameRE.MatchString(port):
			fe.Add(f, "%q is not an OpenFlow port name (1-15 printable ASCII characters, no spaces)", port)
		case n.Kind == NVEOVS && !ifaceRE.MatchString(port):
			fe.Add(f, "%q is not an interface name nva can create on Open vSwitch (1-15 characters of letters, digits, '_', '.', ':', '-')", port)
		case ports[port] != "":
			fe.Add(f, "port %s already tunnels to %s (one port per remote)", port, ports[port])
		}
		ports[port] = ip
	}
	n.SwitchIdentity.validate(&fe)
	return fe.Err()
}

// MaxTableID is the largest OpenFlow flow table number (255 is
// OFPTT_ALL).
const MaxTableID = 254

// ValidateOVSDBEndpoint checks unix:PATH, tcp:HOST:PORT, ssl:HOST:PORT.
func ValidateOVSDBEndpoint(ep string) error {
	proto, rest, ok := strings.Cut(ep, ":")
	if !ok || rest == "" {
		return fmt.Errorf("%q must be unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", ep)
	}
	switch proto {
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return fmt.Errorf("unix socket path %q must be absolute", rest)
		}
	case "tcp", "ssl":
		host, port, err := net.SplitHostPort(rest)
		if err != nil || host == "" {
			return fmt.Errorf("%q must be %s:HOST:PORT", ep, proto)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("port %q must be 1-65535", port)
		}
	default:
		return fmt.Errorf("%q must be unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", ep)
	}
	return nil
}

// ParseDatapathID accepts 16 hex digits, optionally with a 0x prefix or
// colons between bytes.
func ParseDatapathID(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x"))
	if t == "" || len(t) > 16 {
		return 0, fmt.Errorf("%q must be at most 16 hex digits", s)
	}
	d, err := strconv.ParseUint(t, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a hex datapath ID", s)
	}
	return d, nil
}

// FormatDatapathID renders a datapath ID as 16 lowercase hex digits, the
// form OVS's other_config:datapath-id takes.
func FormatDatapathID(d uint64) string { return fmt.Sprintf("%016x", d) }

// DPID returns the NVE's datapath ID as a number (0 if unset or invalid).
func (n *NVE) DPID() uint64 {
	d, _ := ParseDatapathID(n.DatapathID)
	return d
}

// Defaults normalizes the port's MAC and IPs to canonical text.
func (p *Port) Defaults() {
	if m, err := net.ParseMAC(p.MAC); err == nil && len(m) == 6 {
		p.MAC = m.String()
	}
	for i, ip := range p.IPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			p.IPs[i] = a.Unmap().String()
		}
	}
}

// Validate checks a defaulted port on its own; references to the VN and
// NVE and uniqueness within the VN are checked by the store.
func (p *Port) Validate() error {
	var fe FieldErrors
	checkName(&fe, p.Name)
	if p.VN == "" {
		fe.Add("vn", "is required")
	}
	if p.NVE == "" {
		fe.Add("nve", "is required")
	}
	if p.Interface == "" {
		fe.Add("interface", "is required")
	} else if !ifaceRE.MatchString(p.Interface) {
		fe.Add("interface", "must be a valid interface name (1-15 characters)")
	}
	m, err := net.ParseMAC(p.MAC)
	switch {
	case p.MAC == "":
		fe.Add("mac", "is required")
	case err != nil || len(m) != 6:
		fe.Add("mac", "%q is not an Ethernet MAC address", p.MAC)
	case m[0]&1 == 1:
		fe.Add("mac", "must be a unicast MAC address")
	case m.String() == "00:00:00:00:00:00":
		fe.Add("mac", "must not be all zeros")
	}
	seen := map[string]bool{}
	for i, ip := range p.IPs {
		f := fmt.Sprintf("ips[%d]", i)
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			fe.Add(f, "%q is not an IPv4 or IPv6 address", ip)
		case a.Zone() != "":
			fe.Add(f, "must not have a zone")
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			fe.Add(f, "must be a unicast address")
		case seen[a.Unmap().String()]:
			fe.Add(f, "duplicate address %s", a)
		}
		if err == nil {
			seen[a.Unmap().String()] = true
		}
	}
	if p.VLAN < 0 || p.VLAN > 4094 {
		fe.Add("vlan", "must be between 0 (untagged) and 4094")
	}
	p.validatePair(&fe)
	return fe.Err()
}

// portAddrs is a port's MAC and IPs parsed once; it is immutable and
// shared by every copy of the port. macText and ipText are the text it was
// parsed from, so a copy whose MAC or IPs were edited after Parse is not
// answered from a stale parse.
type portAddrs struct {
	macText string
	ipText  []string
	mac     [6]byte
	macOK   bool
	addrs   []netip.Addr
}

func parsePortAddrs(mac string, ips []string) *portAddrs {
	a := &portAddrs{macText: mac, ipText: slices.Clone(ips)}
	if m, err := net.ParseMAC(mac); err == nil && len(m) == 6 {
		a.mac, a.macOK = [6]byte(m), true
	}
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			a.addrs = append(a.addrs, ip.Unmap())
		}
	}
	a.addrs = slices.Clip(a.addrs)
	return a
}

// Parse parses the port's MAC and IPs into typed values, once, so that
// MACAddr, HardwareAddr and Addrs answer without parsing text. The store
// calls it when it stores a port (before the port is shared); a port that
// was never parsed, or whose MAC or IPs changed since, is parsed on each
// call instead, with the same answers. Parsing a port that is already
// parsed and unchanged writes nothing.
func (p *Port) Parse() {
	if !p.parsedCurrent() {
		p.parsed = parsePortAddrs(p.MAC, p.IPs)
	}
}

func (p *Port) parsedCurrent() bool {
	a := p.parsed
	return a != nil && a.macText == p.MAC && slices.Equal(a.ipText, p.IPs)
}

// addrs returns the port's parsed addresses, from Parse if still current.
func (p *Port) addrs() *portAddrs {
	if p.parsedCurrent() {
		return p.parsed
	}
	return parsePortAddrs(p.MAC, p.IPs)
}

// MACAddr returns the port's MAC as a value, and whether it is a valid
// 6-byte Ethernet MAC.
func (p *Port) MACAddr() ([6]byte, bool) {
	a := p.addrs()
	return a.mac, a.macOK
}

// HardwareAddr returns the port's MAC (nil unless it is a valid 6-byte
// Ethernet MAC). The slice is the caller's own.
func (p *Port) HardwareAddr() net.HardwareAddr {
	m, ok := p.MACAddr()
	if !ok {
		return nil
	}
	return net.HardwareAddr(m[:])
}

// Addrs returns the port's IPs as addresses (IPv4-mapped IPv6 unmapped),
// skipping invalid ones; nil if it has none. The slice is shared: callers
// must not modify it.
func (p *Port) Addrs() []netip.Addr {
	return p.addrs().addrs
}

// UnderlayAddrs returns the NVE's underlay IPs as addresses.
func (n *NVE) UnderlayAddrs() []netip.Addr {
	var out []netip.Addr
	for _, s := range n.UnderlayIPs {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}
