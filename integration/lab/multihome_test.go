package lab

import (
	"testing"
	"time"
)

func TestParseTimedPing(t *testing.T) {
	out := "PING 192.0.2.42 (192.0.2.42) 56(84) bytes of data.\n" +
		"[1700000000.100000] 64 bytes from 192.0.2.42: icmp_seq=1 ttl=64 time=0.5 ms\n" +
		"[1700000000.120000] 64 bytes from 192.0.2.42: icmp_seq=2 ttl=64 time=0.5 ms\n" +
		"[1700000000.460000] 64 bytes from 192.0.2.42: icmp_seq=19 ttl=64 time=0.5 ms\n" +
		"[1700000000.480000] 64 bytes from 192.0.2.42: icmp_seq=20 ttl=64 time=0.5 ms\n" +
		"\n--- 192.0.2.42 ping statistics ---\n20 packets transmitted, 4 received, 80% packet loss, time 400ms\n"
	r, err := parseTimedPing(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Replies) != 4 || r.MaxGap != 340*time.Millisecond || r.Transmitted != 20 || r.Received != 4 {
		t.Fatalf("parsed %+v (max gap %v)", r.PingResult, r.MaxGap)
	}
	if got := r.Interruption(20 * time.Millisecond); got != 320*time.Millisecond {
		t.Fatalf("interruption %v, want 320ms", got)
	}
}
