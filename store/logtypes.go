package store

import (
	"encoding/json"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// The log's own types. Commands, snapshots and remembered results are
// encoded with these, never with the model's (REST) types and tags, so that
// changing the API cannot change the log. Their JSON keys and field order
// are frozen: they are the bytes every existing log and snapshot holds (the
// golden files and the v1 fixtures under testdata/ pin them). Only the
// conversions to and from the model may follow the model.

// bodyV1 is the JSON body of every version-1 command: a union from which
// each command takes its fields (registry.go).
type bodyV1 struct {
	ReqID string   `json:"req_id"`
	Name  string   `json:"name,omitempty"` // deletes and remove-node
	VN    *logVN   `json:"vn,omitempty"`
	NVE   *logNVE  `json:"nve,omitempty"`
	Port  *logPort `json:"port,omitempty"`
	Node  *logNode `json:"node,omitempty"`
	// ExpectRevision makes an update conditional (0: unconditional, and
	// absent from the encoding, so unconditional updates keep their bytes).
	ExpectRevision uint64 `json:"expect_revision,omitempty"`
	// Items are a batch's operations, in order (batch.go).
	Items []logBatchItem `json:"items,omitempty"`
	// Token is the token of create-token and bootstrap-token (tokens.go).
	Token *logToken `json:"token,omitempty"`
	// Policy is the rule of the policy commands (policy.go).
	Policy *logPolicy `json:"policy,omitempty"`
	// Learned is the body of report-learned and expire-learned (learned.go).
	Learned *logLearnedBody `json:"learned,omitempty"`
	// L3Gateway is the object of the L3 gateway commands (l3gateway.go).
	L3Gateway *logL3Gateway `json:"l3_gateway,omitempty"`
}

// logBatchItem is one operation of a batch: the type byte of the object
// command it is (create-vn 0x01 ... delete-port 0x09) and that command's
// version-1 body without a request ID (the batch has the one request ID).
type logBatchItem struct {
	Type           uint8    `json:"type"`
	Name           string   `json:"name,omitempty"` // deletes
	VN             *logVN   `json:"vn,omitempty"`
	NVE            *logNVE  `json:"nve,omitempty"`
	Port           *logPort `json:"port,omitempty"`
	ExpectRevision uint64   `json:"expect_revision,omitempty"`
}

type logVN struct {
	Name     string `json:"name"`
	VNI      uint32 `json:"vni"`
	Service  string `json:"service"`
	Encap    string `json:"encap"`
	BUM      logBUM `json:"bum"`
	Tenant   string `json:"tenant,omitempty"`
	MTU      int    `json:"mtu,omitempty"`
	Unknown  string `json:"unknown_arp"`
	Revision uint64 `json:"revision,omitempty"`
	// Added after version 1 was frozen, as optional keys: a VN without
	// them encodes to the bytes version 1 wrote, and version 1 bytes decode
	// to a VN without them (no subnets, in no L3 domain).
	Subnets  []logSubnet `json:"subnets,omitempty"`
	L3Domain string      `json:"l3_domain,omitempty"`
	// VAPSignal (an optional key too, multihome): "" is link.
	VAPSignal string `json:"vap_signal,omitempty"`
}

type logSubnet struct {
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway"`
}

func toLogSubnets(ss []model.Subnet) []logSubnet {
	if len(ss) == 0 {
		return nil
	}
	out := make([]logSubnet, len(ss))
	for i, s := range ss {
		out[i] = logSubnet{CIDR: s.CIDR, Gateway: s.Gateway}
	}
	return out
}

func (l logSubnets) model() []model.Subnet {
	if len(l) == 0 {
		return nil
	}
	out := make([]model.Subnet, len(l))
	for i, s := range l {
		out[i] = model.Subnet{CIDR: s.CIDR, Gateway: s.Gateway}
	}
	return out
}

type logSubnets []logSubnet

type logBUM struct {
	Mode  string `json:"mode"`
	Group string `json:"group,omitempty"`
	// Added after version 1 was frozen, as an optional key.
	Replicators []string `json:"replicators,omitempty"`
}

type logNVE struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	UnderlayIPs  []string `json:"underlay_ips"`
	OVSDB        string   `json:"ovsdb,omitempty"`
	Bridge       string   `json:"bridge,omitempty"`
	DatapathType string   `json:"datapath_type,omitempty"`
	DatapathID   string   `json:"datapath_id,omitempty"`
	Revision     uint64   `json:"revision,omitempty"`
	// Added after version 1 was frozen, as optional keys: an NVE without
	// them encodes to the bytes version 1 wrote, and version 1 bytes decode
	// to an NVE without them (the kind's default profile, the profile's
	// table numbers, tunnel ports by the naming convention).
	Profile     string            `json:"profile,omitempty"`
	TableIDs    map[string]uint8  `json:"table_ids,omitempty"`
	TunnelPorts map[string]string `json:"tunnel_ports,omitempty"`
	// SwitchIdentity (an optional key too): the certificate pin.
	SwitchIdentity *logSwitchIdentity `json:"switch_identity,omitempty"`
	// Multipath (an optional key too, multihome): "" is none.
	Multipath string `json:"multipath,omitempty"`
	// AccessLink (optional too): a tNVE's access link (accesslink.go).
	AccessLink *logAccessLink `json:"access_link,omitempty"`
}

