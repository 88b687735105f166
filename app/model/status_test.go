package model

import "testing"

func TestSummarizeNVE(t *testing.T) {
	ovs := &NVE{Name: "hv1", Kind: NVEOVS, OVSDB: "unix:/run/openvswitch/db.sock", Bridge: "br-int", DatapathID: "00004e5600000001"}
	hw := &NVE{Name: "tor1", Kind: NVEOpenFlow, DatapathID: "0000000000000abc"}
	bridgeOK := &OVSDBStatus{Connected: true, BridgeReady: true}
	inSync := &OpenFlowStatus{Connected: true, Sync: SyncInSync, RealizedRevision: 42}
	one := SummaryContext{Controllers: []string{"tcp:198.51.100.254:6653"}}
	two := SummaryContext{Controllers: []string{"ssl:198.51.100.253:6653", "tcp:198.51.100.254:6653"}}
	follower := SummaryContext{OVSDBOnLeader: true, Controllers: one.Controllers}
	for _, c := range []struct {
		name string
		nve  *NVE
		st   *NVEStatus
		ctx  SummaryContext
		want string
	}{
		{"no southbound", ovs, nil, one, "unknown: this node runs no southbound"},
		{"all good", ovs, &NVEStatus{OVSDB: bridgeOK, OpenFlow: inSync}, one, "ok: in sync (revision 42)"},
		{"hardware in sync", hw, &NVEStatus{OpenFlow: inSync}, one, "ok: in sync (revision 42)"},
		{"one warning", hw, &NVEStatus{OpenFlow: &OpenFlowStatus{Connected: true, Sync: SyncInSync, RealizedRevision: 7, Warnings: []string{"no multicast"}}}, one,
			"ok: in sync (revision 7); warning: no multicast"},
		{"two warnings", hw, &NVEStatus{OpenFlow: &OpenFlowStatus{Connected: true, Sync: SyncInSync, RealizedRevision: 7, Warnings: []string{"a", "b"}}}, one,
			"ok: in sync (revision 7); 2 warnings, the first: a"},
		{"ovsdb socket missing", ovs, &NVEStatus{
			OVSDB:    &OVSDBStatus{LastError: "dial unix /run/openvswitch/db.sock: no such file or directory"},
			OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected, DatapathID: ovs.DatapathID}}, one,
			"ovsdb: connecting (dial unix /run/openvswitch/db.sock: no such file or directory)"},
		{"ovsdb first attempt", ovs, &NVEStatus{OVSDB: &OVSDBStatus{}, OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected}}, one,
			"ovsdb: connecting to unix:/run/openvswitch/db.sock"},
		{"ovsdb not synced yet", ovs, &NVEStatus{OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected}}, one, "ovsdb: pending: not synced yet"},
		{"ovsdb invalid desired", ovs, &NVEStatus{OVSDB: &OVSDBStatus{LastError: "invalid desired state: controllers[0]: bad"}, OpenFlow: inSync}, one,
			"ovsdb: error: invalid desired state: controllers[0]: bad"},
		{"ovsdb transaction error", ovs, &NVEStatus{OVSDB: &OVSDBStatus{Connected: true, LastError: "ensure bridge br-int: transact: constraint violation"}, OpenFlow: inSync}, one,
			"ovsdb: error: ensure bridge br-int: transact: constraint violation"},
		{"bridge being configured", ovs, &NVEStatus{OVSDB: &OVSDBStatus{Connected: true}, OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected}}, one,
			"ovsdb: pending: configuring bridge br-int"},
		{"interface error", ovs, &NVEStatus{OVSDB: &OVSDBStatus{Connected: true, BridgeReady: true, Ports: map[string]PortStatus{
			"vm2": {Error: "could not open network device vm2 (No such device)"}, "vm1": {OFPort: 3, LinkUp: true}}}, OpenFlow: inSync}, one,
			"ovsdb: error: interface vm2: could not open network device vm2 (No such device)"},
		{"switch never connected", ovs, &NVEStatus{OVSDB: bridgeOK, OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected, DatapathID: "00004e5600000001"}}, one,
			"openflow: not connected (no switch with datapath 00004e5600000001 has connected; controller target tcp:198.51.100.254:6653)"},
		{"switch never connected, two targets", hw, &NVEStatus{OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected}}, two,
			"openflow: not connected (no switch with datapath 0000000000000abc has connected; controller targets ssl:198.51.100.253:6653, tcp:198.51.100.254:6653)"},
		{"switch disconnected", hw, &NVEStatus{OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected, LastError: "disconnected: EOF"}}, SummaryContext{},
			"openflow: not connected (the switch with datapath 0000000000000abc disconnected: EOF)"},
		{"no datapath id", &NVE{Name: "x", Kind: NVEOpenFlow}, &NVEStatus{OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected}}, SummaryContext{},
			"openflow: not connected (no datapath ID: no switch can be matched to this NVE)"},
		{"reconcile error", ovs, &NVEStatus{OVSDB: bridgeOK, OpenFlow: &OpenFlowStatus{Connected: true, Sync: SyncError, LastError: "flow mod rejected: OFPBAC_BAD_OUT_PORT"}}, one,
			"openflow: error: flow mod rejected: OFPBAC_BAD_OUT_PORT"},
		{"awaiting ports", ovs, &NVEStatus{OVSDB: bridgeOK, OpenFlow: &OpenFlowStatus{Connected: true, Sync: SyncPending, Awaiting: []string{"port p1 (interface vm1)", "tunnel port nva-vxlan"}}}, one,
			"pending: waiting for OpenFlow ports: port p1 (interface vm1), tunnel port nva-vxlan"},
		{"installing", ovs, &NVEStatus{OVSDB: bridgeOK, OpenFlow: &OpenFlowStatus{Connected: true, Sync: SyncPending, RealizedRevision: 41}}, one,
			"pending: installing flows (realized revision 41)"},
		{"follower in sync", ovs, &NVEStatus{OpenFlow: inSync}, follower, "ok: in sync (revision 42); ovsdb: managed by the leader"},
		{"follower, switch absent", ovs, &NVEStatus{OpenFlow: &OpenFlowStatus{Sync: SyncDisconnected}}, follower,
			"openflow: not connected (no switch with datapath 00004e5600000001 has connected; controller target tcp:198.51.100.254:6653); ovsdb: managed by the leader"},
		{"follower hardware", hw, &NVEStatus{OpenFlow: inSync}, follower, "ok: in sync (revision 42)"},
		{"no openflow side", hw, &NVEStatus{}, one, "openflow: unknown: this node runs no OpenFlow southbound"},
	} {
		if got := SummarizeNVE(c.nve, c.st, c.ctx); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
