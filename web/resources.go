package web

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/nva-project/nva/web/wire"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// maxPatchAttempts bounds how often a PATCH without If-Match re-reads the
// object and reapplies itself after a concurrent change (through another
// node: PATCHes through one node are serialized per object).
const maxPatchAttempts = 5

// resource describes one collection of the API (vns, nves, ports) so the
// five handlers are written once.
type resource[T any] struct {
	kind   string // singular, for messages: "vn"
	plural string // path segment: "vns"

	all      func(*model.Snapshot) []*T
	lookup   func(*model.Snapshot, string) (*T, bool)
	nameOf   func(*T) string
	revision func(*T) uint64
	// clear drops server-owned fields a client may not set (revision).
	clear  func(*T)
	create func(ctx context.Context, reqID string, v T) (*T, error)
	// update replaces the object if its revision is still expectRev
	// (0: unconditionally); otherwise store.IsRevisionConflict(err).
	update func(ctx context.Context, reqID string, v T, expectRev uint64) (*T, error)
	remove func(ctx context.Context, reqID, name string) (uint64, error)
	// filter builds a list filter from the query (nil: no filtering).
	filter func(*http.Request) func(*T) bool
	// view renders an object for a response (nil: as is).
	view func(*T) any
	// recorded picks this kind's object out of a remembered write result.
	recorded func(store.Recorded) *T
	// admit checks a created or updated object against this server's
	// policies (nil: none); an error is the answer.
	admit func(*T) error

	// patching serializes the PATCHes of one object on this node.
	patching keyLocks
}

func (res *resource[T]) render(v *T) any {
	if res.view != nil {
		return res.view(v)
	}
	return v
}

func (res *resource[T]) notFound(name string) *APIError {
	return newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "%s %q not found", res.kind, name)
}

// List is the body of every collection GET.
type List struct {
	Items []any `json:"items"`
}

func registerResource[T any](s *Server, api prefixed, res *resource[T]) {
	coll := "/" + res.plural
	item := coll + "/{name}"
	api.HandleFunc(coll, listHandler(s, res)).Methods(http.MethodGet)
	api.HandleFunc(coll, createHandler(s, res)).Methods(http.MethodPost)
	api.HandleFunc(item, getHandler(s, res)).Methods(http.MethodGet)
	api.HandleFunc(item, patchHandler(s, res)).Methods(http.MethodPatch)
	api.HandleFunc(item, deleteHandler(s, res)).Methods(http.MethodDelete)
}

func listHandler[T any](s *Server, res *resource[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap, err := s.snapshot(r)
		if err != nil {
			writeError(w, err)
			return
		}
		var keep func(*T) bool
		if res.filter != nil {
			keep = res.filter(r)
		}
		out := List{Items: []any{}}
		for _, v := range res.all(snap) {
			if keep == nil || keep(v) {
				out.Items = append(out.Items, res.render(v))
			}
		}
		writeList(w, out)
	}
}

