package ovsdb

import (
	"strconv"
	"strings"
	"testing"
)

func TestControllerTarget(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{in: "198.51.100.254:6653", want: "tcp:198.51.100.254:6653"},
		{in: "tcp:198.51.100.254:6653", want: "tcp:198.51.100.254:6653"},
		{in: "ssl:198.51.100.254:6653", want: "ssl:198.51.100.254:6653"},
		{in: "nva1.example:6653", want: "tcp:nva1.example:6653"},
		{in: "[2001:db8::1]:6653", want: "tcp:[2001:db8::1]:6653"},
		{in: "tcp:[2001:db8::1]:6653", want: "tcp:[2001:db8::1]:6653"},
		{in: "bogus::", err: "too many colons"},
		{in: "", err: "empty address"},
		{in: "198.51.100.254", err: "missing port"},
		{in: ":6653", err: "missing host"},
		{in: "tcp::6653", err: "missing host"},
		{in: "tcp:198.51.100.254:0", err: "bad port"},
		{in: "tcp:198.51.100.254:70000", err: "bad port"},
		{in: "ssl:198.51.100.254", err: "missing port"},
		{in: "unix:/run/nva.sock", err: "unix"},
		{in: "http://198.51.100.254:6653", err: "too many colons"},
		{in: "2001:db8::1:6653", err: "too many colons"},
	} {
		got, err := ControllerTarget(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || (c.in != "" && strings.Contains(err.Error(), strconv.Quote(c.in))) {
				t.Errorf("ControllerTarget(%q) = %q, %v; want an error saying %q (without quoting the address, which callers name)", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ControllerTarget(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if err := validateControllerTarget(got); err != nil {
			t.Errorf("result %q fails the Desired validator: %v", got, err)
		}
	}
}
