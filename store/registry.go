package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/nva-project/nva/app/model"
)

// cmdVersion is the version this code writes for every command type. It
// reads every version registered below.
const cmdVersion uint8 = 1

// registry is every command version this node can decode, each registered
// once: type byte, version, name, and the decoder that builds the typed
// command (whose methods are its rules and its apply). Built once at init
// from this table and never changed after.
var registry = newRegistry(append([]cmdSpec{
	{cmdCreateVN, 1, "create-vn", decodeV1(decodeCreate[model.VN, vnKind])},
	{cmdUpdateVN, 1, "update-vn", decodeV1(decodeUpdate[model.VN, vnKind])},
	{cmdDeleteVN, 1, "delete-vn", decodeV1(decodeDelete[model.VN, vnKind])},
	{cmdCreateNVE, 1, "create-nve", decodeV1(decodeCreate[model.NVE, nveKind])},
	{cmdUpdateNVE, 1, "update-nve", decodeV1(decodeUpdate[model.NVE, nveKind])},
	{cmdDeleteNVE, 1, "delete-nve", decodeV1(decodeDelete[model.NVE, nveKind])},
	{cmdCreatePort, 1, "create-port", decodeV1(decodeCreate[model.Port, portKind])},
	{cmdUpdatePort, 1, "update-port", decodeV1(decodeUpdate[model.Port, portKind])},
	{cmdDeletePort, 1, "delete-port", decodeV1(decodeDelete[model.Port, portKind])},
	{cmdPutNode, 1, "put-node", decodeV1(decodePutNode)},
	{cmdRemoveNode, 1, "remove-node", decodeV1(decodeRemoveNode)},
	{cmdBatch, 1, "batch", decodeV1(decodeBatch)},
}, slices.Concat(tokenSpecs, policySpecs, learnedSpecs, l3GatewayCommands)...)) // l3GatewayCommands: l3gateway.go

// cmdSpec registers one version of one command type.
type cmdSpec struct {
	typ     cmdType
	version uint8
	name    string
	// decode builds the command from a whole log entry (type and version
	// bytes included).
	decode func(data []byte) (decoded, error)
}

// decoded is a command read from the log.
type decoded struct {
	cmd command
	// hash identifies the request's content for the request-ID table.
	hash string
}

type cmdRegistry struct {
	specs map[cmdType]map[uint8]cmdSpec
	names map[cmdType]string
}

// newRegistry indexes the table; a clash in it is a programming error.
func newRegistry(table []cmdSpec) *cmdRegistry {
	r := &cmdRegistry{specs: map[cmdType]map[uint8]cmdSpec{}, names: map[cmdType]string{}}
	for _, s := range table {
		switch {
		case s.typ&flagIgnoreUnknown != 0 || s.typ == 0:
			panic(fmt.Sprintf("store: command %s: type 0x%02x is not a type number", s.name, uint8(s.typ)))
		case r.names[s.typ] != "" && r.names[s.typ] != s.name:
			panic(fmt.Sprintf("store: type 0x%02x is both %s and %s", uint8(s.typ), r.names[s.typ], s.name))
		case r.specs[s.typ][s.version].decode != nil:
			panic(fmt.Sprintf("store: %s version %d registered twice", s.name, s.version))
		}
		if r.specs[s.typ] == nil {
			r.specs[s.typ] = map[uint8]cmdSpec{}
		}
		r.specs[s.typ][s.version] = s
		r.names[s.typ] = s.name
	}
	return r
}

func (r *cmdRegistry) lookup(t cmdType, version uint8) (cmdSpec, bool) {
	s, ok := r.specs[t][version]
	return s, ok
}

func (r *cmdRegistry) name(t cmdType) string { return r.names[t] }

// all lists the registered versions by type, then version.
func (r *cmdRegistry) all() []cmdSpec {
	var out []cmdSpec
	for _, vs := range r.specs {
		for _, s := range vs {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].typ != out[j].typ {
			return out[i].typ < out[j].typ
		}
		return out[i].version < out[j].version
	})
	return out
}

// errSkipCommand is wrapped by decodeCommand's error for a command it
// cannot decode that carries the ignore-if-unknown flag: the FSM skips it.
var errSkipCommand = errors.New("undecodable command with the ignore flag")

