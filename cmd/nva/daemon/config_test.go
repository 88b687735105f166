package daemon

import (
	"io"
	"os"
	"path/filepath"
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
		RaftAddr: "127.0.0.1:8300", OpenFlowAddr: ":6653", OpenFlowAdvertise: "127.0.0.1:6653",
		LogFormat: "text", LogLevel: "info",
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
raft-addr: 10.0.0.1:9300
openflow-addr: 0.0.0.0:6633
log-format: json
log-level: warn
`)
	// file only
	s, err := LoadSettings([]string{"--config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "file-node" || s.DataDir != "/var/lib/nva-file" || s.APIAddr != "10.0.0.1:9000" || s.LogFormat != "json" ||
		s.LogLevel != "warn" || s.RaftAddr != "10.0.0.1:9300" || s.APIAdvertise != "http://10.0.0.1:9000" {
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
		"bad join":          {args: []string{"--join", "10.0.0.1:8080"}, want: "join"},
		"join and boot":     {args: []string{"--join", "http://10.0.0.1:8080", "--bootstrap"}, want: "mutually exclusive"},
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
