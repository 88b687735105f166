package model

import (
	"strings"
	"testing"
)

func TestBUMValidate(t *testing.T) {
	for _, tc := range []struct {
		bum   BUM
		field string // "" valid
	}{
		{BUM{Mode: BUMReplicate}, ""},
		{BUM{Mode: BUMReplicator, Replicators: []string{"hv4", "hv5"}}, ""},
		{BUM{Mode: BUMMulticast, Group: "239.1.1.1"}, ""},
		{BUM{Mode: BUMReplicator}, "bum.replicators"},
		{BUM{Mode: BUMReplicator, Replicators: []string{"hv4", "hv4"}}, "bum.replicators[1]"},
		{BUM{Mode: BUMReplicator, Replicators: []string{"bad name"}}, "bum.replicators[0]"},
		{BUM{Mode: BUMReplicate, Replicators: []string{"hv4"}}, "bum.replicators"},
		{BUM{Mode: BUMReplicator, Replicators: []string{"hv4"}, Group: "239.1.1.1"}, "bum.group"},
		{BUM{Mode: "flood"}, "bum.mode"},
	} {
		v := VN{Name: "blue", BUM: tc.bum}
		v.Defaults()
		err := v.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.bum, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%+v: got %v, want an error on %s", tc.bum, err, tc.field)
		}
	}
}

func TestPairValidateAndCheck(t *testing.T) {
	p := Port{Name: "t2", VN: "blue", NVE: "hv2", Interface: "tap-t2", MAC: "02:00:00:00:01:aa", IPs: []string{"10.0.0.10"}, Pair: "t2"}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "pair") {
		t.Errorf("self-pair: %v", err)
	}
	p.Pair = "t1"
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	q := Port{Name: "t1", VN: "blue", NVE: "hv1", Interface: "tap-t1", MAC: "02:00:00:00:01:aa", IPs: []string{"10.0.0.10"}}
	if err := CheckPair(&p, &q); err != nil {
		t.Errorf("valid pair refused: %v", err)
	}
	for name, mutate := range map[string]func(*Port){
		"same NVE":   func(q *Port) { q.NVE = "hv2" },
		"other VN":   func(q *Port) { q.VN = "red" },
		"other MAC":  func(q *Port) { q.MAC = "02:00:00:00:01:ab" },
		"other IPs":  func(q *Port) { q.IPs = nil },
		"paired off": func(q *Port) { q.Pair = "t3" },
	} {
		r := q
		mutate(&r)
		if err := CheckPair(&p, &r); err == nil || err.Field != "pair" {
			t.Errorf("%s: got %v, want an error on pair", name, err)
		}
	}
	s := NewSnapshot(1, map[string]*VN{}, map[string]*NVE{}, map[string]*Port{"t1": &q, "t2": &p})
	if s.PairPartner(&q) != &p || s.PairPartner(&p) != &q {
		t.Errorf("PairPartner does not find the twins both ways")
	}
}
