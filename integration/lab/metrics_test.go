package lab

import "testing"

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(`# HELP nva_neighbor_answers_total Answers.
# TYPE nva_neighbor_answers_total counter
nva_neighbor_answers_total 7
nva_neighbor_drops_total{reason="rate limited"} 2
nva_neighbor_drops_total{reason="unknown_target"} 1
nva_neighbor_answers_total_other 100
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := MetricSum(m, "nva_neighbor_answers_total"); got != 7 {
		t.Errorf("answers = %v, want 7", got)
	}
	if got := MetricSum(m, "nva_neighbor_drops_total"); got != 3 {
		t.Errorf("drops = %v, want 3", got)
	}
	if got := len(MetricSeries(m, "nva_neighbor_drops_total")); got != 2 {
		t.Errorf("%d drop series, want 2", got)
	}
	if _, err := parseMetrics("nva_x notanumber\n"); err == nil {
		t.Error("want an error for a bad value")
	}
}

func TestRemoteTunnelPort(t *testing.T) {
	for _, c := range []struct{ encap, ip, want string }{
		{"vxlan", "198.18.0.2", "nvxc6120002"},
		{"geneve", "198.18.0.3", "nvgc6120003"},
		{"gre", "198.18.0.10", "nvrc612000a"},
		{"vxlan", "2001:db8::1", ""},
		{"vxlan", "bogus", ""},
	} {
		if got := RemoteTunnelPort(c.encap, c.ip); got != c.want {
			t.Errorf("RemoteTunnelPort(%s, %s) = %q, want %q", c.encap, c.ip, got, c.want)
		}
	}
}
