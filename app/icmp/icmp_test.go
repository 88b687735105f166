package icmp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	nd "github.com/nva-project/nva/app/neighbor"
)

var (
	hostMAC = net.HardwareAddr{0x02, 0, 0, 0, 4, 1}
	gwMAC   = net.HardwareAddr{0x02, 0x4e, 0x56, 0x41, 0, 1}
)

// ipv4Frame is an Ethernet frame (tags prepended to the ethertype) with an
// IPv4 packet: TTL ttl, protocol proto, payload payload.
func ipv4Frame(tags []byte, src, dst string, ttl, proto uint8, fragOff uint16, payload []byte) []byte {
	f := append(append(append([]byte{}, gwMAC...), hostMAC...), tags...)
	f = binary.BigEndian.AppendUint16(f, 0x0800)
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[6:8], fragOff)
	h[8], h[9] = ttl, proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:12], checksum(h))
	return append(append(f, h...), payload...)
}

func ipv6Frame(src, dst string, hl, next uint8, payload []byte) []byte {
	f := append(append([]byte{}, gwMAC...), hostMAC...)
	f = binary.BigEndian.AppendUint16(f, 0x86dd)
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:6], uint16(len(payload)))
	h[6], h[7] = next, hl
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(append(f, h...), payload...)
}

// echo is an ICMP(v6) echo request header with some data.
func echo(typ uint8, n int) []byte {
	b := []byte{typ, 0, 0, 0, 0x12, 0x34, 0, 1}
	for i := 0; i < n; i++ {
		b = append(b, byte(i))
	}
	return b
}

func TestTimeExceededIPv4(t *testing.T) {
	for _, tags := range [][]byte{nil, {0x81, 0x00, 0x00, 0x0a}} {
		in := ipv4Frame(tags, "10.1.0.11", "10.2.0.12", 1, 1, 0, echo(8, 56))
		e, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := TimeExceeded(e, netip.MustParseAddr("10.1.0.1"), gwMAC)
		if err != nil {
			t.Fatal(err)
		}
		if string(out[0:6]) != string(hostMAC) || string(out[6:12]) != string(gwMAC) {
			t.Fatalf("MACs % x", out[:12])
		}
		if string(out[12:12+len(tags)]) != string(tags) {
			t.Fatalf("tags % x, want % x", out[12:12+len(tags)], tags)
		}
		o := 12 + len(tags)
		if binary.BigEndian.Uint16(out[o:]) != 0x0800 {
			t.Fatalf("ethertype % x", out[o:o+2])
		}
		ip := out[o+2:]
		if checksum(ip[:20]) != 0 {
			t.Fatal("bad IPv4 header checksum")
		}
		if got := int(binary.BigEndian.Uint16(ip[2:4])); got != len(ip) {
			t.Fatalf("total length %d, frame has %d", got, len(ip))
		}
		if ip[9] != 1 || ip[8] != HopLimit ||
			netip.AddrFrom4([4]byte(ip[12:16])) != netip.MustParseAddr("10.1.0.1") ||
			netip.AddrFrom4([4]byte(ip[16:20])) != netip.MustParseAddr("10.1.0.11") {
			t.Fatalf("IPv4 header % x", ip[:20])
		}
		msg := ip[20:]
		if msg[0] != 11 || msg[1] != 0 || checksum(msg) != 0 {
			t.Fatalf("ICMP header % x (checksum of message %#x)", msg[:8], checksum(msg))
		}
		// The quote: the original header and 8 bytes (the echo header).
		orig := in[12+len(tags)+2:]
		if string(msg[8:]) != string(orig[:28]) {
			t.Fatalf("quote % x, want % x", msg[8:], orig[:28])
		}
	}
}