type logSwitchIdentity struct {
	Fingerprint string `json:"fingerprint,omitempty"`
	Subject     string `json:"subject,omitempty"`
}

func toLogSwitchIdentity(id *model.SwitchIdentity) *logSwitchIdentity {
	if id == nil {
		return nil
	}
	return &logSwitchIdentity{Fingerprint: id.Fingerprint, Subject: id.Subject}
}

func (id *logSwitchIdentity) model() *model.SwitchIdentity {
	if id == nil {
		return nil
	}
	return &model.SwitchIdentity{Fingerprint: id.Fingerprint, Subject: id.Subject}
}

type logPort struct {
	Name      string   `json:"name"`
	VN        string   `json:"vn"`
	NVE       string   `json:"nve"`
	Interface string   `json:"interface"`
	MAC       string   `json:"mac"`
	IPs       []string `json:"ips,omitempty"`
	VLAN      int      `json:"vlan,omitempty"`
	Revision  uint64   `json:"revision,omitempty"`
	// Added after version 1 was frozen, as optional keys (absent: access
	// mode): the VAP's VLAN mode.
	VLANMode     string `json:"vlan_mode,omitempty"`
	AllowedVLANs []int  `json:"allowed_vlans,omitempty"`
	Untagged     bool   `json:"untagged,omitempty"`
	// Added after version 1 was frozen, as an optional key.
	Pair string `json:"pair,omitempty"`
	// Kind: added after version 1 was frozen, as an optional key (absent:
	// a tenant system's port, as version 1 wrote every port).
	Kind string `json:"kind,omitempty"`
}

// logNode is a member's metadata. State and Voter are never meaningful in
// the log (Raft owns both) but keep their keys: version 1 wrote them.
type logNode struct {
	ID           string `json:"id"`
	APIAddr      string `json:"api_addr,omitempty"`
	RaftAddr     string `json:"raft_addr,omitempty"`
	OpenFlowAddr string `json:"openflow_addr,omitempty"`
	State        string `json:"state,omitempty"`
	Voter        bool   `json:"voter"`
}

type logError struct {
	Kind     string          `json:"kind"`
	Message  string          `json:"message"`
	Field    string          `json:"field,omitempty"`
	Fields   []logFieldError `json:"fields,omitempty"`
	Blocking []string        `json:"blocking,omitempty"`
}

type logFieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// logResult is a command's result as the request-ID table keeps it in
// snapshots (and as it crosses the forwarding hop).
type logResult struct {
	Index uint64    `json:"index"`
	VN    *logVN    `json:"vn,omitempty"`
	NVE   *logNVE   `json:"nve,omitempty"`
	Port  *logPort  `json:"port,omitempty"`
	Node  *logNode  `json:"node,omitempty"`
	Err   *logError `json:"error,omitempty"`
	// Items: a batch's per-item results (its stored objects).
	Items []*logResult `json:"items,omitempty"`
	// Policy: a policy rule command's rule (policy.go).
	Policy *logPolicy `json:"policy,omitempty"`
	// L3Gateway: an L3 gateway command's object (l3gateway.go).
	L3Gateway *logL3Gateway `json:"l3_gateway,omitempty"`
}

