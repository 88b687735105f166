package model

import (
	"strings"
	"testing"
)

func TestOVSDBPolicy(t *testing.T) {
	tests := []struct {
		policy string
		allow  []string
		refuse []string
	}{
		{DefaultOVSDBAllow,
			[]string{"unix:/run/openvswitch/db.sock", "unix:/tmp/lab/hv1/db.sock", "tcp:127.0.0.1:6640", "tcp:[::1]:6640", "tcp:[::ffff:127.0.0.1]:6640"},
			[]string{"tcp:127.0.0.1:22", "tcp:127.0.0.2:6640", "tcp:10.0.0.1:6640", "ssl:127.0.0.1:6640", "tcp:localhost:6640", "tcp:169.254.169.254:80"}},
		{"unix:/var/run/openvswitch/db.sock,unix:/run/ovs/*",
			[]string{"unix:/var/run/openvswitch/db.sock", "unix:/var/run/openvswitch/./db.sock", "unix:/run/ovs/a.sock", "unix:/run/ovs/x/b.sock"},
			[]string{"unix:/var/run/openvswitch/other.sock", "unix:/run/ovs", "unix:/run/ovs/../docker.sock", "unix:/run/ovsx/a.sock", "tcp:1.2.3.4:6640"}},
		{"tcp:10.0.0.0/8:6640,ssl:*:6640-6642,tcp:[fd00::/8],ssl:ovs.example.com",
			[]string{"tcp:10.1.2.3:6640", "ssl:192.0.2.1:6641", "ssl:[2001:db8::1]:6642", "tcp:[fd00::1]:1", "ssl:OVS.example.com.:443"},
			[]string{"tcp:10.1.2.3:6641", "tcp:11.0.0.1:6640", "ssl:192.0.2.1:6643", "tcp:ovs.example.com:6640", "ssl:evil.example.com:443", "unix:/run/openvswitch/db.sock"}},
		{"*", []string{"tcp:203.0.113.9:22", "unix:/x", "ssl:h:1"}, []string{"tcp:no-port", "http://x"}},
		{"none", nil, []string{"unix:/x", "tcp:127.0.0.1:6640"}},
	}
	for _, tt := range tests {
		p, err := ParseOVSDBPolicy(tt.policy)
		if err != nil {
			t.Fatalf("%q: %v", tt.policy, err)
		}
		for _, ep := range tt.allow {
			if !p.Allows(ep) {
				t.Errorf("%q refuses %s", tt.policy, ep)
			}
		}
		for _, ep := range tt.refuse {
			if p.Allows(ep) {
				t.Errorf("%q allows %s", tt.policy, ep)
			}
		}
	}
}

func TestOVSDBPolicyParseErrors(t *testing.T) {
	for _, bad := range []string{"", " , ", "none,unix:*", "http:x", "unix:rel/path", "unix:/a/*/b", "tcp:::1", "tcp:[::1", "tcp:[10.0.0.1]",
		"tcp:10.0.0.0/33", "tcp:1.2.3.4:0", "tcp:1.2.3.4:7-5", "tcp:1.2.3.4:", "tcp:bad host", "ssl", "tcp:"} {
		if _, err := ParseOVSDBPolicy(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestOVSDBPolicyCheckNVE(t *testing.T) {
	p := MustOVSDBPolicy(DefaultOVSDBAllow)
	n := NVE{Name: "hv1", OVSDB: "tcp:10.0.0.1:6640"}
	err := p.CheckNVE(&n)
	me, ok := AsError(err)
	if !ok || me.Kind != KindInvalid || me.Field != "ovsdb" || !strings.Contains(me.Message, "--ovsdb-allow") {
		t.Fatalf("refused endpoint: %v", err)
	}
	for _, ep := range []string{"", "unix:/run/openvswitch/db.sock", "not an endpoint"} {
		n.OVSDB = ep
		if err := p.CheckNVE(&n); err != nil {
			t.Errorf("%q: %v (empty and malformed endpoints are the NVE validation's)", ep, err)
		}
	}
}
