package conn

import (
	"encoding/binary"
	"fmt"
	"io"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

const (
	ofVersion   = openflow13.VERSION // 0x04
	headerLen   = 8
	maxMsgLen   = 65535
	mpHeaderLen = 16 // ofp_header + type, flags, pad[4]

	onfExperimenter   = openflow13.ONF_EXPERIMENTER_ID
	onftBundleControl = 2300
	onftBundleAdd     = 2301

	bundleOpenRequest    = 0
	bundleOpenReply      = 1
	bundleCloseRequest   = 2
	bundleCloseReply     = 3
	bundleCommitRequest  = 4
	bundleCommitReply    = 5
	bundleDiscardRequest = 6
	bundleDiscardReply   = 7

	bundleFlagAtomic  = 1
	bundleFlagOrdered = 2
)

// readFrame reads one OpenFlow message: the 8-byte header, a length check
// (8..65535, and the header's length field must cover the header), then the
// body. It returns the whole message. A non-zero version is checked
// before the body is read, so garbage is detected early.
func readFrame(r io.Reader, version uint8) ([]byte, error) {
	// The header is read into the message's own buffer, with room for
	// the smallest messages (echoes, barriers: all of an idle
	// connection's traffic), which so cost one allocation, not two.
	buf := make([]byte, headerLen, smallFrame)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if version != 0 && buf[0] != version {
		return nil, fmt.Errorf("%w: version %d after negotiating OpenFlow 1.3", ErrMalformed, buf[0])
	}
	n := int(binary.BigEndian.Uint16(buf[2:4]))
	if n < headerLen || n > maxMsgLen {
		return nil, fmt.Errorf("%w: header length %d", ErrMalformed, n)
	}
	if n <= cap(buf) {
		buf = buf[:n:n]
	} else {
		big := make([]byte, n)
		copy(big, buf)
		buf = big
	}
	if _, err := io.ReadFull(r, buf[headerLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: truncated body (want %d bytes): %v", ErrMalformed, n, err)
	}
	return buf, nil
}

// smallFrame is the capacity of readFrame's first buffer.
const smallFrame = 16

func xidOf(b []byte) uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// safeParse runs libOpenflow's parser under recover.
func safeParse(b []byte) (msg util.Message, err error) {
	if len(b) < headerLen || int(binary.BigEndian.Uint16(b[2:4])) != len(b) {
		return nil, fmt.Errorf("%w: length field does not match %d bytes", ErrMalformed, len(b))
	}
	if err := checkForLibOpenflow(b); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: libOpenflow parser panicked on type %d: %v", ErrMalformed, b[1], r)
		}
	}()
	return openflow13.Parse(b)
}

// safeCall runs f under recover, turning a panic into an ErrMalformed error.
func safeCall(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoding %s panicked: %v", ErrMalformed, what, r)
		}
	}()
	return f()
}

// encode marshals msg, checks it is a well-formed OpenFlow 1.3 message and
// stamps xid into it.
func encode(msg util.Message, xid uint32) ([]byte, error) {
	var b []byte
	err := safeCall("outgoing message", func() error {
		var e error
		b, e = msg.MarshalBinary()
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", msg, err)
	}
	if len(b) < headerLen || len(b) > maxMsgLen {
		return nil, fmt.Errorf("encode %T: %d bytes is not a valid openflow message size", msg, len(b))
	}
	if l := int(binary.BigEndian.Uint16(b[2:4])); l != len(b) {
		return nil, fmt.Errorf("encode %T: length field %d but %d bytes marshalled", msg, l, len(b))
	}
	if b[0] != ofVersion {
		return nil, fmt.Errorf("encode %T: version %d, want %d", msg, b[0], ofVersion)
	}
	b = append([]byte(nil), b...) // never write into the caller's buffer
	binary.BigEndian.PutUint32(b[4:8], xid)
	return b, nil
}

// checkRaw checks that b is one OpenFlow 1.3 message as the caller
// encoded it: a valid size that its length field states, our version.
func checkRaw(b []byte) error {
	if len(b) < headerLen || len(b) > maxMsgLen {
		return fmt.Errorf("encoded message: %d bytes is not a valid openflow message size", len(b))
	}
	if l := int(binary.BigEndian.Uint16(b[2:4])); l != len(b) {
		return fmt.Errorf("encoded message: length field %d but %d bytes", l, len(b))
	}
	if b[0] != ofVersion {
		return fmt.Errorf("encoded message: version %d, want %d", b[0], ofVersion)
	}
	return nil
}

func header(typ uint8, length int, xid uint32) []byte {
	b := make([]byte, length)
	b[0] = ofVersion
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:4], uint16(length))
	binary.BigEndian.PutUint32(b[4:8], xid)
	return b
}

