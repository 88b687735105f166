package store

import (
	"fmt"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// cmdType is the first byte of an encoded command. The high bit
// (flagIgnoreUnknown) marks a command that a node which cannot decode it
// (unknown type or version) may skip instead of stopping; the low 7 bits
// name the type.
type cmdType uint8

const flagIgnoreUnknown cmdType = 0x80

// Command types. Values are part of the on-disk format: never renumber or
// reuse one. registry.go gives each its name, version and decoder.
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
	cmdBatch      cmdType = 0x0c // batch.go: an ordered list of the object commands above, applied all or nothing

	// API tokens (tokens.go); 0x10-0x13 are theirs.
	cmdCreateToken    cmdType = 0x10
	cmdRevokeToken    cmdType = 0x11
	cmdBootstrapToken cmdType = 0x12

	// Learned endpoints (learned.go); 0x38-0x3b are theirs.
	cmdReportLearned cmdType = 0x38
	cmdExpireLearned cmdType = 0x39
)

func (t cmdType) String() string {
	if name := registry.name(t &^ flagIgnoreUnknown); name != "" {
		return name
	}
	return fmt.Sprintf("type-0x%02x", uint8(t))
}

// command is one typed change of the replicated state: one Go type per
// command, registered once in registry.go with its type byte, version and
// decoder, encoded with the log's own types (logtypes.go).
//
// The rules split in two. prepare holds the stateless ones (defaults,
// validation): the node that takes the request runs it before proposing,
// and the leader again before appending; the FSM never does. apply holds
// what must be judged in log order, against the state every node has at
// that index: existence, uniqueness, references, delete protection, the
// expected revision, and the deterministic allocations. check runs the
// same guards without changing anything: the leader's early rejection.
type command interface {
	cmdType() cmdType
	// requestID is the ID under which the FSM remembers the result.
	requestID() string
	// prepare fills defaults into the command's object and validates it.
	prepare() error
	// check runs apply's guards against st and changes nothing.
	check(st *state) *model.Error
	// apply runs the guards and, when they pass, changes st at index idx.
	// It returns the result and the change's events, in order (none when
	// rejected; one per object changed, all with index idx).
	apply(st *state, idx uint64) (*result, []Event)
	// v1 renders the command as a version-1 body.
	v1() *bodyV1
}

// The commands on objects are generic over the object's kind (kinds.go);
// each instantiation is one command.
type (
	createVN   = createCmd[model.VN, vnKind]
	updateVN   = updateCmd[model.VN, vnKind]
	deleteVN   = deleteCmd[model.VN, vnKind]
	createNVE  = createCmd[model.NVE, nveKind]
	updateNVE  = updateCmd[model.NVE, nveKind]
	deleteNVE  = deleteCmd[model.NVE, nveKind]
	createPort = createCmd[model.Port, portKind]
	updatePort = updateCmd[model.Port, portKind]
	deletePort = deleteCmd[model.Port, portKind]
)

// createCmd creates an object of kind K.
type createCmd[T any, K objectKind[T]] struct {
	ReqID string
	Obj   T
}

// updateCmd replaces an existing object of kind K (by name).
type updateCmd[T any, K objectKind[T]] struct {
	ReqID string
	Obj   T
	// ExpectRevision makes the update conditional: it applies only if
	// the stored object's Revision is still this one (0: unconditional).
	ExpectRevision uint64
}

// deleteCmd deletes an object of kind K that nothing depends on.
type deleteCmd[T any, K objectKind[T]] struct {
	ReqID string
	Name  string
}

func (c *createCmd[T, K]) cmdType() cmdType { var k K; return k.commands().create }
func (c *updateCmd[T, K]) cmdType() cmdType { var k K; return k.commands().update }
func (c *deleteCmd[T, K]) cmdType() cmdType { var k K; return k.commands().delete }

func (c *createCmd[T, K]) requestID() string { return c.ReqID }
func (c *updateCmd[T, K]) requestID() string { return c.ReqID }
func (c *deleteCmd[T, K]) requestID() string { return c.ReqID }

func (c *createCmd[T, K]) prepare() (err error) {
	var k K
	c.Obj, err = k.prepare(c.Obj)
	return err
}

func (c *updateCmd[T, K]) prepare() (err error) {
	var k K
	c.Obj, err = k.prepare(c.Obj)
	return err
}

func (c *deleteCmd[T, K]) prepare() error {
	if c.Name == "" {
		return model.Errorf(model.KindInvalid, "name", "name is required")
	}
	return nil
}

// admit returns the object to store, completed by the allocations, or
// why it may not be created.
func (c *createCmd[T, K]) admit(st *state) (*T, *model.Error) {
	var k K
	obj := c.Obj
	if k.get(st, k.key(&obj)) != nil {
		return nil, model.Errorf(model.KindConflict, "name", "%s %q already exists", k.name(), k.key(&obj))
	}
	if e := k.admit(st, &obj, nil); e != nil {
		return nil, e
	}
	return &obj, nil
}

func (c *createCmd[T, K]) check(st *state) *model.Error {
	_, e := c.admit(st)
	return e
}