// logRequest is one entry of the request-ID table in a snapshot.
type logRequest struct {
	ReqID  string     `json:"req_id"`
	Hash   string     `json:"hash"`
	Result *logResult `json:"result"`
	// At is the log time it was remembered at (Unix ns; absent: unknown).
	At int64 `json:"at,omitempty"`
}

// snapRecord is one element of a format-1 snapshot stream: exactly one
// field is set. The stream is a header, the objects, the request-ID table
// (oldest first), and a trailer that proves the stream is complete.
type snapRecord struct {
	Format   int         `json:"format,omitempty"`
	Revision uint64      `json:"revision,omitempty"`
	LogTime  int64       `json:"log_time,omitempty"` // header: the request-ID table's clock (Unix ns)
	VN       *logVN      `json:"vn,omitempty"`
	NVE      *logNVE     `json:"nve,omitempty"`
	Port     *logPort    `json:"port,omitempty"`
	Node     *logNode    `json:"node,omitempty"`
	Req      *logRequest `json:"req,omitempty"`
	End      bool        `json:"end,omitempty"`
	// The token state (tokens.go), after the nodes.
	Token              *logToken `json:"token,omitempty"`
	TokensBootstrapped bool      `json:"tokens_bootstrapped,omitempty"`
	// A policy rule (policy.go), after the tokens.
	Policy *logPolicy `json:"policy,omitempty"`
	// The learned endpoints and conflicts (learned.go), after the tokens.
	Learned         *logLearned         `json:"learned,omitempty"`
	LearnedConflict *logLearnedConflict `json:"learned_conflict,omitempty"`
	// L3 gateways (l3gateway.go), after the tokens.
	L3Gateway *logL3Gateway `json:"l3_gateway,omitempty"`
}

// --- exact conversions (snapshots, results, encoding commands) ---

func toLogVN(v *model.VN) *logVN {
	if v == nil {
		return nil
	}
	return &logVN{Name: v.Name, VNI: v.VNI, Service: string(v.Service), Encap: string(v.Encap),
		BUM: logBUM{Mode: string(v.BUM.Mode), Group: v.BUM.Group, Replicators: slices.Clone(v.BUM.Replicators)}, Tenant: v.Tenant, MTU: v.MTU,
		Unknown: string(v.Unknown), Revision: v.Revision, Subnets: toLogSubnets(v.Subnets), L3Domain: v.L3Domain,
		VAPSignal: string(v.VAPSignal)}
}

func (v *logVN) model() *model.VN {
	if v == nil {
		return nil
	}
	return &model.VN{Name: v.Name, VNI: v.VNI, Service: model.Service(v.Service), Encap: model.Encap(v.Encap),
		BUM: model.BUM{Mode: model.BUMMode(v.BUM.Mode), Group: v.BUM.Group, Replicators: slices.Clone(v.BUM.Replicators)}, Tenant: v.Tenant, MTU: v.MTU,
		Unknown: model.UnknownPolicy(v.Unknown), Revision: v.Revision, Subnets: logSubnets(v.Subnets).model(), L3Domain: v.L3Domain,
		VAPSignal: model.VAPSignal(v.VAPSignal)}
}

func toLogNVE(n *model.NVE) *logNVE {
	if n == nil {
		return nil
	}
	return &logNVE{Name: n.Name, Kind: string(n.Kind), UnderlayIPs: slices.Clone(n.UnderlayIPs), OVSDB: n.OVSDB,
		Bridge: n.Bridge, DatapathType: n.DatapathType, DatapathID: n.DatapathID, Revision: n.Revision,
		Profile: n.Profile, TableIDs: nilIfEmpty(maps.Clone(n.TableIDs)), TunnelPorts: nilIfEmpty(maps.Clone(n.TunnelPorts)),
		SwitchIdentity: toLogSwitchIdentity(n.SwitchIdentity), Multipath: string(n.Multipath), AccessLink: toLogAccessLink(n.AccessLink)}
}

func (n *logNVE) model() *model.NVE {
	if n == nil {
		return nil
	}
	return &model.NVE{Name: n.Name, Kind: model.NVEKind(n.Kind), UnderlayIPs: slices.Clone(n.UnderlayIPs), OVSDB: n.OVSDB,
		Bridge: n.Bridge, DatapathType: n.DatapathType, DatapathID: n.DatapathID, Revision: n.Revision,
		Profile: n.Profile, TableIDs: nilIfEmpty(maps.Clone(n.TableIDs)), TunnelPorts: nilIfEmpty(maps.Clone(n.TunnelPorts)),
		SwitchIdentity: n.SwitchIdentity.model(), Multipath: model.Multipath(n.Multipath), AccessLink: n.AccessLink.model()}
}

