package codec

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
)

// The ct action (flow.CT): Nicira NXAST_CT with, for NAT, one nested
// NXAST_NAT (a single address: only the range's minimum is given). Its
// recirculation table is a table name like a goto's, resolved when
// encoding and named when decoding.

const (
	nxastCT  = 35
	nxastNAT = 36

	natFlagSrc     = 1 << 0
	natFlagDst     = 1 << 1
	natRangeV4Min  = 1 << 0
	natRangeV4Max  = 1 << 1
	natRangeV6Min  = 1 << 2
	natRangeV6Max  = 1 << 3
	ctFlagCommit   = 1 << 0
	ctRecircNone   = 0xff
	ctHeaderLength = 24
)

// encodeActionsTables is encodeActions with the flow's table resolver, for
// the ct action's table.
func (c *Codec) encodeActionsTables(acts []flow.Action, tables func(string) (uint8, bool)) ([]openflow13.Action, error) {
	out := make([]openflow13.Action, 0, len(acts))
	for i, a := range acts {
		var oa openflow13.Action
		var err error
		if ct, ok := a.(flow.CT); ok {
			oa, err = c.encodeCT(ct, tables)
		} else {
			oa, err = c.encodeAction(a)
		}
		if err != nil {
			return nil, fmt.Errorf("action %d: %w", i, err)
		}
		out = append(out, oa)
	}
	return out, nil
}

func (c *Codec) encodeCT(a flow.CT, tables func(string) (uint8, bool)) (openflow13.Action, error) {
	if !c.opts.AllowNicira {
		return nil, fmt.Errorf("ct: conntrack is a Nicira extension, not allowed by this profile")
	}
	ct := openflow13.NewNXActionConnTrack().ZoneImm(a.Zone)
	if a.Commit {
		ct.Commit()
	}
	if a.Table != "" {
		t, err := tableNumber(a.Table, tables)
		if err != nil {
			return nil, fmt.Errorf("ct table: %w", err)
		}
		ct.Table(t)
	}
	if a.NAT != flow.NATNone {
		nat := openflow13.NewNXActionCTNAT()
		switch a.NAT {
		case flow.NATSrc, flow.NATDst:
			if !a.NATAddr.IsValid() {
				return nil, fmt.Errorf("ct nat: no address")
			}
			if a.NAT == flow.NATSrc {
				_ = nat.SetSNAT()
			} else {
				_ = nat.SetDNAT()
			}
			ip := net.IP(a.NATAddr.AsSlice())
			if a.NATAddr.Is4() {
				nat.SetRangeIPv4Min(ip)
			} else {
				nat.SetRangeIPv6Min(ip)
			}
		}
		ct.AddAction(nat)
	}
	return ct, nil
}

// decodeCT decodes an NXAST_CT action (its table as UnnamedTable; the
// flow decoder names it).
func decodeCT(a []byte) (flow.Action, error) {
	if len(a) < ctHeaderLength {
		return nil, malformed("ct of %d bytes", len(a))
	}
	flags := binary.BigEndian.Uint16(a[10:])
	if zsrc := binary.BigEndian.Uint32(a[12:]); zsrc != 0 {
		return nil, fmt.Errorf("ct with a zone from a field is not representable")
	}
	if flags&^ctFlagCommit != 0 {
		return nil, fmt.Errorf("ct flags %#x are not representable", flags)
	}
	if alg := binary.BigEndian.Uint16(a[22:]); alg != 0 {
		return nil, fmt.Errorf("ct alg %d is not representable", alg)
	}
	out := flow.CT{Commit: flags&ctFlagCommit != 0, Zone: binary.BigEndian.Uint16(a[16:])}
	if t := a[18]; t != ctRecircNone {
		out.Table = UnnamedTable(t)
	}
	rest := a[ctHeaderLength:]
	for len(rest) > 0 {
		if len(rest) < 16 {
			return nil, malformed("ct nested action truncated")
		}
		l := int(binary.BigEndian.Uint16(rest[2:]))
		if l < 16 || l%8 != 0 || l > len(rest) {
			return nil, malformed("ct nested action length %d", l)
		}
		typ := binary.BigEndian.Uint16(rest[0:])
		if typ != actExperimenter || binary.BigEndian.Uint32(rest[4:]) != nxVendor || binary.BigEndian.Uint16(rest[8:]) != nxastNAT || out.NAT != flow.NATNone {
			return nil, fmt.Errorf("ct nested action other than one nat is not representable")
		}
		nat := rest[:l]
		nflags := binary.BigEndian.Uint16(nat[12:])
		present := binary.BigEndian.Uint16(nat[14:])
		body := nat[16:]
		switch {
		case nflags == 0 && present == 0:
			out.NAT = flow.NATReverse
		case nflags == natFlagSrc || nflags == natFlagDst:
			out.NAT = flow.NATSrc
			if nflags == natFlagDst {
				out.NAT = flow.NATDst
			}
			switch {
			case present&^natRangeV4Max == natRangeV4Min && len(body) >= 4:
				out.NATAddr = netip.AddrFrom4([4]byte(body[:4]))
				if present&natRangeV4Max != 0 && (len(body) < 8 || [4]byte(body[4:8]) != [4]byte(body[:4])) {
					return nil, fmt.Errorf("nat address range is not representable")
				}
			case present&^natRangeV6Max == natRangeV6Min && len(body) >= 16:
				out.NATAddr = netip.AddrFrom16([16]byte(body[:16]))
				if present&natRangeV6Max != 0 && (len(body) < 32 || [16]byte(body[16:32]) != [16]byte(body[:16])) {
					return nil, fmt.Errorf("nat address range is not representable")
				}
			default:
				return nil, fmt.Errorf("nat range %#x is not representable", present)
			}
		default:
			return nil, fmt.Errorf("nat flags %#x are not representable", nflags)
		}
		rest = rest[l:]
	}
	return out, nil
}

// nameCTTables names the tables of decoded ct actions.
func nameCTTables(acts []flow.Action, names func(uint8) string) {
	for i, a := range acts {
		if ct, ok := a.(flow.CT); ok && strings.HasPrefix(ct.Table, "#") {
			if n, err := tableNumber(ct.Table, nil); err == nil {
				ct.Table = tableName(n, names)
				acts[i] = ct
			}
		}
	}
}
