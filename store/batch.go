package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// A batch is one command holding an ordered list of the object commands
// (create, update and delete of VNs, NVEs and ports: kinds.go and
// command.go), applied all or nothing at one Raft index.
//
// On the log it is type cmdBatch, version 1, a bodyV1 with the request ID
// and Items: each item is the type byte of its object command and that
// command's own version-1 body without a request ID (logBatchItem), so
// the objects are encoded exactly as the single commands encode them and
// decoded by the same per-kind decoders. An item of any other type (a
// batch, a node command) does not decode: the batch is undecodable, and the
// FSM stops on it like on any undecodable command without the ignore flag.
//
// Rules: prepare runs every item's stateless rules and reports every item
// that fails, each field named items[i].<field>. apply runs the items in
// order on the state itself, each judged by its own guards against what
// the items before it left (a VN created by item 0 exists for the port of
// item 1), and keeps going after an item is rejected so that every failing
// item is reported; if any was, it undoes the applied ones in reverse order
// and answers with all the failures, changing nothing. check is apply
// followed by that undo, whatever the verdict: the leader's early check
// (which is why fsm.check holds the write lock). The result holds one
// result per item; the FSM publishes one event per item, all with the
// batch's index, in item order.

// MaxBatchItems is the most operations one batch may hold.
const MaxBatchItems = 10000

// maxCommandBytes bounds an encoded command: what a follower may forward
// to the leader (maxInternalBody).
const maxCommandBytes = maxInternalBody

// The operations of a BatchOp.
const (
	BatchCreate = "create"
	BatchUpdate = "update"
	BatchDelete = "delete"
)

// BatchOp is one operation of a batch (Store.Batch). Its shape is checked
// by Batch, which names the fields as the REST API's batch items do: op,
// kind, object, name, if_revision.
type BatchOp struct {
	// Op is BatchCreate, BatchUpdate or BatchDelete.
	Op string
	// Kind is KindVN, KindNVE or KindPort.
	Kind string
	// VN, NVE, Port: the object of a create or an update (the one of Kind,
	// and only that one).
	VN   *model.VN
	NVE  *model.NVE
	Port *model.Port
	// Name names the object to delete. On a create or an update it may be
	// given too, and must then be the object's name.
	Name string
	// ExpectRevision makes an update conditional, as UpdateVNIf does
	// (0: unconditional). Only updates take one.
	ExpectRevision uint64
}

// BatchResult is what a committed batch did.
type BatchResult struct {
	// Revision is the batch's Raft index: the revision of every object it
	// created or updated.
	Revision uint64
	// Items has one entry per operation, in order.
	Items []BatchItemResult
}

// BatchItemResult is the stored object a create or an update left (the
// one of its kind); all nil for a delete.
type BatchItemResult struct {
	VN   *model.VN
	NVE  *model.NVE
	Port *model.Port
}

// Batch applies ops atomically, in order, as one Raft entry: either every
// operation takes effect, at one revision, or none does. Operations may
// refer to objects an earlier one creates (a VN, then its ports). Before
// proposing, every operation's shape and stateless rules are checked and
// every failure reported in one *model.Error (KindInvalid); a batch the
// state refuses is rejected with every item that fails. The error's Field
// is the first failure's path (items[3].mac), Fields lists them all and
// its Kind is the first failing item's (so a REST client gets the status a
// single write with that error would get). reqID makes a retried batch
// apply once, as for single writes.
func (s *Store) Batch(ctx context.Context, reqID string, ops []BatchOp) (*BatchResult, error) {
	c, err := newBatch(orNewReqID(reqID), ops)
	if err != nil {
		return nil, err
	}
	if err := c.prepare(); err != nil {
		return nil, err
	}
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	if len(data) > maxCommandBytes {
		return nil, model.Errorf(model.KindInvalid, "items",
			"the batch encodes to %d bytes, more than the %d one command may have: split it", len(data), maxCommandBytes)
	}
	res, err := s.propose(ctx, data)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	if len(res.Items) != len(ops) {
		return nil, fmt.Errorf("batch at index %d answered %d results for %d operations", res.Index, len(res.Items), len(ops))
	}
	out := &BatchResult{Revision: res.Index, Items: make([]BatchItemResult, len(res.Items))}
	for i, r := range res.Items {
		out.Items[i] = BatchItemResult{VN: r.VN, NVE: r.NVE, Port: r.Port}
	}
	return out, nil
}

