package ofshim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"

	"github.com/nva-project/nva/internal/ovstest"
	"github.com/nva-project/nva/ofctl/conn"
)

// switches is a conn.Handler that hands over connected switches.
type switches chan *conn.Switch

func (s switches) SwitchConnected(sw *conn.Switch)        { s <- sw }
func (s switches) SwitchDisconnected(*conn.Switch, error) {}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ovsFlow(table uint8, cookie uint64, inPort uint32, acts ...openflow13.Action) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.TableId, fm.Cookie, fm.Priority = table, cookie, 100
	fm.Match.AddField(*openflow13.NewInPortField(inPort))
	ia := openflow13.NewInstrApplyActions()
	for _, a := range acts {
		ia.AddAction(a, false)
	}
	fm.AddInstruction(ia)
	return fm
}

// TestRealOVSThroughShim: a controller built on ofctl/conn manages a real
// ovs-vswitchd through the shim. A standard flow is installed (and seen by
// ovs-ofctl); Nicira-extension flows, a bundle and a flow beyond the
// profile's tables are refused with the errors a strict switch sends and
// are not installed, although this very OVS accepts the Nicira flow when
// it is given directly.
func TestRealOVSThroughShim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvsh"})
	nvaSock, shimSock := filepath.Join(o.Dir(), "nva.sock"), filepath.Join(o.Dir(), "shim.sock")
	got := make(switches, 4)
	l, err := conn.Listen(ctx, "unix:"+nvaSock, nil, got, conn.Options{
		Logger: slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); <-l.Done() }()
	shim, err := Start(ctx, Options{Listen: "unix:" + shimSock, Upstream: "unix:" + nvaSock, MaxTables: 4, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer shim.Close()

	br := fmt.Sprintf("nvs%d", os.Getpid()%100000)
	o.Vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure",
		"--", "add-port", br, br+"a", "--", "set", "interface", br+"a", "type=internal", "ofport_request=5")
	o.Vsctl("set-controller", br, shim.Target(), "--", "set", "controller", br, "connection_mode=out-of-band")
	var sw *conn.Switch
	select {
	case sw = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("OVS did not connect through the shim")
	}
	if n := sw.Features().NumTables; n != 4 {
		t.Fatalf("switch reports %d tables through the shim, want 4", n)
	}
	installed := func(cookie uint64) bool {
		t.Helper()
		return strings.Contains(o.Ofctl("dump-flows", br), fmt.Sprintf("cookie=%#x,", cookie))
	}
	// expectRefused sends msgs, then a barrier, and wants exactly one
	// error, of the given type and code, for the message at index bad.
	expectRefused := func(t *testing.T, typ, code uint16, msg util.Message) {
		t.Helper()
		xid, err := sw.Send(msg)
		if err != nil {
			t.Fatal(err)
		}
		err = sw.Barrier(ctx)
		var be *conn.BatchError
		if !errors.As(err, &be) || len(be.Errors) != 1 {
			t.Fatalf("barrier = %v, want one OpenFlow error", err)
		}
		e := be.Errors[0]
		if e.Xid != xid || e.Type != typ || e.Code != code {
			t.Fatalf("error %v, want xid %d type %d code %d", e, xid, typ, code)
		}
		t.Logf("refused as a strict switch would: %v", e)
	}

	t.Run("standard flow installed", func(t *testing.T) {
		to0 := ovsFlow(0, 0x1000, 5)
		to0.Instructions = nil
		to0.AddInstruction(openflow13.NewInstrGotoTable(3))
		mac, _ := net.ParseMAC("02:00:00:00:00:99")
		std := ovsFlow(3, 0x1001, 5, openflow13.NewActionSetField(*openflow13.NewEthDstField(mac, nil)),
			openflow13.NewActionSetField(*openflow13.NewTunnelIdField(4242)), openflow13.NewActionOutput(openflow13.P_LOCAL))
		for _, m := range []util.Message{to0, std} {
			if _, err := sw.Send(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := sw.Barrier(ctx); err != nil {
			t.Fatalf("standard flows refused: %v", err)
		}
		if !installed(0x1000) || !installed(0x1001) {
			t.Fatalf("standard flows not installed:\n%s", o.Ofctl("dump-flows", br))
		}
	})

	t.Run("Nicira set_field tun_dst refused", func(t *testing.T) {
		tunDst := openflow13.NewTunnelIpv4DstField(net.IPv4(198, 18, 0, 2), nil)
		expectRefused(t, ErrTypeBadAction, CodeBadActionSetType,
			ovsFlow(0, 0x2001, 5, openflow13.NewActionSetField(*tunDst), openflow13.NewActionOutput(openflow13.P_LOCAL)))
		if installed(0x2001) {
			t.Fatal("refused flow installed")
		}
	})

	t.Run("Nicira reg_move refused", func(t *testing.T) {
		mv := openflow13.NewNXActionRegMove(32, 0, 0, openflow13.NewRegMatchField(0, 0, nil), openflow13.NewRegMatchField(1, 0, nil))
		expectRefused(t, ErrTypeBadAction, CodeBadActionExperimenter, ovsFlow(0, 0x2002, 5, mv))
		if installed(0x2002) {
			t.Fatal("refused flow installed")
		}
	})

	t.Run("Nicira register match refused", func(t *testing.T) {
		fm := ovsFlow(0, 0x2003, 5, openflow13.NewActionOutput(openflow13.P_LOCAL))
		fm.Match.AddField(*openflow13.NewRegMatchField(0, 7, nil))
		expectRefused(t, ErrTypeBadMatch, CodeBadMatchField, fm)
		if installed(0x2003) {
			t.Fatal("refused flow installed")
		}
	})

	t.Run("table beyond the profile refused", func(t *testing.T) {
		expectRefused(t, ErrTypeFlowModFailed, CodeFlowModBadTableID, ovsFlow(4, 0x2004, 5, openflow13.NewActionOutput(openflow13.P_LOCAL)))
		if installed(0x2004) {
			t.Fatal("refused flow installed")
		}
	})

	t.Run("bundle refused", func(t *testing.T) {
		err := sw.Bundle(ctx, []util.Message{ovsFlow(1, 0x3001, 5, openflow13.NewActionOutput(openflow13.P_LOCAL))})
		var oe *conn.OFError
		if !errors.As(err, &oe) || oe.Type != ErrTypeBadRequest || oe.Code != CodeBadRequestExperimenter {
			t.Fatalf("bundle = %v, want BAD_REQUEST/BAD_EXPERIMENTER", err)
		}
		t.Logf("bundle refused: %v", err)
		if installed(0x3001) {
			t.Fatal("bundled flow installed")
		}
	})

	t.Run("the same OVS accepts the Nicira flow directly", func(t *testing.T) {
		o.Ofctl("add-flow", br, "table=0,cookie=0x2f01,priority=5,in_port=5,actions=set_field:198.18.0.2->tun_dst,output:LOCAL")
		if !installed(0x2f01) {
			t.Fatal("OVS refused the Nicira flow too: the shim test proves nothing")
		}
	})

	// The bundle's open and its add leave together (conn.Switch.Bundle),
	// so both are refused.
	want := map[string]int{ReasonSetFieldType: 1, ReasonExperimenterAction: 1, ReasonMatchField: 1, ReasonTableID: 1, ReasonExperimenterMessage: 2}
	if got := shim.Refused(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Refused() = %v, want %v", got, want)
	}
	if st := sw.ErrorState(); st.Count != 6 {
		t.Errorf("switch error count %d, want 6 (one per refusal)", st.Count)
	}
	for _, r := range shim.Refusals() {
		t.Logf("%v", r)
	}
}
