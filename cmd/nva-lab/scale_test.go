package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/internal/fleet"
)

// TestScaleFleet is the small fleet's correctness check (part of `make
// test` through the integration target, which sets NVA_E2E_NVA to the
// bin/nva it built): a real nva process, simulated switches over TCP (and
// OVSDB servers for ovs NVEs) in a fleet process of their own (this test
// binary, through TestMain), every phase of `nva-lab scale`. It checks
// outcomes, never speed: every switch's tables equal nva's desired state,
// no connection is dropped, a warm restart sends no flow-mod, every
// attach is realized, every phase reaches its goal.
func TestScaleFleet(t *testing.T) {
	bin := os.Getenv("NVA_E2E_NVA")
	if bin == "" {
		t.Skip("NVA_E2E_NVA is not set: run `make integration` (or set it to a built bin/nva)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("NVA_E2E_NVA: %v", err)
	}
	for _, tc := range []struct {
		name  string
		kind  model.NVEKind
		nves  int
		nodes int
	}{
		{"ovs-1node", model.NVEOVS, 6, 1},
		{"openflow-3nodes", model.NVEOpenFlow, 5, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			cfg := scaleConfig{
				Bin: bin, Nodes: tc.nodes, Attaches: 4, Idle: time.Second, SyncTimeout: 3 * time.Minute,
				LogLevel: "info", Dir: t.TempDir(), Logf: t.Logf,
				Layout: fleet.Layout{NVEs: tc.nves, PortsPerNVE: 20, Span: 5, Kind: tc.kind, SparePorts: 1},
			}
			res, err := runScale(ctx, cfg)
			if res != nil {
				var b strings.Builder
				printPhases(&b, res)
				t.Log(b.String())
			}
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			want := []string{"bulk load", "initial sync", "attach", "idle", "warm restart", "cold restart"}
			if tc.nodes > 1 {
				want = append(want, "leader failover")
			}
			for _, name := range want {
				p := res.phase(name)
				if p == nil {
					t.Errorf("phase %s did not run", name)
					continue
				}
				if p.Err != nil {
					t.Errorf("phase %s: %v", name, p.Err)
				}
				if p.Dropped != 0 || p.OVSDBDropped != 0 {
					t.Errorf("phase %s: %d OpenFlow connections and %d OVSDB sessions dropped, want none", name, p.Dropped, p.OVSDBDropped)
				}
			}
			for _, name := range []string{"initial sync", "warm restart", "cold restart"} {
				// Timed by nva's last_sync (syncedAt): after the phase
				// began, so never zero.
				if p := res.phase(name); p != nil && p.Err == nil && p.Elapsed <= 0 {
					t.Errorf("phase %s: elapsed %s, want > 0", name, p.Elapsed)
				}
			}
			if p := res.phase("warm restart"); p != nil && p.FlowMods != 0 {
				t.Errorf("warm restart: the switches received %d flow/group mods, want 0", p.FlowMods)
			}
			if p := res.phase("cold restart"); p != nil && p.FlowMods == 0 {
				t.Errorf("cold restart: no flow/group mods reached the wiped switches")
			}
			for _, m := range res.TableMismatches {
				t.Errorf("tables: %s", m)
			}
			if res.Verified != tc.nves {
				t.Errorf("%d of %d switches compared with nva's flow report", res.Verified, tc.nves)
			}
			if res.FleetCPU < 0 {
				t.Errorf("the fleet process's CPU was not read from /proc")
			}
			if res.FlowsPerSwitch == 0 {
				t.Errorf("NVE 0's switch holds no flows after the initial sync")
			}
			if res.AttachFailed != 0 || len(res.AttachLatencies) != cfg.Attaches {
				t.Errorf("attaches: %d realized, %d failed (first: %v), want %d realized", len(res.AttachLatencies), res.AttachFailed, res.AttachFirstErr, cfg.Attaches)
			}
		})
	}
}

// TestSyncedAt: the fleet's sync time is nva's latest last_sync when it
// lies within the wait, and the poll's time otherwise.
func TestSyncedAt(t *testing.T) {
	start := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	seen := start.Add(4 * time.Second)
	for _, tc := range []struct {
		name       string
		last, want time.Time
	}{
		{"within the wait", start.Add(3200 * time.Millisecond), start.Add(3200 * time.Millisecond)},
		{"no last_sync", time.Time{}, seen},
		{"before the phase (nothing changed)", start.Add(-time.Second), seen},
		{"after the poll (clock skew)", seen.Add(time.Millisecond), seen},
		{"exactly at the start", start, seen},
	} {
		if got := syncedAt(start, tc.last, seen); !got.Equal(tc.want) {
			t.Errorf("%s: syncedAt = %s, want %s", tc.name, got.Sub(start), tc.want.Sub(start))
		}
	}
}

// TestMain lets the test binary be the scale harness's fleet process: the
// harness runs its own executable with the fleet command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "fleet" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