// newBatch builds the command from ops, checking their shape. When some
// are malformed, the well-formed ones are prepared too, so that the error
// lists every item that fails.
func newBatch(reqID string, ops []BatchOp) (*batchCmd, error) {
	if e := checkBatchSize(len(ops)); e != nil {
		return nil, e
	}
	items := make([]batchItem, len(ops))
	var fails []itemFailure
	for i, op := range ops {
		it, e := op.item()
		if e != nil {
			fails = append(fails, itemFailure{index: i, err: e})
			continue
		}
		items[i] = it
	}
	if len(fails) == 0 {
		return &batchCmd{ReqID: reqID, Items: items}, nil
	}
	for i, it := range items {
		if it == nil {
			continue
		}
		if err := it.prepare(); err != nil {
			fails = append(fails, itemFailure{index: i, item: it, err: asModelError(err)})
		}
	}
	slices.SortStableFunc(fails, func(a, b itemFailure) int { return a.index - b.index })
	return nil, batchError(fails)
}

// item turns an operation into its object command.
func (op BatchOp) item() (batchItem, *model.Error) {
	var fe model.FieldErrors
	switch op.Op {
	case BatchCreate, BatchUpdate, BatchDelete:
	case "":
		fe.Add("op", "is required: create, update or delete")
	default:
		fe.Add("op", "must be one of create, update, delete, not %q", op.Op)
	}
	objects := 0
	for _, set := range []bool{op.VN != nil, op.NVE != nil, op.Port != nil} {
		if set {
			objects++
		}
	}
	// own: the object of the op's kind is given; name: its name.
	var own bool
	var name string
	switch op.Kind {
	case KindVN:
		if own = op.VN != nil; own {
			name = op.VN.Name
		}
	case KindNVE:
		if own = op.NVE != nil; own {
			name = op.NVE.Name
		}
	case KindPort:
		if own = op.Port != nil; own {
			name = op.Port.Name
		}
	case "":
		fe.Add("kind", "is required: vn, nve or port")
	default:
		fe.Add("kind", "must be one of vn, nve, port, not %q", op.Kind)
	}
	known := op.Kind == KindVN || op.Kind == KindNVE || op.Kind == KindPort
	switch op.Op {
	case BatchCreate, BatchUpdate:
		switch {
		case known && objects == 0:
			fe.Add("object", "is required: the %s to %s", op.Kind, op.Op)
		case known && (!own || objects > 1):
			fe.Add("object", "must be a %s (the item's kind)", op.Kind)
		case op.Name != "" && op.Name != name:
			fe.Add("name", "%q differs from the object's name %q (give the name in the object)", op.Name, name)
		}
		if op.Op == BatchCreate && op.ExpectRevision != 0 {
			fe.Add("if_revision", "is only taken by update")
		}
	case BatchDelete:
		if op.Name == "" {
			fe.Add("name", "is required: the name of the %s to delete", or(op.Kind, "object"))
		}
		if objects > 0 {
			fe.Add("object", "is not taken by delete: give the name")
		}
		if op.ExpectRevision != 0 {
			fe.Add("if_revision", "is only taken by update (a delete is unconditional)")
		}
	}
	if err := fe.Err(); err != nil {
		e, _ := model.AsError(err)
		return nil, e
	}
	switch op.Kind {
	case KindVN:
		return opItem[model.VN, vnKind](op, op.VN), nil
	case KindNVE:
		return opItem[model.NVE, nveKind](op, op.NVE), nil
	default:
		return opItem[model.Port, portKind](op, op.Port), nil
	}
}

func opItem[T any, K objectKind[T]](op BatchOp, obj *T) batchItem {
	switch op.Op {
	case BatchCreate:
		return &createCmd[T, K]{Obj: *obj}
	case BatchUpdate:
		return &updateCmd[T, K]{Obj: *obj, ExpectRevision: op.ExpectRevision}
	default:
		return &deleteCmd[T, K]{Name: op.Name}
	}
}

func checkBatchSize(n int) *model.Error {
	switch {
	case n == 0:
		return model.Errorf(model.KindInvalid, "items", "a batch needs at least one item")
	case n > MaxBatchItems:
		return model.Errorf(model.KindInvalid, "items", "a batch holds at most %d items, not %d: split it", MaxBatchItems, n)
	}
	return nil
}