// writeList writes l as writeJSON would, byte for byte, but marshals its
// items one by one: encoding/json keeps the buffer of every Marshal in a
// pool for reuse, so one Marshal of a big list (the NVEs of a 1,000-NVE
// fleet, megabytes) would leave buffers of that size held after the
// request, until two more garbage collections, which an idle nva may not
// run for a long time. An item's buffer is a few kilobytes.
func writeList(w http.ResponseWriter, l List) {
	parts := make([][]byte, len(l.Items))
	for i, it := range l.Items {
		b, err := json.Marshal(it)
		if err != nil {
			writeJSON(w, http.StatusOK, l) // reports the error as writeJSON does
			return
		}
		parts[i] = b
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"items":[`)
	for i, b := range parts {
		if i > 0 {
			io.WriteString(w, ",")
		}
		w.Write(b)
	}
	io.WriteString(w, "]}\n")
}

func getHandler[T any](s *Server, res *resource[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := mux.Vars(r)["name"]
		snap, err := s.snapshot(r)
		if err != nil {
			writeError(w, err)
			return
		}
		v, ok := res.lookup(snap, name)
		if !ok {
			writeError(w, res.notFound(name))
			return
		}
		setETag(w, res.revision(v))
		writeJSON(w, http.StatusOK, res.render(v))
	}
}

func createHandler[T any](s *Server, res *resource[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wait, timeout, err := s.waitOpts(r)
		if err != nil {
			writeError(w, err)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		var v T
		if err := decodeStrict(body, &v); err != nil {
			writeError(w, err)
			return
		}
		res.clear(&v)
		if res.admit != nil {
			if err := res.admit(&v); err != nil {
				writeError(w, err)
				return
			}
		}
		before := s.snapshotBefore(wait)
		got, err := res.create(r.Context(), requestID(r), v)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Location", "/api/v1/"+res.plural+"/"+url.PathEscape(res.nameOf(got)))
		setETag(w, res.revision(got))
		s.finishWrite(w, r, wait, timeout, http.StatusCreated, res.revision(got), affectedBy(s, before, nil, false, got), res.render(got))
	}
}

func patchHandler[T any](s *Server, res *resource[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := mux.Vars(r)["name"]
		wait, timeout, err := s.waitOpts(r)
		if err != nil {
			writeError(w, err)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		patch, err := decodePatch(body)
		if err != nil {
			writeError(w, err)
			return
		}
		// Decoding the patch itself strictly names unknown fields and
		// type errors at any depth (null members decode as no-ops).
		var probe T
		if err := decodeStrict(body, &probe); err != nil {
			writeError(w, err)
			return
		}
		if n, ok := patch["name"]; ok {
			if str, isStr := n.(string); !isStr || str != name {
				writeError(w, newAPIError(http.StatusUnprocessableEntity, wire.CodeInvalid, "name",
					"name cannot be changed (the %s is %q); create a new %s instead", res.kind, name, res.kind))
				return
			}
		}
		cond, err := parseIfMatch(r.Header)
		if err != nil {
			writeError(w, err)
			return
		}
		// PATCHes of one object through this node wait for each other, so
		// they do not race each other's read-modify-write.
		unlock, err := res.patching.lock(r.Context(), name)
		if err != nil {
			writeError(w, err)
			return
		}
		before := s.snapshotBefore(wait)
		got, err := applyPatch(r.Context(), s, res, name, patch, cond, requestID(r), r.Header.Get(wire.RequestIDHeader) != "")
		unlock()
		if err != nil {
			writeError(w, err)
			return
		}
		setETag(w, res.revision(got))
		old, _ := lookupIn(before, res, name)
		s.finishWrite(w, r, wait, timeout, http.StatusOK, res.revision(got), affectedBy(s, before, old, true, got), res.render(got))
	}
}

// applyPatch is PATCH's read-modify-write: it reads the object (a
// linearizable read, so a follower does not patch a stale copy), merges the
// patch into it and replaces it on condition that its revision is still the
// one read, which the FSM checks atomically with the write. Without
// If-Match, a concurrent change makes it read and merge again (up to
// maxPatchAttempts times), so concurrent PATCHes of different fields all
// take effect. With If-Match the revision is the client's: a mismatch is a
// 412 and nothing is retried. clientID says the request ID came from the
// client, which may be retrying a PATCH that already succeeded.
func applyPatch[T any](ctx context.Context, s *Server, res *resource[T], name string, patch map[string]any, cond ifMatch, reqID string, clientID bool) (*T, error) {
	for attempt := 1; ; attempt++ {
		snap, err := s.be.ConsistentSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		cur, ok := res.lookup(snap, name)
		if !ok {
			if clientID {
				return retryGone(ctx, s, res, name, patch, reqID)
			}
			return nil, res.notFound(name)
		}
		have := res.revision(cur)
		expect := have
		if cond.present && !cond.any && !cond.matches(have) {
			// Stale. Only a client retry of a PATCH that succeeded can
			// still get an answer other than 412 (its first result, which
			// the store keeps under the request ID), so only that is
			// proposed, expecting the client's revision.
			if !clientID || cond.first() == 0 {
				return nil, preconditionFailed(res.kind, name, have, cond)
			}
			expect = cond.first()
		}
		v, err := mergeInto(cur, patch)
		if err != nil {
			return nil, err
		}
		res.clear(&v)
		if res.admit != nil {
			if err := res.admit(&v); err != nil {
				return nil, err
			}
		}
		got, err := res.update(ctx, reqID, v, expect)
		if err == nil {
			return got, nil
		}
		if !store.IsRevisionConflict(err) {
			return nil, err
		}
		if cond.present && !cond.any {
			ae := toAPIError(err)
			ae.status, ae.Code = http.StatusPreconditionFailed, wire.CodePreconditionFailed
			return nil, ae
		}
		if attempt == maxPatchAttempts {
			return nil, newAPIError(http.StatusConflict, wire.CodeConflict, "revision",
				"%s %q changed concurrently %d times while this PATCH was applied; nothing was changed by it; retry the request: %v",
				res.kind, name, attempt, err)
		}
		// Another writer changed the object (a PATCH through another
		// node, or any other update): read it again after a short random
		// pause, so that PATCHes colliding across nodes spread out.
		if err := sleepCtx(ctx, rand.N(time.Millisecond<<attempt)); err != nil {
			return nil, err
		}
	}
}

// retryGone answers a PATCH, sent with the client's request ID, of an
// object that no longer exists: it may be the retry of a PATCH that was
// applied before the object was deleted (its client never saw the answer).
// If the store remembers a write under that ID that stored this object,
// the patch is merged into what that write stored and proposed again
// under the same ID: the FSM answers a retry of the same request with its
// first result, and refuses another request reusing the ID (409). Else
// the object is not found.
func retryGone[T any](ctx context.Context, s *Server, res *resource[T], name string, patch map[string]any, reqID string) (*T, error) {
	rec, ok := s.be.Recorded(reqID)
	if !ok || rec.Err != nil {
		return nil, res.notFound(name)
	}
	prev := res.recorded(rec)
	if prev == nil || res.nameOf(prev) != name {
		return nil, newAPIError(http.StatusConflict, wire.CodeConflict, "",
			"request ID %q was already used for a different request (%s %q does not exist)", reqID, res.kind, name)
	}
	v, err := mergeInto(prev, patch)
	if err != nil {
		return nil, err
	}
	res.clear(&v)
	got, err := res.update(ctx, reqID, v, res.revision(prev))
	if me, ok := model.AsError(err); ok && me.Kind == model.KindNotFound {
		// The ID was forgotten between the two reads: nothing applied.
		return nil, res.notFound(name)
	}
	return got, err
}

// mergeInto applies an RFC 7396 merge patch to a copy of cur.
func mergeInto[T any](cur *T, patch map[string]any) (T, error) {
	var v T
	doc, err := toJSONMap(cur)
	if err != nil {
		return v, err
	}
	merged, err := toJSONMap(mergePatch(doc, patch))
	if err != nil {
		return v, err
	}
	mb, err := jsonBytes(merged)
	if err != nil {
		return v, err
	}
	if err := decodeStrict(mb, &v); err != nil {
		return v, err
	}
	return v, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setETag sets the strong entity tag of an object: its revision, quoted.
func setETag(w http.ResponseWriter, rev uint64) {
	w.Header().Set("ETag", `"`+strconv.FormatUint(rev, 10)+`"`)
}

// ifMatch is a parsed If-Match header (RFC 9110 13.1.1) whose entity tags
// are object revisions: "12" (the ETag form) or a bare 12.
type ifMatch struct {
	present bool
	any     bool     // "*": any current object matches
	revs    []uint64 // the revisions listed, in order (0 never matches)
	tags    []string // the header's tags, for messages
}

// matches reports whether rev satisfies the condition (strong comparison:
// weak and non-numeric tags match nothing).
func (c ifMatch) matches(rev uint64) bool {
	if c.any {
		return true
	}
	for _, r := range c.revs {
		if r == rev && r != 0 {
			return true
		}
	}
	return false
}

// first returns the first revision listed (0 if none).
func (c ifMatch) first() uint64 {
	for _, r := range c.revs {
		if r != 0 {
			return r
		}
	}
	return 0
}

// parseIfMatch reads If-Match. A malformed header is a 400 naming it.
func parseIfMatch(h http.Header) (ifMatch, error) {
	vals := h.Values("If-Match")
	if len(vals) == 0 {
		return ifMatch{}, nil
	}
	c := ifMatch{present: true}
	for _, v := range vals {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			switch {
			case tag == "":
				continue
			case tag == "*":
				c.any = true
			case strings.HasPrefix(tag, `W/"`) && strings.HasSuffix(tag, `"`) && len(tag) >= 4:
				// A weak tag never matches under If-Match's strong comparison.
			case strings.HasPrefix(tag, `"`) && strings.HasSuffix(tag, `"`) && len(tag) >= 2:
				if rev, err := strconv.ParseUint(tag[1:len(tag)-1], 10, 64); err == nil {
					c.revs = append(c.revs, rev)
				}
			default:
				rev, err := strconv.ParseUint(tag, 10, 64)
				if err != nil {
					return ifMatch{}, badRequest("If-Match",
						`If-Match must be "*" or the object's revision as an ETag ("12") or a number, not %q`, tag)
				}
				c.revs = append(c.revs, rev)
			}
			c.tags = append(c.tags, tag)
		}
	}
	if len(c.tags) == 0 {
		return ifMatch{}, badRequest("If-Match", "If-Match is empty")
	}
	return c, nil
}

