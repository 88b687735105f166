package conn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// Handler is told about switches that completed the handshake and about
// their disconnection. SwitchConnected runs on the connection's own
// goroutine and may use every Switch method (requests, barriers), but the
// switch's events (port status, errors, unsolicited messages) are delivered
// only after it returns: long-running work belongs in a goroutine of the
// handler's own. SwitchDisconnected is called exactly once for every
// switch that was announced by SwitchConnected, after all of that switch's
// events were delivered; err says why the connection ended.
type Handler interface {
	SwitchConnected(sw *Switch)
	SwitchDisconnected(sw *Switch, err error)
}

// Options tune the connection layer. The zero value is usable.
type Options struct {
	// Logger receives connection events; nil means slog.Default().
	Logger *slog.Logger
	// EchoInterval is the inactivity probe (default 5 s): an ECHO_REQUEST
	// is sent when nothing was received for this long, at most one per
	// interval.
	EchoInterval time.Duration
	// DeadInterval closes a connection on which nothing was received for
	// this long (default 15 s).
	DeadInterval time.Duration
	// HandshakeTimeout bounds hello + features + port description
	// (default 10 s).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds a single write to the socket (default 10 s);
	// a switch that does not drain its socket is disconnected.
	WriteTimeout time.Duration
	// OnPortStatus, if set, is called for every port-status event of every
	// switch, in arrival order, after the port table was updated.
	OnPortStatus func(sw *Switch, ev PortEvent)
	// OnError, if set, is called for every OFPT_ERROR a switch sends, in
	// arrival order (also for errors that are returned to a Request,
	// Barrier or Bundle caller).
	OnError func(sw *Switch, err *OFError)
	// OnMessage, if set, receives the asynchronous messages this package
	// does not consume itself (flow-removed, unknown experimenter
	// messages, ..., and packet-ins when OnPacketIn is nil), in arrival
	// order.
	OnMessage func(sw *Switch, msg Message)
	// OnPacketIn, if set, receives every decoded packet-in of every
	// switch, in arrival order per switch, on a goroutine of that
	// switch's own: a slow handler never delays the connection's reader,
	// keepalive or other events. Packet-ins arriving while the handler's
	// queue (PacketInQueue) is full are dropped and counted
	// (Switch.PacketInStats), as a switch's own packet-in rate limiting
	// would. Like the other events, delivery starts after
	// Handler.SwitchConnected returns and ends before
	// SwitchDisconnected is called.
	OnPacketIn func(sw *Switch, pi PacketIn)
	// PacketInQueue bounds the packet-ins waiting for OnPacketIn per
	// switch (default 1024).
	PacketInQueue int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.EchoInterval <= 0 {
		o.EchoInterval = 5 * time.Second
	}
	if o.DeadInterval <= 0 {
		o.DeadInterval = 15 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.PacketInQueue <= 0 {
		o.PacketInQueue = defaultPacketInQueue
	}
	return o
}

// Message is one raw OpenFlow message as received (header included).
type Message struct {
	Type uint8
	Xid  uint32
	Raw  []byte
}

// Decode parses the message with libOpenflow's openflow13 codec. It never
// panics: a parser panic is returned as an error.
func (m Message) Decode() (util.Message, error) { return safeParse(m.Raw) }

// Errors returned by this package.
var (
	// ErrClosed is returned by calls on a switch whose connection ended;
	// it wraps the cause via errors.Join when one is known.
	ErrClosed = errors.New("openflow connection closed")
	// ErrDeadInterval is the cause when nothing was received for the dead
	// interval.
	ErrDeadInterval = errors.New("openflow dead interval expired")
	// ErrMalformed is wrapped by every error caused by a malformed message.
	ErrMalformed = errors.New("malformed openflow message")
	// ErrVersion is wrapped when the peer does not speak OpenFlow 1.3.
	ErrVersion = errors.New("openflow version negotiation failed")
)

// OFError is an OFPT_ERROR message received from a switch.
type OFError struct {
	Xid            uint32 // xid of the message that failed
	Type           uint16 // OFPET_*
	Code           uint16
	ExperimenterID uint32 // set when Type is OFPET_EXPERIMENTER (0xffff)
	Data           []byte // usually the start of the offending message
}

func (e *OFError) Error() string {
	name := errTypeNames[e.Type]
	if name == "" {
		name = fmt.Sprintf("type %d", e.Type)
	}
	s := fmt.Sprintf("openflow error xid=%d %s code=%d", e.Xid, name, e.Code)
	if e.Type == openflow13.ET_EXPERIMENTER {
		s += fmt.Sprintf(" experimenter=%#x", e.ExperimenterID)
		if e.ExperimenterID == openflow13.ONF_EXPERIMENTER_ID {
			if be := openflow13.ParseBundleError(e.Code); be != nil {
				s += " (" + be.Error() + ")"
			}
		}
	}
	if len(e.Data) >= 8 {
		s += fmt.Sprintf(" (failed message type %d)", e.Data[1])
	}
	return s
}

var errTypeNames = map[uint16]string{
	0: "HELLO_FAILED", 1: "BAD_REQUEST", 2: "BAD_ACTION", 3: "BAD_INSTRUCTION",
	4: "BAD_MATCH", 5: "FLOW_MOD_FAILED", 6: "GROUP_MOD_FAILED", 7: "PORT_MOD_FAILED",
	8: "TABLE_MOD_FAILED", 9: "QUEUE_OP_FAILED", 10: "SWITCH_CONFIG_FAILED",
	11: "ROLE_REQUEST_FAILED", 12: "METER_MOD_FAILED", 13: "TABLE_FEATURES_FAILED",
	0xffff: "EXPERIMENTER",
}

// BatchError lists the OpenFlow errors reported for messages sent with Send
// before a Barrier (or added to a Bundle). Use errors.As to get it; Errors is
// ordered by arrival.
type BatchError struct {
	Errors []*OFError
}

func (e *BatchError) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, x := range e.Errors {
		parts = append(parts, x.Error())
	}
	return fmt.Sprintf("%d openflow error(s): %s", len(e.Errors), strings.Join(parts, "; "))
}

