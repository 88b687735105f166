package conn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
	"github.com/nva-project/nva/internal/ovstest"
)

func outputFlow(cookie uint64, inPort, outPort uint32) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.Cookie, fm.Priority = cookie, 100
	fm.Match.AddField(*openflow13.NewInPortField(inPort))
	ia := openflow13.NewInstrApplyActions()
	ia.AddAction(openflow13.NewActionOutput(outPort), false)
	fm.AddInstruction(ia)
	return fm
}

func groupFlow(cookie uint64, inPort, group uint32) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.Cookie, fm.Priority = cookie, 200
	fm.Match.AddField(*openflow13.NewInPortField(inPort))
	ia := openflow13.NewInstrApplyActions()
	ia.AddAction(openflow13.NewActionGroup(group), false)
	fm.AddInstruction(ia)
	return fm
}

func TestRealOVS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The OVS runs in its own network namespace; the controller is reached
	// over a unix socket inside its run dir, which works across namespaces.
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvct"})
	ctlSock := filepath.Join(o.Dir(), "nva.sock")
	rec := newRecorder()
	l, err := Listen(ctx, "unix:"+ctlSock, nil, rec, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); <-l.Done() }()
	br := fmt.Sprintf("nvc%d", os.Getpid()%100000)
	p1, p2 := br+"a", br+"b"
	o.Vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "protocols=OpenFlow13",
		"fail_mode=secure", "other_config:datapath-id=00000000000abc01",
		"--", "add-port", br, p1, "--", "set", "interface", p1, "type=internal", "ofport_request=5")
	defer o.Vsctl("--if-exists", "del-br", br)
	o.Vsctl("set-controller", br, "unix:"+ctlSock, "--", "set", "controller", br, "connection_mode=out-of-band")

	var sw *Switch
	select {
	case sw = <-rec.connected:
	case <-time.After(30 * time.Second):
		t.Fatal("OVS did not connect")
	}
	if sw.DPID() != 0xabc01 {
		t.Fatalf("DPID = %016x, want 0000000000abc01", sw.DPID())
	}
	if p, ok := sw.PortByName(p1); !ok || p.Number != 5 {
		t.Fatalf("port %s = %+v, %v (ports %v)", p1, p, ok, sw.Ports())
	}
	if p, ok := sw.Ports()[openflow13.P_LOCAL]; !ok || p.Name != br {
		t.Fatalf("LOCAL port = %+v, %v", p, ok)
	}
	if role, _, err := sw.SetRole(ctx, RoleMaster, 1); err != nil || role != RoleMaster {
		t.Fatalf("SetRole master = %v, %v", role, err)
	}

	t.Run("flow-mod, barrier, flow stats", func(t *testing.T) {
		if _, err := sw.Send(outputFlow(0x1111, 5, openflow13.P_LOCAL)); err != nil {
			t.Fatal(err)
		}
		if err := sw.Barrier(ctx); err != nil {
			t.Fatalf("barrier: %v", err)
		}
		stats, err := sw.FlowStats(ctx, 0, 0x1111, ^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 1 || stats[0].Cookie != 0x1111 || stats[0].Priority != 100 || len(stats[0].Instructions) != 1 {
			t.Fatalf("flow stats = %+v", stats)
		}
		if dump := o.Ofctl("dump-flows", br, "cookie=0x1111/-1"); !strings.Contains(dump, "in_port="+p1) && !strings.Contains(dump, "in_port=5") {
			t.Fatalf("ovs-ofctl does not show the flow:\n%s", dump)
		}
	})

	t.Run("bad flow-mod error returned by barrier", func(t *testing.T) {
		x1, _ := sw.Send(outputFlow(0x2221, 5, openflow13.P_LOCAL))
		bad, _ := sw.Send(groupFlow(0x2222, 5, 999)) // group 999 does not exist
		x3, _ := sw.Send(outputFlow(0x2223, 6, openflow13.P_LOCAL))
		err := sw.Barrier(ctx)
		var be *BatchError
		if !errors.As(err, &be) {
			t.Fatalf("barrier = %v, want *BatchError", err)
		}
		if xs := be.Xids(); len(xs) != 1 || xs[0] != bad {
			t.Fatalf("failed xids %v, want [%d] (good ones %d, %d)", xs, bad, x1, x3)
		}
		t.Logf("switch said: %v", be.Errors[0])
		if be.Errors[0].Type != openflow13.ET_BAD_ACTION {
			t.Errorf("error type %d, want BAD_ACTION", be.Errors[0].Type)
		}
		if st := sw.ErrorState(); st.Count == 0 || st.Last == "" {
			t.Errorf("ErrorState = %+v", st)
		}
		stats, err := sw.FlowStats(ctx, openflow13.OFPTT_ALL, 0x2220, 0xfff0)
		if err != nil || len(stats) != 2 {
			t.Fatalf("good flows of the batch: %d, %v", len(stats), err)
		}
	})

	t.Run("bundle commits atomically", func(t *testing.T) {
		if err := sw.Bundle(ctx, []util.Message{outputFlow(0x3331, 7, openflow13.P_LOCAL), outputFlow(0x3332, 8, openflow13.P_LOCAL)}); err != nil {
			t.Fatalf("bundle: %v", err)
		}
		stats, err := sw.FlowStats(ctx, 0, 0x3330, 0xfff0)
		if err != nil || len(stats) != 2 {
			t.Fatalf("bundle flows: %d, %v", len(stats), err)
		}
		err = sw.Bundle(ctx, []util.Message{outputFlow(0x4441, 9, openflow13.P_LOCAL), groupFlow(0x4442, 10, 999)})
		var oe *OFError
		if !errors.As(err, &oe) {
			t.Fatalf("bundle with a bad flow = %v, want an OpenFlow error", err)
		}
		t.Logf("bundle refused: %v", err)
		stats, err = sw.FlowStats(ctx, 0, 0x4440, 0xfff0)
		if err != nil || len(stats) != 0 {
			t.Fatalf("a refused bundle left %d flows (%v)", len(stats), err)
		}
	})

	t.Run("group desc", func(t *testing.T) {
		o.Ofctl("add-group", br, "group_id=7,type=all,bucket=output:5,bucket=output:LOCAL")
		groups, err := sw.GroupDesc(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != 1 || groups[0].GroupID != 7 || groups[0].Type != openflow13.OFPGT_ALL || len(groups[0].Buckets) != 2 {
			t.Fatalf("groups = %+v", groups)
		}
		if out, ok := groups[0].Buckets[0].Actions[0].(*openflow13.ActionOutput); !ok || out.Port != 5 {
			t.Fatalf("bucket 0 action = %#v", groups[0].Buckets[0].Actions[0])
		}
	})

	t.Run("port status events", func(t *testing.T) {
		events := make(chan PortEvent, 64)
		defer sw.SubscribePorts(func(ev PortEvent) { events <- ev })()
		waitEvent := func(reason PortReason, name string) PortEvent {
			t.Helper()
			timeout := time.After(20 * time.Second)
			for {
				select {
				case ev := <-events:
					if ev.Reason == reason && ev.Port.Name == name {
						return ev
					}
				case <-timeout:
					t.Fatalf("no %v event for %s", reason, name)
				}
			}
		}
		o.Vsctl("add-port", br, p2, "--", "set", "interface", p2, "type=internal", "ofport_request=6")
		if ev := waitEvent(PortAdded, p2); ev.Port.Number != 6 {
			t.Fatalf("added port number %d, want 6", ev.Port.Number)
		}
		if p, ok := sw.PortByName(p2); !ok || p.Number != 6 {
			t.Fatalf("port table lacks %s: %v", p2, sw.Ports())
		}
		o.Vsctl("del-port", br, p2)
		waitEvent(PortDeleted, p2)
		if _, ok := sw.Ports()[6]; ok {
			t.Fatalf("port 6 still in the table after delete")
		}
	})

	t.Run("port desc refresh", func(t *testing.T) {
		ports, err := sw.PortDesc(ctx)
		if err != nil || len(ports) != 2 {
			t.Fatalf("PortDesc = %v, %v", ports, err)
		}
	})
}

// TestRealOVSInactivityProbe: Open vSwitch and nva probe each other (OVS's
// controller inactivity probe, nva's sweeper) on an otherwise idle
// connection over several probe intervals; neither side gives up: OVS
// keeps the same connection (no reconnect) and nva the same switch.
func TestRealOVSInactivityProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvcp"})
	ctlSock := filepath.Join(o.Dir(), "nva.sock")
	rec := newRecorder()
	l, err := Listen(ctx, "unix:"+ctlSock, nil, rec,
		Options{Logger: testLogger(t), EchoInterval: 2 * time.Second, DeadInterval: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); <-l.Done() }()
	br := fmt.Sprintf("nvp%d", os.Getpid()%100000)
	o.Vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "protocols=OpenFlow13",
		"fail_mode=secure", "other_config:datapath-id=00000000000abc02")
	defer o.Vsctl("--if-exists", "del-br", br)
	o.Vsctl("set-controller", br, "unix:"+ctlSock, "--", "set", "controller", br,
		"connection_mode=out-of-band", "inactivity_probe=2000")
	var sw *Switch
	select {
	case sw = <-rec.connected:
	case <-time.After(30 * time.Second):
		t.Fatal("OVS did not connect")
	}
	// Four of each side's probe intervals with nothing else on the
	// connection.
	select {
	case <-sw.Done():
		t.Fatalf("nva dropped the switch: %v", sw.Err())
	case <-time.After(8 * time.Second):
	}
	select {
	case again := <-rec.connected:
		t.Fatalf("OVS reconnected (%v): it gave up on nva's echoes", again)
	default:
	}
	status := o.Vsctl("get", "controller", br, "status")
	if !strings.Contains(status, "state=ACTIVE") {
		t.Fatalf("controller status %s, want ACTIVE", status)
	}
}
