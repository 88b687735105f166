package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageAndBadFlags(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-h"}, func(string) (string, bool) { return "", false }, &out); code != 0 {
		t.Errorf("-h exit %d", code)
	}
	for _, want := range []string{"--join", "NVA_DATA_DIR", "openflow-advertise", "bootstrap"} {
		if !strings.Contains(strings.ReplaceAll(out.String(), "  -", "  --"), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"--log-format", "xml"}, func(string) (string, bool) { return "", false }, &out); code != 2 || !strings.Contains(out.String(), "log-format") {
		t.Errorf("bad flag: exit %d, output %q", code, out.String())
	}
	out.Reset()
	env := func(k string) (string, bool) {
		if k == "NVA_LOG_LEVEL" {
			return "chatty", true
		}
		return "", false
	}
	if code := run(nil, env, &out); code != 2 || !strings.Contains(out.String(), "log-level") {
		t.Errorf("bad env: exit %d, output %q", code, out.String())
	}
}

// TestInvalidSettingExits: a bad value exits 2 before anything starts,
// naming the flag, the value and the accepted forms, one "nva: " line per
// problem.
func TestInvalidSettingExits(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	var out bytes.Buffer
	code := run([]string{"--openflow-advertise", "bogus::", "--data-dir", t.TempDir()}, none, &out)
	if code == 0 {
		t.Fatalf("exit 0 for --openflow-advertise bogus::; output %q", out.String())
	}
	msg := out.String()
	for _, want := range []string{"nva: --openflow-advertise: ", `"bogus::"`, "tcp:HOST:PORT", "NVA_OPENFLOW_ADVERTISE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("output lacks %q: %q", want, msg)
		}
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}

	out.Reset()
	code = run([]string{"--openflow-advertise", "bogus::", "--debug-addr", "6060"}, none, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if code != 2 || len(lines) != 2 || !strings.HasPrefix(lines[0], "nva: --openflow-advertise: ") || !strings.HasPrefix(lines[1], "nva: --debug-addr: ") {
		t.Errorf("two bad flags: exit %d, output %q", code, out.String())
	}
}
