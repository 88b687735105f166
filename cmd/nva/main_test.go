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