// Unwrap exposes each *OFError to errors.Is/As.
func (e *BatchError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, x := range e.Errors {
		out[i] = x
	}
	return out
}

// Xids returns the xids of the failed messages.
func (e *BatchError) Xids() []uint32 {
	out := make([]uint32, len(e.Errors))
	for i, x := range e.Errors {
		out[i] = x.Xid
	}
	return out
}

// PortInfo describes one switch port (from PORT_DESC or PORT_STATUS).
type PortInfo struct {
	Number    uint32
	Name      string
	HWAddr    net.HardwareAddr
	LinkUp    bool   // !OFPPS_LINK_DOWN
	AdminUp   bool   // !OFPPC_PORT_DOWN
	Live      bool   // OFPPS_LIVE (fast-failover liveness)
	Config    uint32 // raw OFPPC_* bits
	State     uint32 // raw OFPPS_* bits
	CurrSpeed uint32 // kbps
	MaxSpeed  uint32 // kbps
}

// PortReason says what happened to a port.
type PortReason uint8

// Port-status reasons (OFPPR_*).
const (
	PortAdded    PortReason = openflow13.PR_ADD
	PortDeleted  PortReason = openflow13.PR_DELETE
	PortModified PortReason = openflow13.PR_MODIFY
)

func (r PortReason) String() string {
	switch r {
	case PortAdded:
		return "add"
	case PortDeleted:
		return "delete"
	case PortModified:
		return "modify"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// PortEvent is one port-status event.
type PortEvent struct {
	Reason PortReason
	Port   PortInfo
}

// Features is what the switch said in its FEATURES_REPLY.
type Features struct {
	DPID         uint64
	Buffers      uint32
	NumTables    uint8
	AuxiliaryID  uint8
	Capabilities uint32
}

// GroupDesc is one entry of an OFPMP_GROUP_DESC reply (libOpenflow v0.15.0
// has no type for it). Buckets are decoded with libOpenflow's Bucket codec;
// Raw keeps the entry's bytes for codecs that need more than libOpenflow
// decodes.
type GroupDesc struct {
	Type    uint8 // OFPGT_*
	GroupID uint32
	Buckets []openflow13.Bucket
	Raw     []byte
}

// Role is an OpenFlow controller role (OFPCR_ROLE_*).
type Role uint32

// Controller roles.
const (
	RoleNoChange Role = 0
	RoleEqual    Role = 1
	RoleMaster   Role = 2
	RoleSlave    Role = 3
)

func (r Role) String() string {
	switch r {
	case RoleNoChange:
		return "nochange"
	case RoleEqual:
		return "equal"
	case RoleMaster:
		return "master"
	case RoleSlave:
		return "slave"
	}
	return fmt.Sprintf("role(%d)", uint32(r))
}

// ErrorState is a switch's OpenFlow error record, for the API's per-NVE
// error state.
type ErrorState struct {
	Count  uint64    // OFPT_ERROR messages received on this connection
	Last   string    // text of the last one ("" if none)
	LastAt time.Time // when it arrived
}

// RawMessage is an already-encoded OpenFlow message (header included). Use
// it for messages libOpenflow cannot encode. Send and Request overwrite its
// xid and check its length field.
type RawMessage []byte

// Len implements util.Message.
func (m RawMessage) Len() uint16 { return uint16(len(m)) }

// MarshalBinary implements util.Message.
func (m RawMessage) MarshalBinary() ([]byte, error) { return append([]byte(nil), m...), nil }

// UnmarshalBinary implements util.Message.
func (m *RawMessage) UnmarshalBinary(b []byte) error {
	*m = append((*m)[:0], b...)
	return nil
}
