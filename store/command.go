package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nva-project/nva/app/model"
)

// cmdType is the first byte of an encoded command. The high bit
// (flagIgnoreUnknown) marks a command that a node which does not know its
// type (or version) may skip instead of failing; the low 7 bits name the type.
type cmdType uint8

const flagIgnoreUnknown cmdType = 0x80

// Command types. Values are part of the on-disk format: never renumber.
const (
	cmdCreateVN   cmdType = 0x01
	cmdUpdateVN   cmdType = 0x02
	cmdDeleteVN   cmdType = 0x03
	cmdCreateNVE  cmdType = 0x04
	cmdUpdateNVE  cmdType = 0x05
	cmdDeleteNVE  cmdType = 0x06
	cmdCreatePort cmdType = 0x07
	cmdUpdatePort cmdType = 0x08
	cmdDeletePort cmdType = 0x09
	cmdPutNode    cmdType = 0x0a
	cmdRemoveNode cmdType = 0x0b
)

// cmdVersion is the only body version this code writes and reads.
const cmdVersion uint8 = 1

func (t cmdType) String() string {
	switch t &^ flagIgnoreUnknown {
	case cmdCreateVN:
		return "create-vn"
	case cmdUpdateVN:
		return "update-vn"
	case cmdDeleteVN:
		return "delete-vn"
	case cmdCreateNVE:
		return "create-nve"
	case cmdUpdateNVE:
		return "update-nve"
	case cmdDeleteNVE:
		return "delete-nve"
	case cmdCreatePort:
		return "create-port"
	case cmdUpdatePort:
		return "update-port"
	case cmdDeletePort:
		return "delete-port"
	case cmdPutNode:
		return "put-node"
	case cmdRemoveNode:
		return "remove-node"
	}
	return fmt.Sprintf("type-0x%02x", uint8(t))
}

// cmdBody is the JSON body of every version-1 command; which fields are set
// depends on the type (checked by decodeCommand).
type cmdBody struct {
	ReqID string      `json:"req_id"`
	Name  string      `json:"name,omitempty"` // deletes and remove-node
	VN    *model.VN   `json:"vn,omitempty"`
	NVE   *model.NVE  `json:"nve,omitempty"`
	Port  *model.Port `json:"port,omitempty"`
	Node  *NodeInfo   `json:"node,omitempty"`
	// ExpectRevision makes an update conditional: it applies only if the
	// stored object's Revision is still this one (0: unconditional, and
	// absent from the encoding, so unconditional updates keep their bytes).
	// Other command types ignore it.
	ExpectRevision uint64 `json:"expect_revision,omitempty"`
}

// command is a decoded command.
type command struct {
	Type cmdType
	Body cmdBody
}

// errSkipCommand is returned by decodeCommand for a command of an unknown
// type or version that carries the ignore-if-unknown flag.
var errSkipCommand = errors.New("unknown command with ignore flag")

// encodeCommand renders a command: type byte, version byte, JSON body.
func encodeCommand(t cmdType, b cmdBody) ([]byte, error) {
	js, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", t, err)
	}
	out := make([]byte, 0, 2+len(js))
	out = append(out, byte(t), cmdVersion)
	return append(out, js...), nil
}

// decodeCommand parses an encoded command. An unknown type or version is an
// error, unless the type byte has the ignore flag, in which case the result
// is errSkipCommand.
func decodeCommand(data []byte) (*command, error) {
	if len(data) < 2 {
		return nil, fmt.Errorf("decode command: %d bytes is too short", len(data))
	}
	t, ver := cmdType(data[0]), data[1]
	base := t &^ flagIgnoreUnknown
	known := base >= cmdCreateVN && base <= cmdRemoveNode
	if !known || ver != cmdVersion {
		if t&flagIgnoreUnknown != 0 {
			return nil, errSkipCommand
		}
		if !known {
			return nil, fmt.Errorf("decode command: unknown command type 0x%02x", uint8(t))
		}
		return nil, fmt.Errorf("decode %s command: unsupported version %d", base, ver)
	}
	c := &command{Type: base}
	if err := json.Unmarshal(data[2:], &c.Body); err != nil {
		return nil, fmt.Errorf("decode %s command body: %w", base, err)
	}
	var missing string
	switch base {
	case cmdCreateVN, cmdUpdateVN:
		if c.Body.VN == nil {
			missing = "vn"
		}
	case cmdCreateNVE, cmdUpdateNVE:
		if c.Body.NVE == nil {
			missing = "nve"
		}
	case cmdCreatePort, cmdUpdatePort:
		if c.Body.Port == nil {
			missing = "port"
		}
	case cmdPutNode:
		if c.Body.Node == nil {
			missing = "node"
		}
	case cmdDeleteVN, cmdDeleteNVE, cmdDeletePort, cmdRemoveNode:
		if c.Body.Name == "" {
			missing = "name"
		}
	}
	if missing != "" {
		return nil, fmt.Errorf("decode %s command: body has no %q", base, missing)
	}
	return c, nil
}
