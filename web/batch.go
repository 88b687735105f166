package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

// handleBatch is POST /api/v1/batch: the items are applied atomically, in
// order, as one Raft entry (store.Batch). The body may be up to
// wire.MaxBatchBodyBytes and hold up to wire.MaxBatchItems items (413
// above). Errors name the item: items[3].mac. A body that does not decode
// is a 400 listing every item object that does not; then the store checks
// every item (422, every failing field listed) and the leader judges the
// whole batch against its state (409/404/422 with every failing item), and
// nothing is applied unless every item is. ?wait=realized waits for the
// batch's revision as for any write, on the NVEs its items affect.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	wait, timeout, err := s.waitOpts(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if ae := checkJSONContentType(r); ae != nil {
		writeError(w, ae)
		return
	}
	body, err := readLimited(w, r, wire.MaxBatchBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.BatchRequest
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, err)
		return
	}
	if n := len(req.Items); n > wire.MaxBatchItems {
		writeError(w, newAPIError(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "items",
			"a batch holds at most %d items, not %d: split it", wire.MaxBatchItems, n))
		return
	}
	ops, err := batchOps(req.Items)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.admitBatch(ops); err != nil {
		writeError(w, err)
		return
	}
	before := s.snapshotBefore(wait)
	res, err := s.be.Batch(r.Context(), requestID(r), ops)
	if err != nil {
		writeError(w, err)
		return
	}
	minimal := prefersMinimal(r)
	out, err := batchResponse(req.Items, res, minimal)
	if err != nil {
		writeError(w, err)
		return
	}
	nves := func() []string { return batchAffected(before, s.be.Snapshot(), ops, res) }
	if minimal {
		w.Header().Set(wire.PreferenceAppliedHeader, wire.PreferReturnMinimal)
	}
	s.finishWrite(w, r, wait, timeout, http.StatusOK, res.Revision, nves, out)
}

// batchOps decodes every item's object strictly, as POST of that kind
// does (revision dropped: the store sets it). Items whose kind is not
// known keep no object: the store names the kind. Every object that does
// not decode is reported, in one 400.
func batchOps(items []wire.BatchItem) ([]store.BatchOp, error) {
	ops := make([]store.BatchOp, len(items))
	var bad model.FieldErrors
	kc := newKeyChecker()
	for i, it := range items {
		op := store.BatchOp{Op: it.Op, Kind: it.Kind, Name: it.Name, ExpectRevision: it.IfRevision}
		if len(it.Object) > 0 && string(it.Object) != "null" {
			var err error
			switch it.Kind {
			case wire.KindVN:
				op.VN, err = decodeObject[model.VN](kc, it.Object, func(v *model.VN) { v.Revision = 0 })
			case wire.KindNVE:
				op.NVE, err = decodeObject[model.NVE](kc, it.Object, func(v *model.NVE) { v.Revision = 0 })
			case wire.KindPort:
				op.Port, err = decodeObject[model.Port](kc, it.Object, func(v *model.Port) { v.Revision = 0 })
			}
			if err != nil {
				ae := toAPIError(err)
				field := fmt.Sprintf("items[%d].object", i)
				if ae.Field != "" {
					field = fmt.Sprintf("items[%d].%s", i, ae.Field)
				}
				bad = append(bad, model.FieldError{Field: field, Message: ae.Message})
			}
		}
		ops[i] = op
	}
	if len(bad) > 0 {
		ae := newAPIError(http.StatusBadRequest, wire.CodeBadRequest, bad[0].Field,
			"%d item object(s) do not decode, nothing applied: %s: %s", len(bad), bad[0].Field, bad[0].Message)
		ae.Fields = bad
		return nil, ae
	}
	return ops, nil
}

// admitBatch checks the batch's NVE objects against the OVSDB endpoint
// policy, as POST and PATCH do: a 422 naming every item refused.
func (s *Server) admitBatch(ops []store.BatchOp) error {
	var bad model.FieldErrors
	for i, op := range ops {
		if op.NVE == nil {
			continue
		}
		if err := s.admitNVE(op.NVE); err != nil {
			me, _ := model.AsError(err)
			bad.Add(fmt.Sprintf("items[%d].%s", i, me.Field), "%s", me.Message)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &model.Error{Kind: model.KindInvalid, Field: bad[0].Field, Fields: bad,
		Message: fmt.Sprintf("%d item(s) refused, nothing applied: %s: %s", len(bad), bad[0].Field, bad[0].Message)}
}

func decodeObject[T any](kc *keyChecker, raw json.RawMessage, clear func(*T)) (*T, error) {
	var v T
	if err := decodeStrictWith(kc, raw, &v); err != nil {
		return nil, err
	}
	clear(&v)
	return &v, nil
}

// batchResponse pairs the items with what the store did for each.
// prefersMinimal reports whether the request's Prefer header (RFC 7240:
// comma-separated preferences, any number of headers) asks for
// return=minimal.
func prefersMinimal(r *http.Request) bool {
	for _, h := range r.Header.Values(wire.PreferHeader) {
		for _, p := range strings.Split(h, ",") {
			if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(k, "return") &&
				strings.EqualFold(strings.Trim(strings.TrimSpace(v), `"`), "minimal") {
				return true
			}
		}
	}
	return false
}

// batchResponse is the answer to a batch: per item its op, kind and name,
// and (unless minimal) the stored object.
func batchResponse(items []wire.BatchItem, res *store.BatchResult, minimal bool) (*wire.BatchResponse, error) {
	if len(res.Items) != len(items) {
		return nil, errors.New("the store answered a batch with a result per item missing")
	}
	out := &wire.BatchResponse{Revision: res.Revision, Items: make([]wire.BatchItemResult, len(items))}
	for i, it := range items {
		ir := wire.BatchItemResult{Op: it.Op, Kind: it.Kind, Name: it.Name}
		var obj any
		switch r := res.Items[i]; {
		case r.VN != nil:
			ir.Name, obj = r.VN.Name, r.VN
		case r.NVE != nil:
			ir.Name, obj = r.NVE.Name, r.NVE
		case r.Port != nil:
			ir.Name, obj = r.Port.Name, r.Port
		}
		if obj != nil && !minimal {
			b, err := json.Marshal(obj)
			if err != nil {
				return nil, fmt.Errorf("encoding items[%d]: %w", i, err)
			}
			ir.Object = b
		}
		out.Items[i] = ir
	}
	return out, nil
}
