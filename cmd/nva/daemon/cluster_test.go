package daemon

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestClusterSecuritySettings: a non-loopback cluster address needs TLS
// or the explicit --insecure-cluster opt-out with a join token (and a loud
// warning); a bad token is refused without echoing it.
func TestClusterSecuritySettings(t *testing.T) {
	for name, c := range map[string]struct {
		args     []string
		wantErr  string // "" = valid
		wantWarn bool
	}{
		"loopback plain":            {args: []string{"--raft-addr", "127.0.0.1:8300"}},
		"non-loopback plain":        {args: []string{"--raft-addr", "10.0.0.1:8300"}, wantErr: "--raft-addr"},
		"opt-out without token":     {args: []string{"--raft-addr", "10.0.0.1:8300", "--insecure-cluster"}, wantErr: "needs --join-token"},
		"opt-out with token":        {args: []string{"--raft-addr", "10.0.0.1:8300", "--insecure-cluster", "--join-token", "0123456789abcdef"}, wantWarn: true},
		"short token":               {args: []string{"--join-token", "hunter2"}, wantErr: "too short"},
		"join by cluster address":   {args: []string{"--join", "127.0.0.1:8301"}},
		"join by cluster addr, bad": {args: []string{"--join", "127.0.0.1"}, wantErr: "--join"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := LoadSettings(c.args, env(nil), io.Discard)
			if c.wantErr != "" {
				var se *SettingError
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.As(err, &se) {
					t.Fatalf("err = %v, want a *SettingError mentioning %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error echoes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(strings.Join(s.Warnings(), "\n"), "--insecure-cluster")
			if warned != c.wantWarn {
				t.Errorf("warnings %q, want an --insecure-cluster warning: %v", s.Warnings(), c.wantWarn)
			}
			if s.APIAdvertise != "http://127.0.0.1:8080" {
				t.Errorf("api-advertise without TLS = %q", s.APIAdvertise)
			}
		})
	}
}