func preconditionFailed(kind, name string, have uint64, c ifMatch) *APIError {
	return newAPIError(http.StatusPreconditionFailed, wire.CodePreconditionFailed, "revision",
		"%s %q is at revision %d, not the If-Match revision %s: it changed since it was read; nothing was changed",
		kind, name, have, strings.Join(c.tags, ", "))
}

// keyLocks is a set of per-key mutexes that waiters can give up on.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters; the entry goes at 0
}

// lock takes key's lock, or returns ctx's error if ctx ends first.
func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l.ch; release() }) }, nil
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("waiting for another PATCH of %q: %w", key, ctx.Err())
	}
}

func deleteHandler[T any](s *Server, res *resource[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := mux.Vars(r)["name"]
		wait, timeout, err := s.waitOpts(r)
		if err != nil {
			writeError(w, err)
			return
		}
		// A precondition that is not checked must not be ignored: the
		// client would delete an object that changed since it read it.
		if len(r.Header.Values("If-Match")) > 0 {
			writeError(w, badRequest("If-Match", "If-Match is supported on PATCH only; DELETE is unconditional"))
			return
		}
		before := s.snapshotBefore(wait)
		idx, err := res.remove(r.Context(), requestID(r), name)
		if err != nil {
			writeError(w, err)
			return
		}
		old, _ := lookupIn(before, res, name)
		s.finishWrite(w, r, wait, timeout, http.StatusNoContent, idx, affectedBy(s, before, old, true, nil), nil)
	}
}