// nilIfEmpty makes an empty map nil, so "absent" has one form in memory.
func nilIfEmpty[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return m
}

func toLogPort(p *model.Port) *logPort {
	if p == nil {
		return nil
	}
	return &logPort{Name: p.Name, VN: p.VN, NVE: p.NVE, Interface: p.Interface, MAC: p.MAC,
		IPs: slices.Clone(p.IPs), VLAN: p.VLAN, Revision: p.Revision,
		VLANMode: string(p.VLANMode), AllowedVLANs: slices.Clone(p.AllowedVLANs), Untagged: p.Untagged, Pair: p.Pair, Kind: p.Kind}
}

func (p *logPort) model() *model.Port {
	if p == nil {
		return nil
	}
	return &model.Port{Name: p.Name, VN: p.VN, NVE: p.NVE, Interface: p.Interface, MAC: p.MAC,
		IPs: slices.Clone(p.IPs), VLAN: p.VLAN, Revision: p.Revision,
		VLANMode: model.VLANMode(p.VLANMode), AllowedVLANs: slices.Clone(p.AllowedVLANs), Untagged: p.Untagged, Pair: p.Pair, Kind: p.Kind}
}

func toLogNode(n *NodeInfo) *logNode {
	if n == nil {
		return nil
	}
	return &logNode{ID: n.ID, APIAddr: n.APIAddr, RaftAddr: n.RaftAddr, OpenFlowAddr: n.OpenFlowAddr, State: n.State, Voter: n.Voter}
}

func (n *logNode) model() *NodeInfo {
	if n == nil {
		return nil
	}
	return &NodeInfo{ID: n.ID, APIAddr: n.APIAddr, RaftAddr: n.RaftAddr, OpenFlowAddr: n.OpenFlowAddr, State: n.State, Voter: n.Voter}
}

func toLogError(e *model.Error) *logError {
	if e == nil {
		return nil
	}
	out := &logError{Kind: string(e.Kind), Message: e.Message, Field: e.Field, Blocking: slices.Clone(e.Blocking)}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, logFieldError{Field: f.Field, Message: f.Message})
	}
	return out
}

func (e *logError) model() *model.Error {
	if e == nil {
		return nil
	}
	out := &model.Error{Kind: model.ErrorKind(e.Kind), Message: e.Message, Field: e.Field, Blocking: slices.Clone(e.Blocking)}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, model.FieldError{Field: f.Field, Message: f.Message})
	}
	return out
}

func toLogResult(r *result) *logResult {
	if r == nil {
		return nil
	}
	out := &logResult{Index: r.Index, VN: toLogVN(r.VN), NVE: toLogNVE(r.NVE), Port: toLogPort(r.Port),
		Node: toLogNode(r.Node), Err: toLogError(r.Err), Policy: toLogPolicy(r.Policy), L3Gateway: toLogL3Gateway(r.L3Gateway)}
	for _, it := range r.Items {
		out.Items = append(out.Items, toLogResult(it))
	}
	return out
}

func (r *logResult) model() *result {
	if r == nil {
		return nil
	}
	out := &result{Index: r.Index, VN: r.VN.model(), NVE: r.NVE.model(), Port: r.Port.model(),
		Node: r.Node.model(), Err: r.Err.model(), Policy: r.Policy.model(), L3Gateway: r.L3Gateway.model()}
	for _, it := range r.Items {
		out.Items = append(out.Items, it.model())
	}
	return out
}

// MarshalJSON encodes a result with the log's types.
func (r result) MarshalJSON() ([]byte, error) { return json.Marshal(toLogResult(&r)) }

// UnmarshalJSON decodes a result encoded with the log's types.
func (r *result) UnmarshalJSON(data []byte) error {
	var lr logResult
	if err := json.Unmarshal(data, &lr); err != nil {
		return err
	}
	*r = *lr.model()
	return nil
}

// --- version-1 command bodies ---

