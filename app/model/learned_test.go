package model

import (
	"strings"
	"testing"
	"time"
)

func TestLearnedReportValidate(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ok := LearnedMAC{VN: "blue", MAC: "02:00:00:00:0A:01", Via: "seg1", IPs: []string{"::ffff:10.0.0.5"}}
	cases := []struct {
		name  string
		r     LearnedReport
		field string // "" valid
	}{
		{"valid", LearnedReport{NVE: "hv1", At: at, MACs: []LearnedMAC{ok}}, ""},
		{"vtep", LearnedReport{NVE: "vtep1", At: at, MACs: []LearnedMAC{{VN: "blue", MAC: "02:00:00:00:0a:02", Via: ViaVTEP}}}, ""},
		{"no nve", LearnedReport{At: at, MACs: []LearnedMAC{ok}}, "nve"},
		{"no time", LearnedReport{NVE: "hv1", MACs: []LearnedMAC{ok}}, "at"},
		{"multicast", LearnedReport{NVE: "hv1", At: at, MACs: []LearnedMAC{{VN: "blue", MAC: "01:00:5e:00:00:01", Via: "seg1"}}}, "macs[0].mac"},
		{"zero mac", LearnedReport{NVE: "hv1", At: at, MACs: []LearnedMAC{{VN: "blue", MAC: "00:00:00:00:00:00", Via: "seg1"}}}, "macs[0].mac"},
		{"bad via", LearnedReport{NVE: "hv1", At: at, MACs: []LearnedMAC{{VN: "blue", MAC: "02:00:00:00:0a:01", Via: ""}}}, "macs[0].via"},
		{"bad vn", LearnedReport{NVE: "hv1", At: at, MACs: []LearnedMAC{{VN: "", MAC: "02:00:00:00:0a:01", Via: "seg1"}}}, "macs[0].vn"},
		{"bad ip", LearnedReport{NVE: "hv1", At: at, MACs: []LearnedMAC{{VN: "blue", MAC: "02:00:00:00:0a:01", Via: "seg1", IPs: []string{"x"}}}}, "macs[0].ips[0]"},
		{"too many", LearnedReport{NVE: "hv1", At: at, MACs: make([]LearnedMAC, MaxLearnedBatch+1)}, "macs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			r.MACs = append([]LearnedMAC(nil), r.MACs...)
			r.Defaults()
			err := r.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %v, want one on %s", err, c.field)
			}
		})
	}
	r := LearnedReport{NVE: "hv1", At: at.Add(1500 * time.Nanosecond), MACs: []LearnedMAC{ok}}
	r.Defaults()
	if r.MACs[0].MAC != "02:00:00:00:0a:01" || r.MACs[0].IPs[0] != "10.0.0.5" || r.At.Nanosecond()%1000 != 0 {
		t.Fatalf("defaults %+v", r)
	}
	if ok.IPs[0] != "::ffff:10.0.0.5" {
		t.Fatal("Defaults rewrote the caller's IPs")
	}
}

func TestSegmentPortValidate(t *testing.T) {
	base := Port{Name: "seg1", VN: "blue", NVE: "hv1", Interface: "eth1", VLAN: 100, Kind: PortKindSegment}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		change func(*Port)
		field  string
	}{
		"mac":  {func(p *Port) { p.MAC = "02:00:00:00:00:01" }, "mac"},
		"ips":  {func(p *Port) { p.IPs = []string{"10.0.0.1"} }, "ips"},
		"vlan": {func(p *Port) { p.VLAN = 5000 }, "vlan"},
		"kind": {func(p *Port) { p.Kind = "bogus" }, "kind"},
		"pair": {func(p *Port) { p.Pair = "seg2" }, "pair"},
	} {
		p := base
		c.change(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %v, want one on %s", name, err, c.field)
		}
	}
}

func TestLearnedChangedVNs(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	e := &LearnedEndpoint{VN: "blue", MAC: "02:00:00:00:0a:01", NVE: "hv1", Via: "seg1", FirstSeen: at, LastSeen: at}
	refreshed := *e
	refreshed.LastSeen = at.Add(time.Minute)
	moved := refreshed
	moved.NVE, moved.Via = "hv2", "seg2"
	snap := func(es ...*LearnedEndpoint) *Snapshot {
		s := NewSnapshot(1, nil, nil, nil)
		s.Learned = map[string]*LearnedEndpoint{}
		for _, x := range es {
			s.Learned[x.Key()] = x
		}
		return s
	}
	if got := LearnedChangedVNs(snap(e), snap(&refreshed)); len(got) != 0 {
		t.Fatalf("a refresh changed %v", got)
	}
	if got := LearnedChangedVNs(snap(e), snap(&moved)); len(got) != 1 || got[0] != "blue" {
		t.Fatalf("a move changed %v", got)
	}
	if got := LearnedChangedVNs(snap(e), snap()); len(got) != 1 {
		t.Fatalf("a removal changed %v", got)
	}
	if got := snap(e, &LearnedEndpoint{VN: "blue", MAC: "02:00:00:00:0a:00", NVE: "hv1", Via: "seg1"}).LearnedIn("blue"); len(got) != 2 || got[0].MAC != "02:00:00:00:0a:00" {
		t.Fatalf("LearnedIn %v", got)
	}
}