// helloMsg is our HELLO: version 1.3 with a version bitmap element that has
// only bit 4 (OpenFlow 1.3) set.
func helloMsg(xid uint32) []byte {
	b := header(openflow13.Type_Hello, 16, xid)
	binary.BigEndian.PutUint16(b[8:10], 1) // OFPHET_VERSIONBITMAP
	binary.BigEndian.PutUint16(b[10:12], 8)
	binary.BigEndian.PutUint32(b[12:16], 1<<ofVersion)
	return b
}

// negotiate checks the peer's HELLO and reports whether OpenFlow 1.3 is
// common to both sides (OpenFlow 1.3.5 §6.3.1).
func negotiate(b []byte) (bool, error) {
	if b[1] != openflow13.Type_Hello {
		return false, fmt.Errorf("%w: expected HELLO, got message type %d", ErrMalformed, b[1])
	}
	var bitmap []uint32
	for off := headerLen; off+4 <= len(b); {
		typ := binary.BigEndian.Uint16(b[off : off+2])
		l := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		if l < 4 || off+l > len(b) {
			return false, fmt.Errorf("%w: hello element length %d", ErrMalformed, l)
		}
		if typ == 1 {
			for p := off + 4; p+4 <= off+l; p += 4 {
				bitmap = append(bitmap, binary.BigEndian.Uint32(b[p:p+4]))
			}
			if bitmap == nil {
				bitmap = []uint32{}
			}
		}
		off += (l + 7) / 8 * 8
	}
	if bitmap != nil {
		return len(bitmap) > 0 && bitmap[0]&(1<<ofVersion) != 0, nil
	}
	// No bitmap: the negotiated version is the smaller of the two.
	return b[0] >= ofVersion, nil
}

// helloFailed builds an OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE error in the
// peer's version so that it can read it.
func helloFailed(peerVersion uint8, xid uint32) []byte {
	text := []byte("nva supports only OpenFlow 1.3 (version 0x04)")
	b := header(openflow13.Type_Error, 12+len(text), xid)
	if peerVersion != 0 && peerVersion < ofVersion {
		b[0] = peerVersion
	}
	binary.BigEndian.PutUint16(b[8:10], openflow13.ET_HELLO_FAILED)
	binary.BigEndian.PutUint16(b[10:12], openflow13.HFC_INCOMPATIBLE)
	copy(b[12:], text)
	return b
}

// decodeError parses an OFPT_ERROR message.
func decodeError(b []byte) (*OFError, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("%w: error message of %d bytes", ErrMalformed, len(b))
	}
	e := &OFError{
		Xid:  xidOf(b),
		Type: binary.BigEndian.Uint16(b[8:10]),
		Code: binary.BigEndian.Uint16(b[10:12]),
	}
	data := b[12:]
	if e.Type == openflow13.ET_EXPERIMENTER {
		if len(b) < 16 {
			return nil, fmt.Errorf("%w: experimenter error of %d bytes", ErrMalformed, len(b))
		}
		e.ExperimenterID = binary.BigEndian.Uint32(b[12:16])
		data = b[16:]
	}
	e.Data = append([]byte(nil), data...)
	return e, nil
}

