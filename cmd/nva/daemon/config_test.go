package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nva.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	s, err := LoadSettings(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		NodeID: "nva1", DataDir: "./nva-data", APIAddr: "127.0.0.1:8080", APIAdvertise: "http://127.0.0.1:8080",
		RaftAddr: "127.0.0.1:8300", OpenFlowAddr: "127.0.0.1:6653", OpenFlowAdvertise: "127.0.0.1:6653",
		LogFormat: "text", LogLevel: "info",
		APIMaxConns: "1024", OVSDBAllow: "unix:*,tcp:127.0.0.1:6640,tcp:[::1]:6640",
	}
	if s != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", s, want)
	}
}

// TestPrecedence checks flag > env > YAML file > default for every kind of
// setting, including the file named by NVA_CONFIG.
func TestPrecedence(t *testing.T) {
	file := writeYAML(t, `
node-id: file-node
data-dir: /var/lib/nva-file
api-addr: 10.0.0.1:9000
raft-addr: 127.0.0.2:9300
openflow-addr: 0.0.0.0:6633
insecure-listen: true
log-format: json
log-level: warn
`)
	// file only
	s, err := LoadSettings([]string{"--config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "file-node" || s.DataDir != "/var/lib/nva-file" || s.APIAddr != "10.0.0.1:9000" || s.LogFormat != "json" ||
		s.LogLevel != "warn" || s.RaftAddr != "127.0.0.2:9300" || s.APIAdvertise != "http://10.0.0.1:9000" {
		t.Errorf("file: %+v", s)
	}
	// The OpenFlow advertise address takes the API host when it listens on 0.0.0.0.
	if s.OpenFlowAdvertise != "10.0.0.1:6633" {
		t.Errorf("openflow-advertise = %q, want 10.0.0.1:6633", s.OpenFlowAdvertise)
	}

	// env over file; file found through NVA_CONFIG
	e := map[string]string{"NVA_CONFIG": file, "NVA_NODE_ID": "env-node", "NVA_LOG_LEVEL": "debug", "NVA_BOOTSTRAP": "true"}
	s, err = LoadSettings(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "env-node" || s.LogLevel != "debug" || !s.Bootstrap || s.DataDir != "/var/lib/nva-file" || s.LogFormat != "json" {
		t.Errorf("env over file: %+v", s)
	}

	// flags over env over file over default
	s, err = LoadSettings([]string{"--node-id=flag-node", "--bootstrap=false", "--api-advertise", "http://nva.example:9000/"}, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "flag-node" || s.Bootstrap || s.LogLevel != "debug" || s.DataDir != "/var/lib/nva-file" ||
		s.APIAdvertise != "http://nva.example:9000" || s.OpenFlowAdvertise != "nva.example:6633" {
		t.Errorf("flag over env: %+v", s)
	}

	// A flag set to the default value still wins over env and file.
	s, err = LoadSettings([]string{"--log-format", "text", "--data-dir", DefaultDataDir}, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.LogFormat != "text" || s.DataDir != DefaultDataDir {
		t.Errorf("explicit default flag: %+v", s)
	}

	// --config wins over NVA_CONFIG.
	other := writeYAML(t, "node-id: other-file\nraft-addr: 127.0.0.2:8300\n")
	s, err = LoadSettings([]string{"--config", other}, env(map[string]string{"NVA_CONFIG": file}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "other-file" || s.DataDir != DefaultDataDir {
		t.Errorf("--config over NVA_CONFIG: %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		yaml string
		want string
	}{
		"unknown yaml key":  {yaml: "node-idd: x\n", want: "node-idd"},
		"bad env bool":      {env: map[string]string{"NVA_BOOTSTRAP": "sure"}, want: "NVA_BOOTSTRAP"},
		"bad log format":    {args: []string{"--log-format", "xml"}, want: "log-format"},
		"bad log level":     {env: map[string]string{"NVA_LOG_LEVEL": "loud"}, want: "log-level"},
		"bad join":          {args: []string{"--join", "ftp://10.0.0.1:8080"}, want: "join"},
		"join and boot":     {args: []string{"--join", "http://10.0.0.1:8080", "--bootstrap"}, want: "cannot be combined with --join"},
		"raft without host": {args: []string{"--raft-addr", ":8300"}, want: "raft-addr"},
		"unknown flag":      {args: []string{"--colour"}, want: "colour"},
		"stray argument":    {args: []string{"serve"}, want: "unexpected"},
		"missing file":      {args: []string{"--config", "/nonexistent/nva.yaml"}, want: "nonexistent"},
	} {
		t.Run(name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				args = append(args, "--config", writeYAML(t, c.yaml))
			}
			_, err := LoadSettings(args, env(c.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestJoinURLs(t *testing.T) {
	s, err := LoadSettings([]string{"--join", "http://10.0.0.1:8080/, http://10.0.0.2:8080"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.JoinURLs(), " "); got != "http://10.0.0.1:8080 http://10.0.0.2:8080" {
		t.Errorf("JoinURLs = %q", got)
	}
}

// TestValidation: every setting is checked at startup; a bad value is an
// error naming the flag, the value, the accepted forms and the environment
// variable; a good one is accepted (and normalized where it has a normal
// form).
func TestValidation(t *testing.T) {
	for _, c := range []struct {
		flag, value string
		ok          bool
		want        string // for ok: the resulting value ("" = unchanged); else: what the reason says
	}{
		{"node-id", "n1", true, ""},
		{"node-id", "node.example-1_a", true, ""},
		{"node-id", "", false, "must not be empty"},
		{"node-id", "-n1", false, "not a valid node ID"},
		{"node-id", "n 1", false, "not a valid node ID"},
		{"node-id", strings.Repeat("n", 64), false, "not a valid node ID"},
		{"data-dir", "/var/lib/nva", true, ""},
		{"data-dir", " ", false, "must not be empty"},
		{"data-dir", "/dev/null", false, "not a directory"},
		{"api-addr", "10.0.0.1:8080", true, ""},
		{"api-addr", ":8080", true, ""},
		{"api-addr", "[::1]:8080", true, ""},
		{"api-addr", "127.0.0.1:0", true, ""},
		{"api-addr", "10.0.0.1", false, "missing port"},
		{"api-addr", "10.0.0.1:http", false, "not a number"},
		{"api-addr", "10.0.0.1:65536", false, "not a number 0-65535"},
		{"api-addr", "bogus::", false, "too many colons"},
		{"api-addr", "a/b:8080", false, "neither an IP address nor a DNS name"},
		{"api-advertise", "https://nva.example:8443/", true, "https://nva.example:8443"},
		{"api-advertise", "http://10.0.0.1", true, ""},
		{"api-advertise", "10.0.0.1:8080", false, "not an http:// or https:// URL"},
		{"api-advertise", "http://:8080", false, "no host"},
		{"api-advertise", "http://10.0.0.1:99999", false, "not a number"},
		{"api-advertise", "http://10.0.0.1:8080/api", false, "base URL"},
		{"raft-addr", "127.0.0.2:8300", true, ""},
		{"raft-addr", "localhost:8300", true, ""},
		{"raft-addr", "10.0.0.1:8300", false, "needs TLS"},
		{"raft-addr", "nva1.example:8300", false, "needs TLS"},
		{"raft-addr", ":8300", false, "give a host they can reach"},
		{"raft-addr", "0.0.0.0:8300", false, "give a host they can reach"},
		{"raft-addr", "[::]:8300", false, "give a host they can reach"},
		{"raft-addr", "10.0.0.1", false, "missing port"},
		{"openflow-addr", "0.0.0.0:6653", true, ""},
		{"openflow-addr", ":6653", true, ""},
		{"openflow-addr", "tcp:0.0.0.0:6653", true, ""},
		{"openflow-addr", "unix:/run/nva/of.sock", true, ""},
		{"openflow-addr", "unix:", false, "empty socket path"},
		{"openflow-addr", "ssl:0.0.0.0:6653", false, "too many colons"},
		{"openflow-addr", "6653", false, "missing port"},
		{"openflow-advertise", "198.51.100.254:6653", true, ""},
		{"openflow-advertise", "tcp:198.51.100.254:6653", true, ""},
		{"openflow-advertise", "ssl:198.51.100.254:6653", true, ""},
		{"openflow-advertise", "tcp:[2001:db8::1]:6653", true, ""},
		{"openflow-advertise", "bogus::", false, "too many colons"},
		{"openflow-advertise", "198.51.100.254", false, "missing port"},
		{"openflow-advertise", "tcp:198.51.100.254", false, "missing port"},
		{"openflow-advertise", ":6653", false, "missing host"},
		{"openflow-advertise", "tcp:198.51.100.254:0", false, "bad port"},
		{"openflow-advertise", "unix:/run/nva.sock", false, "unix"},
		{"openflow-advertise", "udp:198.51.100.254:6653", false, "too many colons"},
		{"openflow-advertise", "a b:6653", false, "neither an IP address nor a DNS name"},
		{"join", "http://10.0.0.1:8080/, https://10.0.0.2:8443", true, "http://10.0.0.1:8080,https://10.0.0.2:8443"},
		{"join", "10.0.0.1:8300", true, ""},
		{"join", "10.0.0.1", false, "missing port"},
		{"join", "0.0.0.0:8300", false, "give a host they can reach"},
		{"join", "http://10.0.0.1:8080,ftp://10.0.0.2", false, `"ftp://10.0.0.2": not an http`},
		{"join", ",", false, "no URL"},
		{"log-format", "json", true, ""},
		{"log-format", "xml", false, "unknown log format"},
		{"log-level", "warn", true, ""},
		{"log-level", "loud", false, "unknown log level"},
		{"debug-addr", "", true, ""},
		{"debug-addr", ":6060", true, "127.0.0.1:6060"},
		{"debug-addr", "127.0.0.1:0", true, ""},
		{"debug-addr", "[::1]:6060", true, ""},
		{"debug-addr", "0.0.0.0:6060", true, ""},
		{"debug-addr", "6060", false, "missing port"},
		{"debug-addr", "localhost:pprof", false, "not a number"},
	} {
		st, ok := settingNamed(c.flag)
		if !ok {
			t.Fatalf("no setting %q", c.flag)
		}
		name := c.flag + "=" + c.value
		// The same value through each of the three sources.
		for _, src := range []string{"flag", "env", "yaml"} {
			var args []string
			// The listener policy (non-loopback needs TLS or the opt-out)
			// has its own test, TestInsecureListen.
			e := map[string]string{"NVA_INSECURE_LISTEN": "true"}
			switch src {
			case "flag":
				args = []string{"--" + c.flag + "=" + c.value}
			case "env":
				e[st.env()] = c.value
			case "yaml":
				args = []string{"--config", writeYAML(t, fmt.Sprintf("%s: %q\n", c.flag, c.value))}
			}
			s, err := LoadSettings(args, env(e), io.Discard)
			if c.ok {
				if err != nil {
					t.Errorf("%s (%s): %v", name, src, err)
					continue
				}
				want := c.want
				if want == "" {
					want = c.value
				}
				if got := *st.str(&s); got != want {
					t.Errorf("%s (%s): value %q, want %q", name, src, got, want)
				}
				continue
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Errorf("%s (%s): err = %v, want a *SettingError", name, src, err)
				continue
			}
			msg := err.Error()
			for _, w := range []string{"--" + c.flag + ": ", strconv.Quote(c.value), c.want, "want " + st.forms} {
				if !strings.Contains(msg, w) {
					t.Errorf("%s (%s): %q does not mention %q", name, src, msg, w)
				}
			}
			switch src {
			case "env":
				if !strings.Contains(msg, "(from environment "+st.env()+")") {
					t.Errorf("%s (env): %q does not name the variable it came from", name, msg)
				}
			case "yaml":
				if !strings.Contains(msg, "(from key "+c.flag+" in ") || !strings.Contains(msg, "(env "+st.env()+")") {
					t.Errorf("%s (yaml): %q does not name the key it came from and the variable", name, msg)
				}
			default:
				if !strings.Contains(msg, "(env "+st.env()+")") {
					t.Errorf("%s (flag): %q does not name the environment variable", name, msg)
				}
			}
		}
	}
}

// TestValidationReportsEverything: all bad settings are reported at once,
// one line each.
func TestValidationReportsEverything(t *testing.T) {
	_, err := LoadSettings([]string{"--openflow-advertise", "bogus::", "--log-level", "loud", "--raft-addr", ":8300"}, env(nil), io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", err.Error())
	}
	for i, f := range []string{"--raft-addr: ", "--openflow-advertise: ", "--log-level: "} {
		if !strings.HasPrefix(lines[i], f) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], f)
		}
	}
}

// TestDerivedAdvertise: the OpenFlow advertise address derived from a
// tcp: or unix: listen address, and the warnings of valid but risky
// settings.
func TestDerivedAdvertise(t *testing.T) {
	for _, c := range []struct {
		args     []string
		want     string
		warnings []string
	}{
		{[]string{"--openflow-addr", "tcp:0.0.0.0:6633", "--api-addr", "10.0.0.1:8080", "--insecure-listen"}, "10.0.0.1:6633",
			[]string{"INSECURE (--insecure-listen): --api-addr 10.0.0.1:8080", "INSECURE (--insecure-listen): --openflow-addr tcp:0.0.0.0:6633"}},
		{[]string{"--openflow-addr", "tcp:10.0.0.2:6633", "--insecure-listen"}, "10.0.0.2:6633", []string{"--openflow-addr tcp:10.0.0.2:6633 accepts plain text"}},
		{[]string{"--openflow-addr", "127.0.0.2:6633", "--insecure-listen"}, "127.0.0.2:6633", nil},
		{[]string{"--openflow-addr", "unix:/run/of.sock"}, "", []string{"unix socket"}},
		{[]string{"--openflow-advertise", "ssl:10.0.0.1:6653"}, "ssl:10.0.0.1:6653", []string{"plain TCP"}},
		{[]string{"--debug-addr", "0.0.0.0:6060"}, "127.0.0.1:6653", []string{"--debug-addr 0.0.0.0:6060 is not a loopback address"}},
		{[]string{"--debug-addr", ":6060"}, "127.0.0.1:6653", nil},
		{[]string{"--debug-addr", "localhost:6060"}, "127.0.0.1:6653", nil},
	} {
		s, err := LoadSettings(c.args, env(nil), io.Discard)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if s.OpenFlowAdvertise != c.want {
			t.Errorf("%q: openflow-advertise %q, want %q", c.args, s.OpenFlowAdvertise, c.want)
		}
		w := s.Warnings()
		if len(w) != len(c.warnings) {
			t.Errorf("%q: warnings %q, want %d", c.args, w, len(c.warnings))
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], c.warnings[i]) {
				t.Errorf("%q: warning %q does not say %q", c.args, w[i], c.warnings[i])
			}
		}
	}
}