// lookupIn finds the object a PATCH or DELETE replaces in the snapshot
// before it (nil: the request does not wait, or the snapshot lacks it).
func lookupIn[T any](before *model.Snapshot, res *resource[T], name string) (*T, bool) {
	if before == nil {
		return nil, false
	}
	return res.lookup(before, name)
}

// affectedBy returns, for finishWrite, the NVEs a write of one object
// affects (see affected): old is the object before, from the snapshot
// before the write (nil: a create, or, with replaced, an update or delete
// of an object that snapshot lacked), cur after (nil: deleted).
func affectedBy[T any](s *Server, before *model.Snapshot, old *T, replaced bool, cur *T) func() []string {
	return func() []string {
		a := newAffected(before, s.be.Snapshot())
		if old != nil {
			a.add(old)
		} else if replaced {
			a.unknown()
		}
		if cur != nil {
			a.add(cur)
		}
		return a.names()
	}
}

func (s *Server) vnResource() *resource[model.VN] {
	return &resource[model.VN]{
		kind: "vn", plural: "vns",
		all: func(sn *model.Snapshot) []*model.VN { return sn.SortedVNs() },
		lookup: func(sn *model.Snapshot, n string) (*model.VN, bool) {
			v, ok := sn.VNs[n]
			return v, ok
		},
		nameOf:   func(v *model.VN) string { return v.Name },
		revision: func(v *model.VN) uint64 { return v.Revision },
		clear:    func(v *model.VN) { v.Revision = 0 },
		create:   s.be.CreateVN,
		update:   s.be.UpdateVNIf,
		remove:   s.be.DeleteVN,
		recorded: func(r store.Recorded) *model.VN { return r.VN },
		filter: func(r *http.Request) func(*model.VN) bool {
			q := r.URL.Query()
			if !q.Has("tenant") {
				return nil
			}
			t := q.Get("tenant")
			return func(v *model.VN) bool { return v.Tenant == t }
		},
	}
}