// decodePort decodes one 64-byte ofp_port.
func decodePort(b []byte) (PortInfo, error) {
	if len(b) < 64 {
		return PortInfo{}, fmt.Errorf("%w: port description of %d bytes", ErrMalformed, len(b))
	}
	p := openflow13.NewPhyPort()
	if err := safeCall("ofp_port", func() error { return p.UnmarshalBinary(b[:64]) }); err != nil {
		return PortInfo{}, err
	}
	name := p.Name
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	return PortInfo{
		Number:    p.PortNo,
		Name:      string(name),
		HWAddr:    append([]byte(nil), p.HWAddr...),
		LinkUp:    p.State&openflow13.PS_LINK_DOWN == 0,
		AdminUp:   p.Config&openflow13.PC_PORT_DOWN == 0,
		Live:      p.State&openflow13.PS_LIVE != 0,
		Config:    p.Config,
		State:     p.State,
		CurrSpeed: p.CurrSpeed,
		MaxSpeed:  p.MaxSpeed,
	}, nil
}

// decodePortStatus parses an OFPT_PORT_STATUS message (8 + 8 + 64 bytes).
func decodePortStatus(b []byte) (PortEvent, error) {
	if len(b) != 80 {
		return PortEvent{}, fmt.Errorf("%w: port status of %d bytes, want 80", ErrMalformed, len(b))
	}
	p, err := decodePort(b[16:])
	if err != nil {
		return PortEvent{}, err
	}
	return PortEvent{Reason: PortReason(b[8]), Port: p}, nil
}

// decodeFeatures parses an OFPT_FEATURES_REPLY (32 bytes in OF1.3).
func decodeFeatures(b []byte) (Features, error) {
	if len(b) < 32 || b[1] != openflow13.Type_FeaturesReply {
		return Features{}, fmt.Errorf("%w: features reply of %d bytes", ErrMalformed, len(b))
	}
	return Features{
		DPID:         binary.BigEndian.Uint64(b[8:16]),
		Buffers:      binary.BigEndian.Uint32(b[16:20]),
		NumTables:    b[20],
		AuxiliaryID:  b[21],
		Capabilities: binary.BigEndian.Uint32(b[24:28]),
	}, nil
}

func multipartRequest(mpType uint16, body []byte, xid uint32) []byte {
	b := header(openflow13.Type_MultiPartRequest, mpHeaderLen+len(body), xid)
	binary.BigEndian.PutUint16(b[8:10], mpType)
	copy(b[mpHeaderLen:], body)
	return b
}

func roleRequest(role Role, generation uint64, xid uint32) []byte {
	b := header(openflow13.Type_RoleRequest, 24, xid)
	binary.BigEndian.PutUint32(b[8:12], uint32(role))
	binary.BigEndian.PutUint64(b[16:24], generation)
	return b
}

func bundleControl(bundleID uint32, typ, flags uint16, xid uint32) []byte {
	b := header(openflow13.Type_Experimenter, 24, xid)
	binary.BigEndian.PutUint32(b[8:12], onfExperimenter)
	binary.BigEndian.PutUint32(b[12:16], onftBundleControl)
	binary.BigEndian.PutUint32(b[16:20], bundleID)
	binary.BigEndian.PutUint16(b[20:22], typ)
	binary.BigEndian.PutUint16(b[22:24], flags)
	return b
}

// checkBundleAdd fails when inner is too large to travel in a bundle add.
func checkBundleAdd(inner []byte) error {
	if 24+len(inner) > maxMsgLen {
		return fmt.Errorf("bundle add: inner message of %d bytes is too large", len(inner))
	}
	return nil
}

// appendBundleAdd appends an ONF BUNDLE_ADD_MESSAGE wrapping an encoded
// inner message (which checkBundleAdd accepts). The inner message carries
// the same xid as the add message (OVS requires them to match).
func appendBundleAdd(b []byte, bundleID uint32, flags uint16, inner []byte, xid uint32) []byte {
	at := len(b)
	b = append(b, ofVersion, openflow13.Type_Experimenter)
	b = binary.BigEndian.AppendUint16(b, uint16(24+len(inner)))
	b = binary.BigEndian.AppendUint32(b, xid)
	b = binary.BigEndian.AppendUint32(b, onfExperimenter)
	b = binary.BigEndian.AppendUint32(b, onftBundleAdd)
	b = binary.BigEndian.AppendUint32(b, bundleID)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = append(b, inner...)
	binary.BigEndian.PutUint32(b[at+28:at+32], xid)
	return b
}