func (vnKind) toV1(b *bodyV1, v *model.VN) { b.VN = toLogVN(v) }
func (vnKind) fromV1(b *bodyV1) (model.VN, bool) {
	if b.VN == nil {
		return model.VN{}, false
	}
	return v1VN(*b.VN.model()), true
}

func (nveKind) toV1(b *bodyV1, n *model.NVE) { b.NVE = toLogNVE(n) }
func (nveKind) fromV1(b *bodyV1) (model.NVE, bool) {
	if b.NVE == nil {
		return model.NVE{}, false
	}
	return v1NVE(*b.NVE.model()), true
}

func (portKind) toV1(b *bodyV1, p *model.Port) { b.Port = toLogPort(p) }
func (portKind) fromV1(b *bodyV1) (model.Port, bool) {
	if b.Port == nil {
		return model.Port{}, false
	}
	return v1Port(*b.Port.model()), true
}

// The meaning of a version-1 object. Version 1 was written when the FSM
// filled defaults itself, so an object in a v1 body may leave fields empty
// (or spell a MAC, an IP or a datapath ID in any accepted way), and then
// means what version 1's defaults made of it. Those rules are frozen here,
// as they were: they must not follow model's Defaults, which may change.
// The store now logs objects already defaulted (write.go), on which these
// rules change nothing. A future change of the model's defaults that needs
// an empty field to stay empty in the log needs a version 2.

func v1VN(v model.VN) model.VN {
	v.Service = model.Service(or(string(v.Service), "l2"))
	v.Encap = model.Encap(or(string(v.Encap), "vxlan"))
	v.BUM.Mode = model.BUMMode(or(string(v.BUM.Mode), "replicate"))
	v.Unknown = model.UnknownPolicy(or(string(v.Unknown), "flood"))
	return v
}

func v1NVE(n model.NVE) model.NVE {
	n.Kind = model.NVEKind(or(string(n.Kind), "ovs"))
	if n.Kind == "ovs" {
		n.Bridge = or(n.Bridge, "br-int")
		n.DatapathType = or(n.DatapathType, "system")
	}
	if d, ok := parseDPIDv1(n.DatapathID); ok {
		n.DatapathID = formatDPID(d)
	}
	n.UnderlayIPs = slices.Clone(n.UnderlayIPs)
	for i, ip := range n.UnderlayIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			n.UnderlayIPs[i] = a.String()
		}
	}
	return n
}

func v1Port(p model.Port) model.Port {
	if m, err := net.ParseMAC(p.MAC); err == nil && len(m) == 6 {
		p.MAC = m.String()
	}
	p.IPs = slices.Clone(p.IPs)
	for i, ip := range p.IPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			p.IPs[i] = a.Unmap().String()
		}
	}
	return p
}

// parseDPIDv1 reads a datapath ID as version 1 did: at most 16 hex digits,
// optionally with a 0x prefix or colons between bytes.
func parseDPIDv1(s string) (uint64, bool) {
	t := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x"))
	if t == "" || len(t) > 16 {
		return 0, false
	}
	d, err := strconv.ParseUint(t, 16, 64)
	return d, err == nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// v1Node is the metadata a v1 put-node means: Raft's State and Voter are
// dropped, as version 1 dropped them.
func v1Node(n *logNode) NodeInfo {
	return NodeInfo{ID: n.ID, APIAddr: n.APIAddr, RaftAddr: n.RaftAddr, OpenFlowAddr: n.OpenFlowAddr}
}

// v1 bodies of the commands.

func (c *createCmd[T, K]) v1() *bodyV1 {
	var k K
	b := &bodyV1{ReqID: c.ReqID}
	k.toV1(b, &c.Obj)
	return b
}

func (c *updateCmd[T, K]) v1() *bodyV1 {
	var k K
	b := &bodyV1{ReqID: c.ReqID, ExpectRevision: c.ExpectRevision}
	k.toV1(b, &c.Obj)
	return b
}

func (c *deleteCmd[T, K]) v1() *bodyV1 { return &bodyV1{ReqID: c.ReqID, Name: c.Name} }

func (c *putNode) v1() *bodyV1 { return &bodyV1{ReqID: c.ReqID, Node: toLogNode(&c.Node)} }

func (c *removeNode) v1() *bodyV1 { return &bodyV1{ReqID: c.ReqID, Name: c.ID} }