// encodeCommand renders a command: type byte, version byte, JSON body.
func encodeCommand(c command) ([]byte, error) {
	t := c.cmdType()
	if _, ok := registry.lookup(t, cmdVersion); !ok {
		return nil, fmt.Errorf("encode %s command: version %d is not registered", t, cmdVersion)
	}
	return encodeV1(t, c.v1())
}

func encodeV1(t cmdType, b *bodyV1) ([]byte, error) {
	js, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", t, err)
	}
	out := make([]byte, 0, 2+len(js))
	out = append(out, byte(t), 1)
	return append(out, js...), nil
}

// decodeCommand parses a log entry. A command of an unknown type or
// version, or one whose body does not decode, is an error; with the ignore
// flag that error wraps errSkipCommand.
func decodeCommand(data []byte) (decoded, error) {
	if len(data) < 2 {
		return decoded{}, fmt.Errorf("decode command: %d bytes is too short", len(data))
	}
	t, ver := cmdType(data[0]), data[1]
	base := t &^ flagIgnoreUnknown
	var d decoded
	var err error
	if spec, ok := registry.lookup(base, ver); ok {
		if d, err = spec.decode(data); err != nil {
			err = fmt.Errorf("decode %s command: %w", base, err)
		}
	} else if registry.name(base) == "" {
		err = fmt.Errorf("decode command: unknown command type 0x%02x", uint8(t))
	} else {
		err = fmt.Errorf("decode %s command: unsupported version %d", base, ver)
	}
	if err != nil && t&flagIgnoreUnknown != 0 {
		return decoded{}, fmt.Errorf("%w: %w", errSkipCommand, err)
	}
	return d, err
}

// decodeV1 makes a decoder of version-1 entries from a builder of the
// command out of its body.
func decodeV1(build func(*bodyV1) (command, error)) func([]byte) (decoded, error) {
	return func(data []byte) (decoded, error) {
		var b bodyV1
		if err := json.Unmarshal(data[2:], &b); err != nil {
			return decoded{}, fmt.Errorf("body: %w", err)
		}
		c, err := build(&b)
		if err != nil {
			return decoded{}, err
		}
		return decoded{cmd: c, hash: requestHashV1(cmdType(data[0])&^flagIgnoreUnknown, data, &b)}, nil
	}
}

// requestHashV1 is the sha256 of a v1 entry's bytes. The expected revision
// of a conditional update is left out (the body is encoded again without
// it), so a retried PATCH, which re-reads the object and sends the same
// change expecting a newer revision, is recognised as the same request and
// answered with the first result. Unconditional commands hash exactly as
// they are logged.
func requestHashV1(t cmdType, data []byte, b *bodyV1) string {
	if b.ExpectRevision != 0 {
		u := *b
		u.ExpectRevision = 0
		if d, err := encodeV1(t, &u); err == nil {
			data = d
		}
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func errNoField(field string) error { return fmt.Errorf("body has no %q", field) }

func decodeCreate[T any, K objectKind[T]](b *bodyV1) (command, error) {
	var k K
	obj, ok := k.fromV1(b)
	if !ok {
		return nil, errNoField(k.name())
	}
	return &createCmd[T, K]{ReqID: b.ReqID, Obj: obj}, nil
}

func decodeUpdate[T any, K objectKind[T]](b *bodyV1) (command, error) {
	var k K
	obj, ok := k.fromV1(b)
	if !ok {
		return nil, errNoField(k.name())
	}
	return &updateCmd[T, K]{ReqID: b.ReqID, Obj: obj, ExpectRevision: b.ExpectRevision}, nil
}

func decodeDelete[T any, K objectKind[T]](b *bodyV1) (command, error) {
	if b.Name == "" {
		return nil, errNoField("name")
	}
	return &deleteCmd[T, K]{ReqID: b.ReqID, Name: b.Name}, nil
}

func decodePutNode(b *bodyV1) (command, error) {
	if b.Node == nil {
		return nil, errNoField("node")
	}
	return &putNode{ReqID: b.ReqID, Node: v1Node(b.Node)}, nil
}

func decodeRemoveNode(b *bodyV1) (command, error) {
	if b.Name == "" {
		return nil, errNoField("name")
	}
	return &removeNode{ReqID: b.ReqID, ID: b.Name}, nil
}
