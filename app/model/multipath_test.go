package model

import (
	"strings"
	"testing"
)

func TestMultipathValidate(t *testing.T) {
	base := func() NVE {
		n := NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1", "198.18.1.1"}, OVSDB: "unix:/run/hv1/db.sock"}
		n.Defaults()
		return n
	}
	for _, c := range []struct {
		name  string
		edit  func(*NVE)
		field string // "" = valid
	}{
		{"none", func(*NVE) {}, ""},
		{"failover", func(n *NVE) { n.Multipath = MultipathFailover }, ""},
		{"active-active", func(n *NVE) { n.Multipath = MultipathActiveActive }, ""},
		{"unknown mode", func(n *NVE) { n.Multipath = "round-robin" }, "multipath"},
		{"strict profile", func(n *NVE) { n.Multipath = MultipathFailover; n.Profile = ProfileStrict }, "multipath"},
		{"openflow kind", func(n *NVE) {
			n.Kind, n.OVSDB, n.Bridge, n.DatapathType, n.DatapathID = NVEOpenFlow, "", "", "", "0000000000000001"
			n.Multipath = MultipathFailover
		}, "multipath"},
	} {
		n := base()
		c.edit(&n)
		err := n.Validate()
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.field != "" && (err == nil || !strings.Contains(err.Error(), c.field)):
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.field)
		}
	}
}

func TestVAPSignalValidate(t *testing.T) {
	for sig, ok := range map[VAPSignal]bool{"": true, VAPSignalLink: true, VAPSignalOff: true, "down": false} {
		v := VN{Name: "blue", VAPSignal: sig}
		v.Defaults()
		err := v.Validate()
		if ok != (err == nil) || (!ok && !strings.Contains(err.Error(), "vap_signal")) {
			t.Errorf("vap_signal %q: %v", sig, err)
		}
		if want := sig != VAPSignalOff; v.SignalsVAP() != want {
			t.Errorf("vap_signal %q: SignalsVAP %v", sig, v.SignalsVAP())
		}
	}
}
