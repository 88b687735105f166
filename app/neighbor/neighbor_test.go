package neighbor

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// hx decodes a hex string written with spaces and newlines for reading.
func hx(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Addresses of the frames below: the requester (port t1) and the target
// (port r2) of VN "lab".
const (
	reqMAC = "02:00:00:00:0a:01"
	tgtMAC = "02:00:00:00:0a:02"
)

// Golden frames, written byte by byte. The ICMPv6 checksums in them were
// computed with an independent implementation (a Python one-off, the
// pseudo-header spelled out) and are verified again by verifyICMPv6 below;
// the answers (ARP reply before its padding, NA, NA with 802.1ad+802.1Q
// tags), the NS and the checksums of the other inputs were also
// cross-checked once against Debian's scapy (python3-scapy 2.5), which
// builds the same bytes.
const (
	arpRequestHex = `ffffffffffff 020000000a01 0806
		0001 0800 06 04 0001 020000000a01 c6132a01 000000000000 c6132a02
		000000000000000000000000000000000000` // padded to 60 bytes as on the wire
	arpReplyHex = `020000000a01 020000000a02 0806
		0001 0800 06 04 0002 020000000a02 c6132a02 020000000a01 c6132a01
		000000000000000000000000000000000000`
	arpRequestTaggedHex = `ffffffffffff 020000000a01 8100 a064 0806
		0001 0800 06 04 0001 020000000a01 c6132a01 000000000000 c6132a02` // 46 bytes: unpadded
	arpReplyTaggedHex = `020000000a01 020000000a02 8100 a064 0806
		0001 0800 06 04 0002 020000000a02 c6132a02 020000000a01 c6132a01
		0000000000000000000000000000`
	// NS from 2001:db8:42::1 to the solicited-node group of 2001:db8:42::2.
	nsHex = `3333ff000002 020000000a01 86dd
		60000000 0020 3a ff 20010db8004200000000000000000001 ff0200000000000000000001ff000002
		87 00 11a3 00000000 20010db8004200000000000000000002 01 01 020000000a01`
	naHex = `020000000a01 020000000a02 86dd
		60000000 0020 3a ff 20010db8004200000000000000000002 20010db8004200000000000000000001
		88 00 7fab 60000000 20010db8004200000000000000000002 02 01 020000000a02`
	nsQinQHex = `3333ff000002 020000000a01 88a8 0005 8100 0064 86dd
		60000000 0020 3a ff 20010db8004200000000000000000001 ff0200000000000000000001ff000002
		87 00 11a3 00000000 20010db8004200000000000000000002 01 01 020000000a01`
	naQinQHex = `020000000a01 020000000a02 88a8 0005 8100 0064 86dd
		60000000 0020 3a ff 20010db8004200000000000000000002 20010db8004200000000000000000001
		88 00 7fab 60000000 20010db8004200000000000000000002 02 01 020000000a02`
	// Unicast NS (neighbor unreachability detection) without options.
	nsNoSLLHex = `020000000a02 020000000a01 86dd
		60000000 0018 3a ff 20010db8004200000000000000000001 20010db8004200000000000000000002
		87 00 eeb6 00000000 20010db8004200000000000000000002`
	// DAD: from :: to the solicited-node group of the tentative address.
	dadHex = `3333ff000001 020000000a01 86dd
		60000000 0018 3a ff 00000000000000000000000000000000 ff0200000000000000000001ff000001
		87 00 4cab 00000000 20010db8004200000000000000000001`
)

func TestReplyGolden(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		proto          Proto
		tags           []VLANTag
	}{
		{"arp", arpRequestHex, arpReplyHex, ARP, nil},
		{"arp 802.1Q pcp 5 vid 100", arpRequestTaggedHex, arpReplyTaggedHex, ARP, []VLANTag{{0x8100, 0xa064}}},
		{"nd", nsHex, naHex, ND, nil},
		{"nd 802.1ad+802.1Q", nsQinQHex, naQinQHex, ND, []VLANTag{{0x88a8, 5}, {0x8100, 100}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, want := hx(t, tc.in), hx(t, tc.want)
			r, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if r.Proto != tc.proto || r.Class() != Answerable || r.ClassFor(mac(tgtMAC)) != Answerable {
				t.Fatalf("proto %v class %v / %v", r.Proto, r.Class(), r.ClassFor(mac(tgtMAC)))
			}
			if len(r.Tags) != len(tc.tags) || (len(tc.tags) > 0 && !equalTags(r.Tags, tc.tags)) {
				t.Fatalf("tags %+v, want %+v", r.Tags, tc.tags)
			}
			if r.EthSrc.String() != reqMAC || r.SenderMAC.String() != reqMAC {
				t.Fatalf("eth src %s sender MAC %s", r.EthSrc, r.SenderMAC)
			}
			got, err := Reply(r, mac(tgtMAC))
			if err != nil {
				t.Fatalf("Reply: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("reply differs from golden\n got  %x\n want %x", got, want)
			}
			if tc.proto == ND {
				verifyICMPv6(t, got[14+4*len(tc.tags):])
				verifyICMPv6(t, in[14+4*len(tc.tags):]) // the golden input too
			}
			// The answer is itself a valid frame: parse it back.
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if back.Class() != NotRequest || back.EthSrc.String() != tgtMAC || back.SenderIP != r.TargetIP {
				t.Fatalf("parsed reply: %+v class %v", back, back.Class())
			}
			if tc.proto == ARP && back.Op != 2 || tc.proto == ND && back.Op != 136 {
				t.Fatalf("parsed reply op %d", back.Op)
			}
		})
	}
}

func equalTags(a, b []VLANTag) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// verifyICMPv6 checks an IPv6 packet's ICMPv6 checksum the way a receiver
// does, independently of ICMPv6Checksum: the ones' complement sum of the
// pseudo-header and the whole message, checksum field included, must be
// 0xffff. It also checks the advertisement's hop limit.
func verifyICMPv6(t *testing.T, ip []byte) {
	t.Helper()
	if ip[6] != 58 || ip[7] != 255 {
		t.Fatalf("next header %d hop limit %d, want 58 and 255", ip[6], ip[7])
	}
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	msg := ip[40 : 40+plen]
	var buf []byte
	buf = append(buf, ip[8:40]...) // source and destination
	buf = binary.BigEndian.AppendUint32(buf, uint32(plen))
	buf = append(buf, 0, 0, 0, 58)
	buf = append(buf, msg...)
	if len(buf)%2 == 1 {
		buf = append(buf, 0)
	}
	var sum uint64
	for i := 0; i < len(buf); i += 2 {
		sum += uint64(buf[i])<<8 | uint64(buf[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Fatalf("ICMPv6 checksum %04x does not verify (sum %04x)", binary.BigEndian.Uint16(msg[2:4]), sum)
	}
}

func TestICMPv6ChecksumOddLength(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	msg := []byte{128, 0, 0, 0, 0, 1, 0, 1, 0xab} // echo request with 1 data byte
	binary.BigEndian.PutUint16(msg[2:], ICMPv6Checksum(src, dst, msg))
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 0x60, 58, 255
	binary.BigEndian.PutUint16(ip[4:], uint16(len(msg)))
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	verifyICMPv6(t, append(ip, msg...))
}

// mutate returns a copy of frame hex h with b written at off.
func mutate(t *testing.T, h string, off int, b ...byte) []byte {
	f := hx(t, h)
	copy(f[off:], b)
	return f
}

// fixNS recomputes an ND frame's checksum after a mutation, so that the
// tests exercise classification, not checksums.
func fixND(f []byte) []byte {
	ip := f[14:]
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	msg := ip[40 : 40+plen]
	src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	binary.BigEndian.PutUint16(msg[2:], ICMPv6Checksum(src, dst, msg))
	return f
}

// The classes the in-switch responder (app/compiler, table neighbor)
// distinguishes, one frame each.
func TestClassify(t *testing.T) {
	const arpOp, arpSPA, arpTPA, arpHType = 14 + 6, 14 + 14, 14 + 24, 14
	const ipSrc, nsTarget, nsOpts = 14 + 8, 14 + 40 + 8, 14 + 40 + 24
	for _, tc := range []struct {
		name  string
		frame []byte
		want  Class
	}{
		{"arp request", hx(t, arpRequestHex), Answerable},
		{"arp reply", mutate(t, arpRequestHex, arpOp, 0, 2), NotRequest},
		{"rarp-style opcode 3", mutate(t, arpRequestHex, arpOp, 0, 3), NotRequest},
		{"arp for another hardware type", mutate(t, arpRequestHex, arpHType, 0, 6), NotRequest},
		{"gratuitous arp (spa = tpa)", mutate(t, arpRequestHex, arpSPA, 0xc6, 0x13, 0x2a, 0x02), OwnAddress},
		{"arp probe (spa 0.0.0.0)", mutate(t, arpRequestHex, arpSPA, 0, 0, 0, 0), Probe},
		{"ns", hx(t, nsHex), Answerable},
		{"ns without source link-layer option", hx(t, nsNoSLLHex), NoSourceLL},
		{"ns with an all-zero source link-layer option", fixND(mutate(t, nsHex, nsOpts+2, 0, 0, 0, 0, 0, 0)), NoSourceLL},
		{"ns with another option only (nonce)", fixND(mutate(t, nsHex, nsOpts, 14, 1, 1, 2, 3, 4, 5, 6)), NoSourceLL},
		{"dad ns from ::", hx(t, dadHex), DAD},
		{"ns for the source's own address", fixND(mutate(t, nsHex, nsTarget+15, 1)), OwnAddress},
		{"neighbor advertisement", hx(t, naHex), NotRequest},
		{"icmpv6 echo request", fixND(mutate(t, nsHex, 14+40, 128)), NotRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.frame)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := r.Class(); got != tc.want {
				t.Fatalf("Class = %v, want %v", got, tc.want)
			}
			_, err = Reply(r, mac(tgtMAC))
			if (err == nil) != (tc.want == Answerable) {
				t.Fatalf("Reply error %v for class %v", err, tc.want)
			}
		})
	}
}

// A request whose target's MAC is the requester's is the port asking for
// its own address: not answered (the in-switch own-address rule).
func TestClassForOwnMAC(t *testing.T) {
	for _, h := range []string{arpRequestHex, nsHex} {
		r, err := Parse(hx(t, h))
		if err != nil {
			t.Fatal(err)
		}
		if c := r.ClassFor(mac(reqMAC)); c != OwnAddress {
			t.Errorf("%v: ClassFor(own MAC) = %v", r.Proto, c)
		}
		if _, err := Reply(r, mac(reqMAC)); err == nil {
			t.Errorf("%v: Reply with the requester's own MAC succeeded", r.Proto)
		}
		for _, bad := range []net.HardwareAddr{mac("01:00:5e:00:00:01"), mac("00:00:00:00:00:00"), {1, 2, 3}} {
			if _, err := Reply(r, bad); err == nil {
				t.Errorf("%v: Reply with target MAC %v succeeded", r.Proto, bad)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	ipv4 := hx(t, `020000000a02 020000000a01 0800 4500001c000000004001 0000 c6132a01 c6132a02 0800f7ff00000000`)
	udp6 := mutate(t, nsHex, 14+6, 17)
	const hop, code, tgt, opts = 14 + 7, 14 + 40 + 1, 14 + 40 + 8, 14 + 40 + 24
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrMalformed},
		{"short ethernet", hx(t, "ffffffffffff020000000a01"), ErrMalformed},
		{"ipv4", ipv4, ErrNotNeighbor},
		{"ipv6 udp", udp6, ErrNotNeighbor},
		{"three vlan tags", hx(t, "ffffffffffff 020000000a01 88a8 0001 8100 0002 8100 0003 0806"), ErrNotNeighbor},
		{"truncated vlan tag", hx(t, "ffffffffffff 020000000a01 8100 00"), ErrMalformed},
		{"truncated arp", hx(t, arpRequestHex)[:14+20], ErrMalformed},
		{"arp header only", hx(t, arpRequestHex)[:14+6], ErrMalformed},
		{"group source mac", mutate(t, arpRequestHex, 6, 0x03), ErrMalformed},
		{"truncated ipv6", hx(t, nsHex)[:14+30], ErrMalformed},
		{"ipv6 payload longer than frame", hx(t, nsHex)[:len(hx(t, nsHex))-4], ErrMalformed},
		{"ip version 4 in ipv6 ethertype", mutate(t, nsHex, 14, 0x40), ErrMalformed},
		{"ns hop limit 64", fixND(mutate(t, nsHex, hop, 64)), ErrMalformed},
		{"ns code 1", fixND(mutate(t, nsHex, code, 1)), ErrMalformed},
		{"ns for a multicast target", fixND(mutate(t, nsHex, tgt, 0xff, 0x02)), ErrMalformed},
		{"ns option of length 0", fixND(mutate(t, nsHex, opts+1, 0)), ErrMalformed},
		{"ns option longer than message", fixND(mutate(t, nsHex, opts+1, 2)), ErrMalformed},
		{"ns truncated before target", func() []byte {
			f := hx(t, nsHex)[:14+40+12]
			binary.BigEndian.PutUint16(f[14+4:], 12)
			return f
		}(), ErrMalformed},
		{"dad with source link-layer option", fixND(mutate(t, nsHex, 14+8, make([]byte, 16)...)), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.frame)
			if !errors.Is(err, tc.want) || r != nil {
				t.Fatalf("Parse = %+v, %v; want %v", r, err, tc.want)
			}
		})
	}
}

// Parse must not alias its input: the caller's buffer (a packet-in) may be
// reused.
func TestParseCopies(t *testing.T) {
	f := hx(t, nsHex)
	r, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		f[i] = 0xee
	}
	if r.EthSrc.String() != reqMAC || r.SenderMAC.String() != reqMAC || r.TargetIP.String() != "2001:db8:42::2" {
		t.Fatalf("request changed with its input: %+v", r)
	}
}

// Ethernet padding after a short ICMPv6 message is not part of it.
func TestNSWithEthernetPadding(t *testing.T) {
	f := append(hx(t, nsNoSLLHex), make([]byte, 6)...)
	r, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Class() != NoSourceLL {
		t.Fatalf("padded NS class %v", r.Class())
	}
}

func FuzzParse(f *testing.F) {
	for _, h := range []string{arpRequestHex, arpRequestTaggedHex, nsHex, nsQinQHex, nsNoSLLHex, dadHex, naHex} {
		b, _ := hex.DecodeString(strings.Join(strings.Fields(h), ""))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		out, err := Reply(r, mac(tgtMAC))
		if err != nil {
			return
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("reply %x to %x does not parse: %v", out, b, err)
		}
	})
}