func TestTimeExceededIPv6(t *testing.T) {
	in := ipv6Frame("2001:db8:1::11", "2001:db8:2::11", 1, 58, echo(128, 56))
	e, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	gw := netip.MustParseAddr("2001:db8:1::1")
	out, err := TimeExceeded(e, gw, gwMAC)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[0:6]) != string(hostMAC) || string(out[6:12]) != string(gwMAC) || binary.BigEndian.Uint16(out[12:]) != 0x86dd {
		t.Fatalf("Ethernet header % x", out[:14])
	}
	ip := out[14:]
	if ip[0]>>4 != 6 || ip[6] != 58 || ip[7] != HopLimit || int(binary.BigEndian.Uint16(ip[4:6])) != len(ip)-40 {
		t.Fatalf("IPv6 header % x", ip[:40])
	}
	src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	if src != gw || dst != netip.MustParseAddr("2001:db8:1::11") {
		t.Fatalf("from %s to %s", src, dst)
	}
	msg := ip[40:]
	if msg[0] != 3 || msg[1] != 0 {
		t.Fatalf("ICMPv6 header % x", msg[:8])
	}
	if got, want := binary.BigEndian.Uint16(msg[2:4]), nd.ICMPv6Checksum(src, dst, msg); got != want {
		t.Fatalf("checksum %#x, want %#x", got, want)
	}
	// The checksum verifies: the ones' complement sum over the pseudo-header
	// and the message including its checksum is all ones.
	if sumWithPseudo(src, dst, msg) != 0xffff {
		t.Fatal("checksum does not verify")
	}
	// The whole packet (short enough) is quoted.
	if string(msg[8:]) != string(in[14:]) {
		t.Fatalf("quote of %d bytes, want %d", len(msg[8:]), len(in[14:]))
	}
}

func sumWithPseudo(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[0:4], uint32(len(msg)))
	tail[7] = 58
	add(tail[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestNotAnswered(t *testing.T) {
	for name, f := range map[string][]byte{
		"ICMP error":          ipv4Frame(nil, "10.1.0.11", "10.2.0.12", 1, 1, 0, echo(11, 28)),
		"later fragment":      ipv4Frame(nil, "10.1.0.11", "10.2.0.12", 1, 17, 0x0010, make([]byte, 16)),
		"broadcast source":    ipv4Frame(nil, "255.255.255.255", "10.2.0.12", 1, 17, 0, make([]byte, 16)),
		"unspecified source":  ipv4Frame(nil, "0.0.0.0", "10.2.0.12", 1, 17, 0, make([]byte, 16)),
		"ICMPv6 error":        ipv6Frame("2001:db8:1::11", "2001:db8:2::11", 1, 58, echo(1, 48)),
		"IPv6 later fragment": ipv6Frame("2001:db8:1::11", "2001:db8:2::11", 1, 44, []byte{17, 0, 0, 0x08, 0, 0, 0, 1}),
		"multicast source":    ipv6Frame("ff02::1", "2001:db8:2::11", 1, 17, make([]byte, 8)),
	} {
		if _, err := Parse(f); !errors.Is(err, ErrNotAnswered) {
			t.Errorf("%s: %v, want ErrNotAnswered", name, err)
		}
	}
	for name, f := range map[string][]byte{
		"short":         make([]byte, 10),
		"ARP":           append(append(append([]byte{}, gwMAC...), hostMAC...), 0x08, 0x06, 0, 1),
		"short IPv4":    ipv4Frame(nil, "10.1.0.11", "10.2.0.12", 1, 17, 0, nil)[:30],
		"short IPv6":    ipv6Frame("2001:db8:1::11", "2001:db8:2::11", 1, 17, nil)[:50],
		"truncated ext": ipv6Frame("2001:db8:1::11", "2001:db8:2::11", 1, 0, []byte{17, 0}),
	} {
		if _, err := Parse(f); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// A UDP datagram behind a hop-by-hop header is answered.
	if _, err := Parse(ipv6Frame("2001:db8:1::11", "2001:db8:2::11", 1, 0, append([]byte{17, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...))); err != nil {
		t.Errorf("hop-by-hop then UDP: %v", err)
	}
	// Families must agree.
	e, err := Parse(ipv4Frame(nil, "10.1.0.11", "10.2.0.12", 1, 17, 0, make([]byte, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TimeExceeded(e, netip.MustParseAddr("2001:db8:1::1"), gwMAC); err == nil {
		t.Error("an IPv6 gateway answered an IPv4 packet")
	}
}
