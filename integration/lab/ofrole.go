package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"
)

// OpenFlow 1.3 role negotiation, spoken to a bridge's management socket
// the way ovs-ofctl speaks to it (ovs-ofctl has no role command): it reads
// the generation ID of the switch's current master election and shows
// whether the switch refuses a role request carrying a given generation.
// A switch keeps one master election ID per bridge, shared by all its
// connections, so what it answers here it answers every controller.

const (
	ofp13Version       = 4
	ofptHello          = 0
	ofptError          = 1
	ofptEchoRequest    = 2
	ofptEchoReply      = 3
	ofptRoleRequest    = 24
	ofptRoleReply      = 25
	ofpetRoleReqFailed = 11
	ofprrfcStale       = 0

	// OpenFlow 1.3 controller roles.
	RoleNoChange = 0
	RoleEqual    = 1
	RoleMaster   = 2
	RoleSlave    = 3
)

// RoleAnswer is a switch's answer to a role request: the role and master
// election generation it granted, or the OpenFlow error it refused with.
type RoleAnswer struct {
	Role          uint32
	Generation    uint64
	HasGeneration bool
	// Refused: the switch answered OFPT_ERROR with this type and code
	// (Stale: OFPET_ROLE_REQUEST_FAILED/OFPRRFC_STALE).
	Refused          bool
	ErrType, ErrCode uint16
}

// Stale reports whether the switch refused the request as carrying a
// stale generation ID.
func (a RoleAnswer) Stale() bool {
	return a.Refused && a.ErrType == ofpetRoleReqFailed && a.ErrCode == ofprrfcStale
}

// RoleRequest sends one OFPT_ROLE_REQUEST (role, generation) over a fresh
// connection to hypervisor i's bridge management socket and returns the
// answer. RoleNoChange reads the current master election generation
// without changing anything; a role request whose generation is older
// than the switch's current one is refused (stale) and changes nothing.
// Never ask for RoleMaster or a newer generation here: that would take
// mastership away from nva.
func (l *Lab) RoleRequest(ctx context.Context, i int, bridge string, role uint32, generation uint64) (RoleAnswer, error) {
	path := filepath.Join(l.HV(i).Dir, bridge+".mgmt")
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return RoleAnswer{}, fmt.Errorf("lab: %s: %w", path, err)
	}
	defer c.Close()
	dl := time.Now().Add(5 * time.Second)
	if t, ok := ctx.Deadline(); ok && t.Before(dl) {
		dl = t
	}
	_ = c.SetDeadline(dl)
	if _, err := c.Write(ofHeader(ofptHello, 8, 0)); err != nil {
		return RoleAnswer{}, fmt.Errorf("lab: hello to %s: %w", path, err)
	}
	const xid = 0x6e7661 // "nva"
	req := ofHeader(ofptRoleRequest, 24, xid)
	req = binary.BigEndian.AppendUint32(req, role)
	req = append(req, 0, 0, 0, 0)
	req = binary.BigEndian.AppendUint64(req, generation)
	if _, err := c.Write(req); err != nil {
		return RoleAnswer{}, fmt.Errorf("lab: role request to %s: %w", path, err)
	}
	for {
		typ, x, body, err := readOF(c)
		if err != nil {
			return RoleAnswer{}, fmt.Errorf("lab: reading %s: %w", path, err)
		}
		switch {
		case typ == ofptEchoRequest:
			_, _ = c.Write(append(ofHeader(ofptEchoReply, uint16(8+len(body)), x), body...))
		case x != xid:
		case typ == ofptRoleReply && len(body) >= 16:
			return RoleAnswer{Role: binary.BigEndian.Uint32(body), Generation: binary.BigEndian.Uint64(body[8:]), HasGeneration: true}, nil
		case typ == ofptError && len(body) >= 4:
			return RoleAnswer{Refused: true, ErrType: binary.BigEndian.Uint16(body), ErrCode: binary.BigEndian.Uint16(body[2:])}, nil
		default:
			return RoleAnswer{}, fmt.Errorf("lab: %s answered the role request with message type %d (%d bytes)", path, typ, len(body))
		}
	}
}

func ofHeader(typ uint8, length uint16, xid uint32) []byte {
	b := []byte{ofp13Version, typ}
	b = binary.BigEndian.AppendUint16(b, length)
	return binary.BigEndian.AppendUint32(b, xid)
}

func readOF(r io.Reader) (typ uint8, xid uint32, body []byte, err error) {
	var h [8]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	if n < 8 {
		return 0, 0, nil, fmt.Errorf("OpenFlow message length %d", n)
	}
	body = make([]byte, n-8)
	_, err = io.ReadFull(r, body)
	return h[1], binary.BigEndian.Uint32(h[4:]), body, err
}
