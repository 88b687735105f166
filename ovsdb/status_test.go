package ovsdb

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestStatusReportsDialError: while the OVSDB endpoint cannot be reached
// the NVE's status says why, in the words of the dial, and keeps saying
// it across retries (no Open vSwitch needed).
func TestStatusReportsDialError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "db.sock")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()

	log := &statusLog{}
	m := NewManager(nil, log.record, WithBackoff(20*time.Millisecond, 50*time.Millisecond))
	defer m.Close()
	for _, c := range []struct{ nve, endpoint, want string }{
		{"hv1", "unix:" + sock, "dial unix " + sock + ": no such file or directory"},
		{"hv2", "tcp:" + refused, "dial tcp " + refused + ": connection refused"},
	} {
		m.Sync(context.Background(), Desired{NVE: c.nve, Endpoint: c.endpoint, Bridge: "br-int"})
		waitFor(t, 10*time.Second, c.nve+" dial error reported", func() (bool, string) {
			st, _ := m.Status(c.nve)
			s, _ := m.Stats(c.nve)
			return !st.Connected && !st.BridgeReady && st.LastError == c.want && s.ConnectFails >= 3, fmt.Sprintf("%+v %+v", st, s)
		})
	}
}
