package daemon

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/nva-project/nva/web"
)

// TestRESTHardeningSettings: --api-max-conns and --ovsdb-allow are
// validated at startup, naming the flag.
func TestRESTHardeningSettings(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		flag string
	}{
		{[]string{"--api-max-conns", "0"}, nil, "--api-max-conns"},
		{[]string{"--api-max-conns", "many"}, nil, "--api-max-conns"},
		{nil, map[string]string{"NVA_API_MAX_CONNS": "-5"}, "--api-max-conns"},
		{[]string{"--ovsdb-allow", ""}, nil, "--ovsdb-allow"},
		{[]string{"--ovsdb-allow", "tcp:10.0.0.0/33"}, nil, "--ovsdb-allow"},
		{[]string{"--ovsdb-allow", "tcp:::1"}, nil, "--ovsdb-allow"},
		{nil, map[string]string{"NVA_OVSDB_ALLOW": "http://x"}, "--ovsdb-allow"},
	} {
		_, err := LoadSettings(c.args, env(c.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%v %v: %v, want an error naming %s", c.args, c.env, err, c.flag)
		}
	}
	s, err := LoadSettings([]string{"--api-max-conns", "64"}, env(map[string]string{"NVA_OVSDB_ALLOW": "tcp:10.0.0.0/8:6640, ssl:*"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxConns() != 64 || !s.OVSDBPolicy().Allows("tcp:10.9.9.9:6640") || !s.OVSDBPolicy().Allows("ssl:h.example:1") || s.OVSDBPolicy().Allows("unix:/x") {
		t.Fatalf("settings %+v", s)
	}
	def := DefaultSettings()
	if def.MaxConns() != web.DefaultMaxConns || !def.OVSDBPolicy().Allows("unix:/run/openvswitch/db.sock") || def.OVSDBPolicy().Allows("tcp:10.0.0.1:6640") {
		t.Fatalf("defaults %+v", def)
	}
}

// TestDaemonServesHardenedAPI: the daemon serves the API with the
// timeouts and passes --ovsdb-allow to it.
func TestDaemonServesHardenedAPI(t *testing.T) {
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	cfg.OVSDBAllow = "tcp:198.18.0.0/15:6640"
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.http.ReadTimeout != web.DefaultReadTimeout || d.http.WriteTimeout != web.DefaultWriteTimeout ||
		d.http.IdleTimeout != web.DefaultIdleTimeout || d.http.ReadHeaderTimeout != web.DefaultReadHeaderTimeout {
		t.Fatalf("API server timeouts: read %s write %s idle %s header %s", d.http.ReadTimeout, d.http.WriteTimeout, d.http.IdleTimeout, d.http.ReadHeaderTimeout)
	}
	if code, body := call(t, "POST", d.APIURL()+"/api/v1/nves", `{"name":"hv1","underlay_ips":["192.0.2.1"],"ovsdb":"tcp:198.18.0.1:6640"}`); code != 201 {
		t.Fatalf("allowed endpoint: %d %s", code, body)
	}
	code, body := call(t, "POST", d.APIURL()+"/api/v1/nves", `{"name":"hv2","underlay_ips":["192.0.2.2"],"ovsdb":"unix:/run/openvswitch/db.sock"}`)
	if code != 422 || !strings.Contains(string(body), `"field":"ovsdb"`) {
		t.Fatalf("refused endpoint: %d %s", code, body)
	}
}