// batchItem is an object command that can be an item of a batch.
type batchItem interface {
	command
	// undo reverts what apply did to st, given apply's event; st must be
	// as apply left it (the items after it undone first).
	undo(st *state, ev Event)
	// target is the item's object, for messages: its kind and name.
	target() (kind, name string)
}

func (c *createCmd[T, K]) undo(st *state, ev Event) { var k K; k.del(st, ev.Name) }
func (c *updateCmd[T, K]) undo(st *state, ev Event) { var k K; k.put(st, ev.Old.(*T)) }
func (c *deleteCmd[T, K]) undo(st *state, ev Event) { var k K; k.put(st, ev.Old.(*T)) }

func (c *createCmd[T, K]) target() (string, string) { var k K; return k.name(), k.key(&c.Obj) }
func (c *updateCmd[T, K]) target() (string, string) { var k K; return k.name(), k.key(&c.Obj) }
func (c *deleteCmd[T, K]) target() (string, string) { var k K; return k.name(), c.Name }

// batchCmd is the batch command.
type batchCmd struct {
	ReqID string
	Items []batchItem
}

func (c *batchCmd) cmdType() cmdType  { return cmdBatch }
func (c *batchCmd) requestID() string { return c.ReqID }

// prepare runs every item's stateless rules and reports every item that
// fails.
func (c *batchCmd) prepare() error {
	if e := checkBatchSize(len(c.Items)); e != nil {
		return e
	}
	var fails []itemFailure
	for i, it := range c.Items {
		if err := it.prepare(); err != nil {
			fails = append(fails, itemFailure{index: i, item: it, err: asModelError(err)})
		}
	}
	if len(fails) > 0 {
		return batchError(fails)
	}
	return nil
}

// appliedItem is an item apply changed the state with, and its event.
type appliedItem struct {
	item batchItem
	ev   Event
}

// run applies the items in order at index idx. An item that is rejected
// changes nothing, and the items after it are still judged (against the
// state without it), so that every failing item is reported.
func (c *batchCmd) run(st *state, idx uint64) (results []*result, applied []appliedItem, fails []itemFailure) {
	results = make([]*result, len(c.Items))
	applied = make([]appliedItem, 0, len(c.Items))
	var rejected map[[2]string]int // kind, name -> the first rejected item on it
	for i, it := range c.Items {
		res, evs := it.apply(st, idx)
		if res.Err != nil {
			fails = append(fails, itemFailure{index: i, item: it, err: explainReference(res.Err, it, rejected, c.Items)})
			if rejected == nil {
				rejected = map[[2]string]int{}
			}
			kind, name := it.target()
			if _, ok := rejected[[2]string{kind, name}]; !ok {
				rejected[[2]string{kind, name}] = i
			}
			continue
		}
		results[i] = res
		for _, ev := range evs {
			applied = append(applied, appliedItem{it, ev})
		}
	}
	return results, applied, fails
}

// rollback undoes applied items, last first.
func rollback(st *state, applied []appliedItem) {
	for i := len(applied) - 1; i >= 0; i-- {
		applied[i].item.undo(st, applied[i].ev)
	}
}

func (c *batchCmd) check(st *state) *model.Error {
	_, applied, fails := c.run(st, 0)
	rollback(st, applied)
	if len(fails) > 0 {
		return batchError(fails)
	}
	return nil
}

func (c *batchCmd) apply(st *state, idx uint64) (*result, []Event) {
	results, applied, fails := c.run(st, idx)
	if len(fails) > 0 {
		rollback(st, applied)
		return &result{Index: idx, Err: batchError(fails)}, nil
	}
	evs := make([]Event, len(applied))
	for i, a := range applied {
		evs[i] = a.ev
	}
	return &result{Index: idx, Items: results}, evs
}

// explainReference adds to a port's "vn/nve does not exist" which earlier
// item of the batch, rejected, was about that VN or NVE.
func explainReference(e *model.Error, it batchItem, rejected map[[2]string]int, items []batchItem) *model.Error {
	if e.Kind != model.KindReference || len(rejected) == 0 {
		return e
	}
	var p *model.Port
	switch c := it.(type) {
	case *createPort:
		p = &c.Obj
	case *updatePort:
		p = &c.Obj
	default:
		return e
	}
	key := [2]string{KindVN, p.VN}
	if e.Field == "nve" {
		key = [2]string{KindNVE, p.NVE}
	}
	j, ok := rejected[key]
	if !ok {
		return e
	}
	out := *e
	out.Message = fmt.Sprintf("%s (items[%d], %s %q, was rejected)", e.Message, j, items[j].cmdType(), key[1])
	return &out
}

