package pipeline

import "testing"

// BenchmarkForNVE is what the southbound pays for an NVE's profile (every
// reconciliation, every status rendering): the realized profile of its
// kind.
func BenchmarkForNVE(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		p, err := ForNVE("ovs", "", nil)
		if err != nil || p.Name != "ovs" {
			b.Fatal(p.Name, err)
		}
	}
}

// The shared realization is the one OVS and Strict build.
func TestProfilesRealizedOnce(t *testing.T) {
	a, err := ForName("ovs")
	if err != nil {
		t.Fatal(err)
	}
	b := Profiles()["ovs"]
	if &a.Tables[0] != &b.Tables[0] {
		t.Error("ForName and Profiles realize the profile anew")
	}
	o := OVS()
	if len(o.Tables) != len(a.Tables) {
		t.Fatalf("%d tables, OVS() has %d", len(a.Tables), len(o.Tables))
	}
	for i := range o.Tables {
		if o.Tables[i].Name != a.Tables[i].Name || o.Tables[i].Number != a.Tables[i].Number {
			t.Errorf("table %d: %s/%d, OVS(): %s/%d", i, a.Tables[i].Name, a.Tables[i].Number, o.Tables[i].Name, o.Tables[i].Number)
		}
	}
	s, err := ForName(StrictName)
	if err != nil || s.Name != StrictName || len(s.Tables) != len(Strict().Tables) {
		t.Fatalf("strict: %v %v", s.Name, err)
	}
}