func (c *createCmd[T, K]) apply(st *state, idx uint64) (*result, []Event) {
	var k K
	obj, e := c.admit(st)
	if e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	*k.revision(obj) = idx
	k.put(st, obj)
	res := &result{Index: idx}
	k.setResult(res, obj)
	return res, []Event{{Index: idx, Kind: k.name(), Op: OpPut, Name: k.key(obj), New: obj}}
}

// admit returns the stored object, the object to replace it with, or why
// it may not be replaced. Existence comes first, then the revision, then
// the rules against the other objects.
func (c *updateCmd[T, K]) admit(st *state) (old, obj *T, _ *model.Error) {
	var k K
	nw := c.Obj
	name := k.key(&nw)
	old = k.get(st, name)
	if old == nil {
		return nil, nil, model.Errorf(model.KindNotFound, "", "%s %q not found", k.name(), name)
	}
	if e := checkRevision(k.name(), name, *k.revision(old), c.ExpectRevision); e != nil {
		return nil, nil, e
	}
	if e := k.admit(st, &nw, old); e != nil {
		return nil, nil, e
	}
	return old, &nw, nil
}

func (c *updateCmd[T, K]) check(st *state) *model.Error {
	_, _, e := c.admit(st)
	return e
}

func (c *updateCmd[T, K]) apply(st *state, idx uint64) (*result, []Event) {
	var k K
	old, obj, e := c.admit(st)
	if e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	*k.revision(obj) = idx
	k.put(st, obj)
	res := &result{Index: idx}
	k.setResult(res, obj)
	return res, []Event{{Index: idx, Kind: k.name(), Op: OpPut, Name: k.key(obj), Old: old, New: obj}}
}

// admit returns the object to delete, or why it may not be deleted.
func (c *deleteCmd[T, K]) admit(st *state) (*T, *model.Error) {
	var k K
	old := k.get(st, c.Name)
	if old == nil {
		return nil, model.Errorf(model.KindNotFound, "", "%s %q not found", k.name(), c.Name)
	}
	if deps := k.dependents(st, c.Name); len(deps) > 0 {
		names := sortedSet(deps)
		e := model.Errorf(model.KindConflict, "", "%s %q still has %d port(s): %s", k.name(), c.Name, len(names), strings.Join(names, ", "))
		e.Blocking = names
		return nil, e
	}
	return old, nil
}

func (c *deleteCmd[T, K]) check(st *state) *model.Error {
	_, e := c.admit(st)
	return e
}

func (c *deleteCmd[T, K]) apply(st *state, idx uint64) (*result, []Event) {
	var k K
	old, e := c.admit(st)
	if e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	k.del(st, c.Name)
	return &result{Index: idx}, []Event{{Index: idx, Kind: k.name(), Op: OpDelete, Name: c.Name, Old: old}}
}

// putNode records (or replaces) a cluster member's metadata.
type putNode struct {
	ReqID string
	Node  NodeInfo
}

func (c *putNode) cmdType() cmdType          { return cmdPutNode }
func (c *putNode) requestID() string         { return c.ReqID }
func (c *putNode) check(*state) *model.Error { return c.admit() }

// prepare drops State and Voter: both come from Raft, not from the log.
func (c *putNode) prepare() error {
	c.Node.State, c.Node.Voter = "", false
	if e := c.admit(); e != nil {
		return e
	}
	return nil
}

// admit guards the key: metadata without an ID is rejected in log order
// too, as version 1 always did.
func (c *putNode) admit() *model.Error {
	if c.Node.ID == "" {
		return model.Errorf(model.KindInvalid, "id", "node id is required")
	}
	return nil
}

func (c *putNode) apply(st *state, idx uint64) (*result, []Event) {
	if e := c.admit(); e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	n := c.Node
	old := st.nodes[n.ID]
	st.nodes[n.ID] = &n
	ev := Event{Index: idx, Kind: KindNode, Op: OpPut, Name: n.ID, New: &n}
	if old != nil {
		ev.Old = old
	}
	return &result{Index: idx, Node: &n}, []Event{ev}
}

// removeNode drops a member's metadata.
type removeNode struct {
	ReqID string
	ID    string
}

func (c *removeNode) cmdType() cmdType  { return cmdRemoveNode }
func (c *removeNode) requestID() string { return c.ReqID }

func (c *removeNode) prepare() error {
	if c.ID == "" {
		return model.Errorf(model.KindInvalid, "id", "node id is required")
	}
	return nil
}

func (c *removeNode) check(st *state) *model.Error {
	if st.nodes[c.ID] == nil {
		return model.Errorf(model.KindNotFound, "", "node %q not found", c.ID)
	}
	return nil
}

func (c *removeNode) apply(st *state, idx uint64) (*result, []Event) {
	old := st.nodes[c.ID]
	if e := c.check(st); e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	delete(st.nodes, c.ID)
	return &result{Index: idx}, []Event{{Index: idx, Kind: KindNode, Op: OpDelete, Name: c.ID, Old: old}}
}