// itemFailure is one item's rejection.
type itemFailure struct {
	index int
	item  batchItem // nil: the operation was malformed
	err   *model.Error
}

// maxListed bounds how many failures the batch error's message spells
// out; Fields lists every one.
const maxListed = 5

// batchError folds the failures (in item order) into one error: the
// first failure's kind and field path, every failing field in Fields
// (items[i].<field>, or items[i] for an error about the item as a whole),
// the objects in the way of every failing item in Blocking, and a message
// naming the first few.
func batchError(fails []itemFailure) *model.Error {
	first := fails[0]
	out := &model.Error{Kind: first.err.Kind}
	var msgs []string
	for n, f := range fails {
		prefix := fmt.Sprintf("items[%d]", f.index)
		if len(f.err.Fields) > 0 {
			for _, fe := range f.err.Fields {
				out.Fields = append(out.Fields, model.FieldError{Field: prefix + "." + fe.Field, Message: fe.Message})
			}
		} else {
			path := prefix
			if f.err.Field != "" {
				path += "." + f.err.Field
			}
			out.Fields = append(out.Fields, model.FieldError{Field: path, Message: f.err.Message})
		}
		if n == 0 {
			out.Field = out.Fields[0].Field
		}
		for _, b := range f.err.Blocking {
			if !slices.Contains(out.Blocking, b) {
				out.Blocking = append(out.Blocking, b)
			}
		}
		if n < maxListed {
			what := prefix
			if f.item != nil {
				_, name := f.item.target()
				what = fmt.Sprintf("%s (%s %q)", prefix, f.item.cmdType(), name)
			}
			msgs = append(msgs, what+": "+f.err.Message)
		}
	}
	more := ""
	if len(fails) > maxListed {
		more = fmt.Sprintf("; and %d more (see fields)", len(fails)-maxListed)
	}
	noun := "item"
	if len(fails) > 1 {
		noun = "items"
	}
	out.Message = fmt.Sprintf("batch rejected, nothing applied: %d %s failed: %s%s", len(fails), noun, strings.Join(msgs, "; "), more)
	return out
}

// --- version 1 ---

// batchItemDecoders builds an item from its version-1 body, by type: the
// object commands of every kind, from the kinds' own decoders.
var batchItemDecoders = func() map[cmdType]func(*bodyV1) (command, error) {
	m := map[cmdType]func(*bodyV1) (command, error){}
	kindItemDecoders[model.VN, vnKind](m)
	kindItemDecoders[model.NVE, nveKind](m)
	kindItemDecoders[model.Port, portKind](m)
	return m
}()

func kindItemDecoders[T any, K objectKind[T]](m map[cmdType]func(*bodyV1) (command, error)) {
	var k K
	c := k.commands()
	m[c.create] = decodeCreate[T, K]
	m[c.update] = decodeUpdate[T, K]
	m[c.delete] = decodeDelete[T, K]
}

func decodeBatch(b *bodyV1) (command, error) {
	if len(b.Items) == 0 {
		return nil, errNoField("items")
	}
	c := &batchCmd{ReqID: b.ReqID, Items: make([]batchItem, len(b.Items))}
	for i, it := range b.Items {
		dec := batchItemDecoders[cmdType(it.Type)]
		if dec == nil {
			return nil, fmt.Errorf("items[%d]: type 0x%02x is not an object command", i, it.Type)
		}
		cmd, err := dec(&bodyV1{Name: it.Name, VN: it.VN, NVE: it.NVE, Port: it.Port, ExpectRevision: it.ExpectRevision})
		if err != nil {
			return nil, fmt.Errorf("items[%d] (%s): %w", i, cmdType(it.Type), err)
		}
		c.Items[i] = cmd.(batchItem)
	}
	return c, nil
}

func (c *batchCmd) v1() *bodyV1 {
	b := &bodyV1{ReqID: c.ReqID, Items: make([]logBatchItem, len(c.Items))}
	for i, it := range c.Items {
		ib := it.v1()
		b.Items[i] = logBatchItem{Type: uint8(it.cmdType()), Name: ib.Name, VN: ib.VN, NVE: ib.NVE, Port: ib.Port, ExpectRevision: ib.ExpectRevision}
	}
	return b
}
