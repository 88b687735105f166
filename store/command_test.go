package store

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestCommandEncodingGolden pins the on-log bytes of every command type:
// changing them breaks every existing cluster's log, so a diff here must be
// a deliberate new version.
func TestCommandEncodingGolden(t *testing.T) {
	vn := &model.VN{Name: "blue", VNI: 100, Service: model.ServiceL2, Encap: model.EncapVXLAN,
		BUM: model.BUM{Mode: model.BUMMulticast, Group: "239.1.1.1"}, Tenant: "acme", MTU: 1450, Unknown: model.UnknownDrop}
	nve := &model.NVE{Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"192.0.2.1", "192.0.2.2"},
		OVSDB: "unix:/run/openvswitch/db.sock", Bridge: "br-int", DatapathType: "netdev"}
	port := &model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01",
		IPs: []string{"10.0.0.1", "2001:db8::1"}, VLAN: 10}
	node := &NodeInfo{ID: "n2", APIAddr: "http://127.0.0.2:8080", RaftAddr: "127.0.0.2:7000", OpenFlowAddr: "127.0.0.2:6653"}
	cases := []struct {
		file string
		typ  cmdType
		body cmdBody
	}{
		{"create-vn", cmdCreateVN, cmdBody{ReqID: "r-create-vn", VN: vn}},
		{"update-vn", cmdUpdateVN, cmdBody{ReqID: "r-update-vn", VN: vn}},
		// A conditional update: the expected revision is the only
		// difference from update-vn, whose bytes it leaves unchanged.
		{"update-vn-expect-revision", cmdUpdateVN, cmdBody{ReqID: "r-update-vn", VN: vn, ExpectRevision: 42}},
		{"delete-vn", cmdDeleteVN, cmdBody{ReqID: "r-delete-vn", Name: "blue"}},
		{"create-nve", cmdCreateNVE, cmdBody{ReqID: "r-create-nve", NVE: nve}},
		{"update-nve", cmdUpdateNVE, cmdBody{ReqID: "r-update-nve", NVE: nve}},
		{"delete-nve", cmdDeleteNVE, cmdBody{ReqID: "r-delete-nve", Name: "hv1"}},
		{"create-port", cmdCreatePort, cmdBody{ReqID: "r-create-port", Port: port}},
		{"update-port", cmdUpdatePort, cmdBody{ReqID: "r-update-port", Port: port}},
		{"delete-port", cmdDeletePort, cmdBody{ReqID: "r-delete-port", Name: "vm1"}},
		{"put-node", cmdPutNode, cmdBody{ReqID: "r-put-node", Node: node}},
		{"remove-node", cmdRemoveNode, cmdBody{ReqID: "r-remove-node", Name: "n2"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, err := encodeCommand(tc.typ, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != byte(tc.typ) || got[1] != cmdVersion {
				t.Fatalf("header % x, want %02x %02x", got[:2], byte(tc.typ), cmdVersion)
			}
			path := filepath.Join("testdata", "cmd-"+tc.file+".golden")
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
			// The golden bytes decode back to the same command.
			c, err := decodeCommand(want)
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != tc.typ || !reflect.DeepEqual(c.Body, tc.body) {
				t.Fatalf("decoded %+v, want type %s body %+v", c, tc.typ, tc.body)
			}
		})
	}
}

func TestCommandTypeNames(t *testing.T) {
	seen := map[string]bool{}
	for typ := cmdCreateVN; typ <= cmdRemoveNode; typ++ {
		name := typ.String()
		if seen[name] || name == "" || name[:4] == "type" {
			t.Fatalf("type 0x%02x has name %q", uint8(typ), name)
		}
		seen[name] = true
		if (typ | flagIgnoreUnknown).String() != name {
			t.Fatalf("the ignore flag changes the name of %s", name)
		}
	}
}
