package daemon

import (
	"testing"

	"github.com/nva-project/nva/app/model"
)

type fakeStatusSource struct {
	snap   *model.Snapshot
	nodes  []model.Member
	leader bool
}

func (f fakeStatusSource) Snapshot() *model.Snapshot { return f.snap }
func (f fakeStatusSource) Nodes() []model.Member     { return f.nodes }
func (f fakeStatusSource) IsLeader() bool            { return f.leader }

type fakeOVSDBSide map[string]*model.OVSDBStatus

func (f fakeOVSDBSide) OVSDBStatus(n string) *model.OVSDBStatus { return f[n] }

type fakeOpenFlowSide map[string]*model.OpenFlowStatus

func (f fakeOpenFlowSide) OpenFlowStatus(n string) *model.OpenFlowStatus { return f[n] }

// TestNVEStatusSummary: the production join summarizes both sides with
// the members' controller targets (in either advertised form) and knows a
// follower's OVSDB side lives on the leader.
func TestNVEStatusSummary(t *testing.T) {
	snap := &model.Snapshot{NVEs: map[string]*model.NVE{
		"hv1": {Name: "hv1", Kind: model.NVEOVS, OVSDB: "unix:/x/db.sock", Bridge: "br-int", DatapathID: "00004e5600000001"},
	}}
	nodes := []model.Member{{ID: "n1", OpenFlowAddr: "tcp:198.51.100.254:6653"}, {ID: "n2", OpenFlowAddr: "198.51.100.253:6653"}, {ID: "n3"}}
	of := fakeOpenFlowSide{"hv1": {Sync: model.SyncDisconnected, DatapathID: "00004e5600000001"}}

	leader := nveStatus{src: fakeStatusSource{snap, nodes, true}, openflow: of,
		ovsdb: fakeOVSDBSide{"hv1": {LastError: "dial unix /x/db.sock: no such file or directory"}}}
	if got, want := leader.NVEStatus("hv1").Summary, "ovsdb: connecting (dial unix /x/db.sock: no such file or directory)"; got != want {
		t.Errorf("leader: %q, want %q", got, want)
	}
	leader.ovsdb = fakeOVSDBSide{"hv1": {Connected: true, BridgeReady: true}}
	if got, want := leader.NVEStatus("hv1").Summary,
		"openflow: not connected (no switch with datapath 00004e5600000001 has connected; controller targets tcp:198.51.100.253:6653, tcp:198.51.100.254:6653)"; got != want {
		t.Errorf("leader: %q, want %q", got, want)
	}
	follower := nveStatus{src: fakeStatusSource{snap, nodes, false}, openflow: of, ovsdb: fakeOVSDBSide{}}
	if got, want := follower.NVEStatus("hv1").Summary,
		"openflow: not connected (no switch with datapath 00004e5600000001 has connected; controller targets tcp:198.51.100.253:6653, tcp:198.51.100.254:6653); ovsdb: managed by the leader"; got != want {
		t.Errorf("follower: %q, want %q", got, want)
	}
	if st := follower.NVEStatus("gone"); st.Summary != "" || st.OpenFlow != nil {
		t.Errorf("unknown NVE: %+v", st)
	}
}
