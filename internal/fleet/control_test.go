package fleet

import (
	"context"
	"os"
	"strings"
	"testing"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/model"
)

// controlChildEnv makes the test binary the fleet process of
// TestRemoteFleet (ServeControl on its stdin and stdout).
const controlChildEnv = "NVA_FLEET_CONTROL_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(controlChildEnv) == "1" {
		if err := ServeControl(os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRemoteFleet drives a fleet in a child process through Remote: the
// switches connect to a controller in this process, and what the
// controller does to them shows in the counters the parent reads.
func TestRemoteFleet(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(controlChildEnv, "1")
	addr, accept := listen(t)
	dir := t.TempDir()
	l := Layout{NVEs: 2, PortsPerNVE: 2, Span: 2, Kind: model.NVEOpenFlow}
	ctx := context.Background()
	r, err := StartRemote(ctx, []string{exe, "-test.run=^$"}, dir+"/fleet.log", l, []string{addr}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Pid() == os.Getpid() || r.Pid() == 0 {
		t.Fatalf("fleet process pid %d", r.Pid())
	}
	if len(r.Endpoints) != 2 || r.OVSDBEndpoint(0) != "" {
		t.Fatalf("endpoints %q: want two empty ones (openflow NVEs)", r.Endpoints)
	}

	var ctls []*controller
	for range 2 {
		c := accept()
		c.send(openflow13.NewFeaturesRequest())
		c.expect(openflow13.Type_FeaturesReply)
		ctls = append(ctls, c)
	}
	if n := r.Connected(1); n != 2 {
		t.Fatalf("Connected(1) = %d, want 2", n)
	}
	if n := r.Connected(2); n != 0 {
		t.Fatalf("Connected(2) = %d, want 0", n)
	}
	// Two flows on the switch that connected first (either NVE).
	first := ctls[0]
	first.send(flowMod(openflow13.FC_ADD, 0, 100, 1, 0xaa))
	first.send(flowMod(openflow13.FC_ADD, 0, 100, 2, 0xaa))
	first.sendRaw(header(openflow13.Type_BarrierRequest, 8, 1))
	first.expect(openflow13.Type_BarrierReply)

	tot := r.Totals()
	if tot.FlowMods != 2 || tot.Connects != 2 || tot.Dropped != 0 {
		t.Fatalf("totals %+v: want 2 flow mods, 2 connects, 0 dropped", tot)
	}
	if f, g := r.Tables(); f != 2 || g != 0 {
		t.Fatalf("Tables() = %d flows, %d groups; want 2, 0", f, g)
	}
	tabs, err := r.SwitchTables(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tabs[0].Flows+tabs[1].Flows != 2 || (tabs[0].Flows != 0 && tabs[1].Flows != 0) {
		t.Fatalf("SwitchTables = %+v: want both flows on one switch", tabs)
	}
	if _, err := r.SwitchTables(ctx, 2); err == nil || !strings.Contains(err.Error(), "no switch 2") {
		t.Fatalf("SwitchTables(2) error %v, want no switch 2", err)
	}
	if err := r.Lost(); err != nil {
		t.Fatalf("a refused request lost the process: %v", err)
	}
	r.ResetSilence()
	if opened, ended := r.OVSDBSessions(); opened != 0 || ended != 0 {
		t.Fatalf("OVSDB sessions %d/%d on an openflow fleet", opened, ended)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}

	// A cold restart wipes the tables and reconnects every switch.
	r.Restart()
	if f, _ := r.Tables(); f != 0 {
		t.Fatalf("%d flows after Restart, want 0", f)
	}
	for range 2 {
		c := accept()
		c.send(openflow13.NewFeaturesRequest())
		c.expect(openflow13.Type_FeaturesReply)
	}
	if tot := r.Totals(); tot.Connects != 4 || tot.Dropped != 0 {
		t.Fatalf("totals after Restart %+v: want 4 connects, 0 dropped", tot)
	}

	r.Close()
	if err := r.Lost(); err == nil {
		t.Fatal("Lost() = nil after Close")
	}
	if n := r.Connected(1); n != 0 {
		t.Fatalf("Connected after Close = %d, want 0", n)
	}
}

// TestServeControlRefuses checks the answers to requests the protocol
// does not allow, without a child process.
func TestServeControlRefuses(t *testing.T) {
	in := strings.NewReader(`{"op":"totals"}
{"op":"start"}
{"op":"nonsense"}
{"op":"close"}
{"op":"totals"}
`)
	var out strings.Builder
	if err := ServeControl(in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"totals: the fleet is not started", "start: no layout", `unknown operation \"nonsense\"`, ""}
	if len(lines) != len(want) {
		t.Fatalf("%d answers %q, want %d (none after close)", len(lines), lines, len(want))
	}
	for i, w := range want {
		if w == "" {
			if strings.Contains(lines[i], `"error"`) {
				t.Errorf("answer %d: %s, want no error", i, lines[i])
			}
			continue
		}
		if !strings.Contains(lines[i], w) {
			t.Errorf("answer %d: %s, want %q", i, lines[i], w)
		}
	}
}
