package codec

import (
	"encoding/hex"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/flow"
)

// These tests hold our encoding against Open vSwitch's own: for every flow
// and group shape, `ovs-ofctl ofp-print` of our bytes must print exactly
// what ovs-ofctl prints for the same entry written in its own syntax
// (`parse-flow` / `parse-group`, which encode with OVS's encoder). The
// ovs-ofctl spelling in shapes_test.go is written independently of the IR.

func needOVSOfctl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Skip("ovs-ofctl not installed: skipping the ofp-print comparison")
	}
	return p
}

var xidRE = regexp.MustCompile(`\(xid=0x[0-9a-f]+\)`)

func ofctl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fromMessage keeps the printed message (from its OFPT_ line on), without xid.
func fromMessage(s string) string {
	if i := strings.Index(s, "OFPT_"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimSpace(xidRE.ReplaceAllString(s, "(xid)"))
}

func TestOfpPrintFlows(t *testing.T) {
	bin := needOVSOfctl(t)
	for i, c := range allFlowCases() {
		t.Run(c.name, func(t *testing.T) {
			f := withKey(c.f, i)
			fm, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd)
			if err != nil {
				t.Fatal(err)
			}
			got := fromMessage(ofctl(t, bin, "ofp-print", hex.EncodeToString(marshal(t, fm))))
			spec := fmt.Sprintf("table=%d,priority=%d,cookie=%#x", testTables[f.Table], f.Priority, f.Cookie)
			if c.ovs != "" {
				spec += "," + c.ovs
			}
			if !strings.Contains(spec, "actions=") {
				spec += ",actions=drop"
			}
			want := fromMessage(ofctl(t, bin, "-O", "OpenFlow13", "parse-flow", spec))
			if got != want {
				t.Fatalf("ofp-print of our FLOW_MOD differs from OVS's encoding of %q\n ours: %s\n ovs:  %s", spec, got, want)
			}
			if strings.Contains(got, "***") || strings.Contains(strings.ToLower(got), "error") {
				t.Fatalf("ofp-print reports a problem: %s", got)
			}
		})
	}
}

// Modify-strict and delete-strict print with the same key and the cookie
// handling the reconciler relies on.
func TestOfpPrintCommands(t *testing.T) {
	bin := needOVSOfctl(t)
	f := withKey(flow.Flow{Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)), flow.Exact(flow.EthDst, mac("02:00:00:00:00:01"))),
		Actions: []flow.Action{flow.Output{Port: 2}}}, 1)
	for _, c := range []struct {
		cmd  uint8
		want []string
		not  []string
	}{
		{FlowModifyStrict, []string{"MOD_STRICT", "priority=101", "in_port=1", "dl_dst=02:00:00:00:00:01", "actions=output:2"}, []string{"cookie"}},
		{FlowDeleteStrict, []string{"DEL_STRICT", "priority=101", "in_port=1", "dl_dst=02:00:00:00:00:01", fmt.Sprintf("cookie:%#x/0xffffffffffffffff", f.Cookie)}, []string{"actions=output"}},
	} {
		fm, err := ovsCodec.EncodeFlowMod(f, tables, c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		got := fromMessage(ofctl(t, bin, "ofp-print", hex.EncodeToString(marshal(t, fm))))
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("command %d: %q missing from %s", c.cmd, w, got)
			}
		}
		for _, w := range c.not {
			if strings.Contains(got, w) {
				t.Errorf("command %d: unexpected %q in %s", c.cmd, w, got)
			}
		}
	}
}

func TestOfpPrintGroups(t *testing.T) {
	bin := needOVSOfctl(t)
	for _, c := range groupCases() {
		t.Run(c.name, func(t *testing.T) {
			gm, err := ovsCodec.EncodeGroupMod(c.g, GroupAdd)
			if err != nil {
				t.Fatal(err)
			}
			got := fromMessage(ofctl(t, bin, "ofp-print", hex.EncodeToString(marshal(t, gm))))
			want := fromMessage(ofctl(t, bin, "-O", "OpenFlow13", "parse-group", c.ovs))
			if got != want {
				t.Fatalf("ofp-print of our GROUP_MOD differs from OVS's encoding of %q\n ours: %s\n ovs:  %s", c.ovs, got, want)
			}
		})
	}
	for _, cmd := range []uint16{GroupModify, GroupDelete} {
		gm, err := ovsCodec.EncodeGroupMod(groupCases()[0].g, cmd)
		if err != nil {
			t.Fatal(err)
		}
		got := fromMessage(ofctl(t, bin, "ofp-print", hex.EncodeToString(marshal(t, gm))))
		word := map[uint16]string{GroupModify: "MOD group_id=1001,type=all,bucket=", GroupDelete: "DEL group_id=1001"}[cmd]
		if !strings.Contains(got, word) {
			t.Errorf("group command %d: %q missing from %s", cmd, word, got)
		}
	}
}
