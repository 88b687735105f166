package store

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ (of the version this code writes)")

// TestCommandEncodingGolden pins the on-log bytes of every command, per
// version, in testdata/commands/v<version>/: changing them breaks every
// existing cluster's log, so a diff here must be a deliberate new version.
// Every registered command version has a golden file; the golden bytes
// decode back to the same command. -update rewrites only the files of the
// version this code writes: older versions are frozen.
func TestCommandEncodingGolden(t *testing.T) {
	vn := model.VN{Name: "blue", VNI: 100, Service: model.ServiceL2, Encap: model.EncapVXLAN,
		BUM: model.BUM{Mode: model.BUMMulticast, Group: "239.1.1.1"}, Tenant: "acme", MTU: 1450, Unknown: model.UnknownDrop}
	nve := model.NVE{Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"192.0.2.1", "192.0.2.2"},
		OVSDB: "unix:/run/openvswitch/db.sock", Bridge: "br-int", DatapathType: "netdev"}
	// An NVE with the fields added after version 1 was frozen (optional
	// keys; nve above, without them, keeps version 1's bytes).
	strict := model.NVE{Name: "tor1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"192.0.2.9"}, DatapathID: "000000000000002a",
		Profile: model.ProfileStrict, TableIDs: map[string]uint8{"b": 7, "a": 3},
		TunnelPorts: map[string]string{"192.0.2.2": "Ethernet1/2", "192.0.2.1": "Ethernet1/1"}}
	// A VN with the L3 fields added after version 1 was frozen (optional
	// keys; vn above, without them, keeps version 1's bytes).
	routed := model.VN{Name: "red", VNI: 101, Service: model.ServiceL2L3, Encap: model.EncapVXLAN,
		BUM: model.BUM{Mode: model.BUMReplicate}, Tenant: "acme", Unknown: model.UnknownFlood, L3Domain: "prod",
		Subnets: []model.Subnet{{CIDR: "10.1.0.0/24", Gateway: "10.1.0.1"}, {CIDR: "2001:db8:1::/64", Gateway: "2001:db8:1::1"}}}
	// An NVE pinning its switch's certificate (an optional key as well).
	pinned := model.NVE{Name: "tor2", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"192.0.2.10"}, DatapathID: "000000000000002b",
		SwitchIdentity: &model.SwitchIdentity{Fingerprint: "sha256:" + strings.Repeat("0f", 32), Subject: "CN=tor2,O=Example"}}
	port := model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01",
		IPs: []string{"10.0.0.1", "2001:db8::1"}, VLAN: 10}
	node := NodeInfo{ID: "n2", APIAddr: "http://127.0.0.2:8080", RaftAddr: "127.0.0.2:7000", OpenFlowAddr: "127.0.0.2:6653"}
	tenantToken := model.Token{ID: "00112233aabbccdd", Name: "acme ci", Role: model.RoleTenant, Tenant: "acme",
		Created: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Hash: model.HashSecret("secret")}
	adminToken := model.Token{ID: "ffeeddccbbaa9988", Name: "bootstrap", Role: model.RoleAdmin,
		Created: time.Date(2026, 11, 29, 10, 0, 1, 0, time.UTC), Hash: model.HashSecret("secret2")}
	rule := model.PolicyRule{Name: "web", Tenant: "acme", L3Domain: "prod", Priority: 100, Action: model.PolicyAllow,
		Source: model.PolicyEndpoint{VN: "red"}, Dest: model.PolicyEndpoint{CIDR: "10.2.0.0/24"}, Protocol: model.ProtoTCP,
		Ports: []model.PortRange{{From: 80, To: 80}, {From: 8000, To: 8080}}}
	cases := []struct {
		file    string
		version uint8
		cmd     command
	}{
		{"create-vn", 1, &createVN{ReqID: "r-create-vn", Obj: vn}},
		{"update-vn", 1, &updateVN{ReqID: "r-update-vn", Obj: vn}},
		// A conditional update: the expected revision is the only
		// difference from update-vn, whose bytes it leaves unchanged.
		{"update-vn-expect-revision", 1, &updateVN{ReqID: "r-update-vn", Obj: vn, ExpectRevision: 42}},
		{"update-vn-l3", 1, &updateVN{ReqID: "r-update-vn", Obj: routed}},
		// L3 gateways (l3gateway.go).
		{"create-l3gateway", 1, &createCmd[model.L3Gateway, l3GatewayKind]{ReqID: "r-create-gw", Obj: goldenGateway}},
		{"update-l3gateway", 1, &updateCmd[model.L3Gateway, l3GatewayKind]{ReqID: "r-update-gw", Obj: goldenGateway, ExpectRevision: 7}},
		{"delete-l3gateway", 1, &deleteCmd[model.L3Gateway, l3GatewayKind]{ReqID: "r-delete-gw", Name: "acme-gw"}},
		{"delete-vn", 1, &deleteVN{ReqID: "r-delete-vn", Name: "blue"}},
		{"create-nve", 1, &createNVE{ReqID: "r-create-nve", Obj: nve}},
		{"update-nve", 1, &updateNVE{ReqID: "r-update-nve", Obj: nve}},
		{"update-nve-profile", 1, &updateNVE{ReqID: "r-update-nve", Obj: strict}},
		{"update-nve-identity", 1, &updateNVE{ReqID: "r-update-nve", Obj: pinned}},
		{"delete-nve", 1, &deleteNVE{ReqID: "r-delete-nve", Name: "hv1"}},
		{"create-port", 1, &createPort{ReqID: "r-create-port", Obj: port}},
		{"update-port", 1, &updatePort{ReqID: "r-update-port", Obj: port}},
		{"delete-port", 1, &deletePort{ReqID: "r-delete-port", Name: "vm1"}},
		{"put-node", 1, &putNode{ReqID: "r-put-node", Node: node}},
		{"remove-node", 1, &removeNode{ReqID: "r-remove-node", ID: "n2"}},
		// A batch: every object command as an item, in order, with the
		// items' bodies as the single commands encode them.
		{"batch", 1, &batchCmd{ReqID: "r-batch", Items: []batchItem{
			&createVN{Obj: vn}, &createNVE{Obj: nve}, &createPort{Obj: port},
			&updatePort{Obj: port, ExpectRevision: 42}, &updateVN{Obj: vn}, &updateNVE{Obj: nve},
			&deletePort{Name: "vm1"}, &deleteNVE{Name: "hv1"}, &deleteVN{Name: "blue"},
		}}},
		{"create-token", 1, &createToken{ReqID: "r-create-token", Token: tenantToken}},
		{"revoke-token", 1, &revokeToken{ReqID: "r-revoke-token", ID: "00112233aabbccdd"}},
		{"bootstrap-token", 1, &bootstrapToken{ReqID: "r-bootstrap-token", Token: adminToken}},
		// Inter-VN policy rules (policy.go).
		{"create-policy", 1, &createCmd[model.PolicyRule, policyKind]{ReqID: "r-create-policy", Obj: rule}},
		{"update-policy", 1, &updateCmd[model.PolicyRule, policyKind]{ReqID: "r-update-policy", Obj: rule, ExpectRevision: 7}},
		{"delete-policy", 1, &deleteCmd[model.PolicyRule, policyKind]{ReqID: "r-delete-policy", Name: "web"}},
		{"report-learned", 1, &reportLearned{Report: model.LearnedReport{NVE: "hv1",
			At: time.Date(2026, 11, 29, 10, 0, 2, 123456000, time.UTC), MACs: []model.LearnedMAC{
				{VN: "blue", MAC: "02:00:00:00:10:01", Via: "seg1", IPs: []string{"10.0.0.50"}},
				{VN: "blue", MAC: "02:00:00:00:10:02", Via: model.ViaVTEP, Gone: true},
			}}}},
		{"expire-learned", 1, &expireLearned{Before: time.Date(2026, 11, 29, 10, 5, 0, 0, time.UTC)}},
	}
	type key struct {
		typ     cmdType
		version uint8
	}
	covered := map[key]bool{}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("v%d/%s", tc.version, tc.file), func(t *testing.T) {
			typ := tc.cmd.cmdType()
			spec, ok := registry.lookup(typ, tc.version)
			if !ok {
				t.Fatalf("%s version %d is not registered", typ, tc.version)
			}
			covered[key{spec.typ, spec.version}] = true
			path := filepath.Join("testdata", "commands", fmt.Sprintf("v%d", tc.version), tc.file+".golden")
			if tc.version == cmdVersion {
				got, err := encodeCommand(tc.cmd)
				if err != nil {
					t.Fatal(err)
				}
				if got[0] != byte(typ) || got[1] != cmdVersion {
					t.Fatalf("header % x, want %02x %02x", got[:2], byte(typ), cmdVersion)
				}
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("encoding changed:\n got % x\nwant % x\n got %q\nwant %q", got, want, got, want)
				}
			}
			// The golden bytes decode back to the same command.
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeCommand(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.cmd, tc.cmd) {
				t.Fatalf("decoded %#v, want %#v", d.cmd, tc.cmd)
			}
		})
	}
	for _, s := range registry.all() {
		if !covered[key{s.typ, s.version}] {
			t.Errorf("%s version %d has no golden file", s.name, s.version)
		}
	}
}

func TestCommandTypeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range registry.all() {
		name := s.typ.String()
		if name != s.name || name == "" || (seen[name] && registry.name(s.typ) != name) {
			t.Fatalf("type 0x%02x has name %q, registered as %q", uint8(s.typ), name, s.name)
		}
		seen[name] = true
		if (s.typ | flagIgnoreUnknown).String() != name {
			t.Fatalf("the ignore flag changes the name of %s", name)
		}
	}
	// 0x01-0x0c (objects, nodes, batch), 0x10-0x12 (tokens) and
	// 0x20-0x22 (policy rules), 0x28-0x2a (L3 gateways), 0x38-0x39 (learned endpoints).
	if want := int(cmdBatch) + 3 + 3 + 3 + 2; len(seen) != want {
		t.Fatalf("%d named types, want %d", len(seen), want)
	}
	if got := cmdType(0x7f).String(); got != "type-0x7f" {
		t.Fatalf("unknown type is named %q", got)
	}
}

// TestRegistryRefusesClashes: a type number used twice, or a version
// registered twice, is caught when the registry is built.
func TestRegistryRefusesClashes(t *testing.T) {
	dec := registry.specs[cmdCreateVN][1].decode
	for name, table := range map[string][]cmdSpec{
		"two names":    {{cmdCreateVN, 1, "create-vn", dec}, {cmdCreateVN, 2, "make-vn", dec}},
		"same version": {{cmdCreateVN, 1, "create-vn", dec}, {cmdCreateVN, 1, "create-vn", dec}},
		"flag in type": {{cmdCreateVN | flagIgnoreUnknown, 1, "create-vn", dec}},
		"type zero":    {{0, 1, "nothing", dec}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("newRegistry accepted the table")
				}
			}()
			newRegistry(table)
		})
	}
}