func (s *Server) nveView(n *model.NVE) any {
	v := wire.NVEView{NVE: n}
	if s.status != nil {
		v.Status = s.status.NVEStatus(n.Name)
	}
	return v
}

// admitNVE checks an NVE against the OVSDB endpoint policy.
func (s *Server) admitNVE(n *model.NVE) error { return s.ovsdbAllow.CheckNVE(n) }

func (s *Server) nveResource() *resource[model.NVE] {
	return &resource[model.NVE]{
		kind: "nve", plural: "nves",
		all: func(sn *model.Snapshot) []*model.NVE { return sn.SortedNVEs() },
		lookup: func(sn *model.Snapshot, n string) (*model.NVE, bool) {
			v, ok := sn.NVEs[n]
			return v, ok
		},
		nameOf:   func(v *model.NVE) string { return v.Name },
		revision: func(v *model.NVE) uint64 { return v.Revision },
		clear:    func(v *model.NVE) { v.Revision = 0 },
		create:   s.be.CreateNVE,
		update:   s.be.UpdateNVEIf,
		remove:   s.be.DeleteNVE,
		recorded: func(r store.Recorded) *model.NVE { return r.NVE },
		admit:    s.admitNVE,
		filter: func(r *http.Request) func(*model.NVE) bool {
			q := r.URL.Query()
			if !q.Has("kind") {
				return nil
			}
			k := model.NVEKind(q.Get("kind"))
			return func(v *model.NVE) bool { return v.Kind == k }
		},
		view: s.nveView,
	}
}

func (s *Server) portResource() *resource[model.Port] {
	return &resource[model.Port]{
		kind: "port", plural: "ports",
		all: func(sn *model.Snapshot) []*model.Port { return sn.SortedPorts() },
		lookup: func(sn *model.Snapshot, n string) (*model.Port, bool) {
			v, ok := sn.Ports.Lookup(n)
			return v, ok
		},
		nameOf:   func(v *model.Port) string { return v.Name },
		revision: func(v *model.Port) uint64 { return v.Revision },
		clear:    func(v *model.Port) { v.Revision = 0 },
		create:   s.be.CreatePort,
		update:   s.be.UpdatePortIf,
		remove:   s.be.DeletePort,
		recorded: func(r store.Recorded) *model.Port { return r.Port },
		filter: func(r *http.Request) func(*model.Port) bool {
			q := r.URL.Query()
			hasVN, hasNVE := q.Has("vn"), q.Has("nve")
			if !hasVN && !hasNVE {
				return nil
			}
			vn, nve := q.Get("vn"), q.Get("nve")
			return func(p *model.Port) bool {
				return (!hasVN || p.VN == vn) && (!hasNVE || p.NVE == nve)
			}
		},
	}
}
