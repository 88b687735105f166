package web

import (
	"context"
	"fmt"
	"github.com/nva-project/nva/web/wire"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// etag is the ETag the API gives an object at revision rev.
func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// patchResult is one PATCH's outcome in the concurrency tests.
type patchResult struct {
	status int
	body   string
	vn     model.VN
}

// concurrentPatches sends n PATCHes of VN blue at once, alternately
// changing mtu (even i) and tenant (odd i), spread over the given test
// servers; it returns each one's outcome.
func concurrentPatches(t *testing.T, n int, envs ...*testEnv) []patchResult {
	t.Helper()
	out := make([]patchResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"tenant":"t%d"}`, i)
			if i%2 == 0 {
				body = fmt.Sprintf(`{"mtu":%d}`, 1300+i)
			}
			e := envs[i%len(envs)]
			r := e.do("PATCH", "/api/v1/vns/blue", body)
			out[i] = patchResult{status: r.status, body: string(r.body)}
			if r.status == 200 {
				r.decode(t, &out[i].vn)
			}
		}()
	}
	wg.Wait()
	return out
}

// checkNoLostUpdate asserts every PATCH succeeded at its own revision and
// the stored VN holds, for each field, the value of the PATCH of that field
// that committed last.
func checkNoLostUpdate(t *testing.T, st *store.Store, results []patchResult) {
	t.Helper()
	var lastMTU, lastTenant uint64
	wantMTU, wantTenant := 0, ""
	revs := map[uint64]int{}
	for i, r := range results {
		if r.status != 200 {
			t.Fatalf("PATCH %d: status %d %s", i, r.status, r.body)
		}
		if j, dup := revs[r.vn.Revision]; dup {
			t.Fatalf("PATCHes %d and %d both answered revision %d", j, i, r.vn.Revision)
		}
		revs[r.vn.Revision] = i
		if i%2 == 0 {
			if r.vn.MTU != 1300+i {
				t.Fatalf("PATCH %d answered mtu %d", i, r.vn.MTU)
			}
			if r.vn.Revision > lastMTU {
				lastMTU, wantMTU = r.vn.Revision, 1300+i
			}
		} else {
			if r.vn.Tenant != fmt.Sprintf("t%d", i) {
				t.Fatalf("PATCH %d answered tenant %q", i, r.vn.Tenant)
			}
			if r.vn.Revision > lastTenant {
				lastTenant, wantTenant = r.vn.Revision, fmt.Sprintf("t%d", i)
			}
		}
	}
	got := st.Snapshot().VNs["blue"]
	if got.MTU != wantMTU || got.Tenant != wantTenant {
		t.Fatalf("stored blue has mtu %d tenant %q, want mtu %d (revision %d) and tenant %q (revision %d): an update was lost",
			got.MTU, got.Tenant, wantMTU, lastMTU, wantTenant, lastTenant)
	}
	// Each answer is the object as that PATCH left it: it carries the
	// other field as the previous PATCH of that field set it.
	for i, r := range results {
		var prevRev uint64
		var prevVal string
		for j, o := range results {
			if j%2 != i%2 && o.vn.Revision < r.vn.Revision && o.vn.Revision > prevRev {
				prevRev = o.vn.Revision
				if j%2 == 0 {
					prevVal = strconv.Itoa(o.vn.MTU)
				} else {
					prevVal = o.vn.Tenant
				}
			}
		}
		if prevRev == 0 {
			continue
		}
		have := r.vn.Tenant
		if i%2 == 1 {
			have = strconv.Itoa(r.vn.MTU)
		}
		if have != prevVal {
			t.Fatalf("PATCH %d (revision %d) answered %q for the other field, want %q from revision %d", i, r.vn.Revision, have, prevVal, prevRev)
		}
	}
}

// TestConcurrentPatchesAllLand: PATCHes of different fields of one object
// sent at once all take effect.
func TestConcurrentPatchesAllLand(t *testing.T) {
	e := newEnv(t, nil)
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue","vni":100}`)
	checkNoLostUpdate(t, e.st, concurrentPatches(t, 20, e))
}

// TestConcurrentPatchesThroughTwoServers sends the PATCHes through two API
// servers over one store, as through two cluster members: there, PATCHes
// race each other's read-modify-write, and the store's revision check and
// PATCH's retry keep every update. Each server serializes its own PATCHes
// of blue, so a PATCH can lose its race only to one of the other server's
// 4 PATCHes, at most once to each: maxPatchAttempts (5) always suffices
// here, however the goroutines are scheduled.
func TestConcurrentPatchesThroughTwoServers(t *testing.T) {
	e1 := newEnv(t, nil)
	e2 := newEnvWith(t, e1.st, e1.st, nil)
	e1.must(201, "POST", "/api/v1/vns", `{"name":"blue","vni":100}`)
	checkNoLostUpdate(t, e1.st, concurrentPatches(t, 2*(maxPatchAttempts-1), e1, e2))
}

// racing is a backend on which another writer changes the object between
// PATCH's read and its conditional update, on the first races calls
// (-1: on every call).
type racing struct {
	*store.Store
	races int
	calls atomic.Int32
}

func (b *racing) UpdateVNIf(ctx context.Context, reqID string, vn model.VN, expectRev uint64) (*model.VN, error) {
	n := int(b.calls.Add(1))
	if b.races < 0 || n <= b.races {
		cur := *b.Store.Snapshot().VNs[vn.Name]
		cur.Revision = 0
		cur.Tenant = fmt.Sprintf("other-%d", n)
		if _, err := b.Store.UpdateVN(ctx, "", cur); err != nil {
			return nil, err
		}
	}
	return b.Store.UpdateVNIf(ctx, reqID, vn, expectRev)
}

func TestPatchRetriesAfterConcurrentChange(t *testing.T) {
	st := openStore(t, "n1")
	if _, err := st.CreateVN(context.Background(), "", model.VN{Name: "blue", VNI: 100}); err != nil {
		t.Fatal(err)
	}
	be := &racing{Store: st, races: 2}
	e := newEnvWith(t, st, be, nil)
	var got model.VN
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1400}`).decode(t, &got)
	// Two races lost, the third attempt applied: both writers' changes
	// are in.
	if n := be.calls.Load(); n != 3 {
		t.Errorf("%d conditional updates, want 3", n)
	}
	stored := st.Snapshot().VNs["blue"]
	if got.MTU != 1400 || got.Tenant != "other-2" || !reflect.DeepEqual(*stored, got) {
		t.Fatalf("answered %+v, stored %+v; want mtu 1400 and the other writer's tenant other-2", got, *stored)
	}

	// A PATCH that loses every race gives up with a 409 on revision and
	// changes nothing itself.
	be = &racing{Store: st, races: -1}
	e = newEnvWith(t, st, be, nil)
	r := e.must(409, "PATCH", "/api/v1/vns/blue", `{"mtu":1300}`)
	if ae := r.err(); ae.Code != wire.CodeConflict || ae.Field != "revision" || !strings.Contains(ae.Message, "retry") {
		t.Fatalf("error %+v", ae)
	}
	if n := be.calls.Load(); n != maxPatchAttempts {
		t.Errorf("%d attempts, want %d", n, maxPatchAttempts)
	}
	if v := st.Snapshot().VNs["blue"]; v.MTU != 1400 || v.Tenant != fmt.Sprintf("other-%d", maxPatchAttempts) {
		t.Fatalf("blue = %+v, want mtu 1400 and the last concurrent tenant", v)
	}

	// With If-Match, a race is a 412 at once: the client's revision is no
	// longer current, and PATCH does not retry.
	be = &racing{Store: st, races: 1}
	e = newEnvWith(t, st, be, nil)
	cur := st.Snapshot().VNs["blue"]
	r = e.must(412, "PATCH", "/api/v1/vns/blue", `{"mtu":1300}`, "If-Match", etag(cur.Revision))
	if ae := r.err(); ae.Code != wire.CodePreconditionFailed || ae.Field != "revision" || !strings.Contains(ae.Message, strconv.FormatUint(cur.Revision, 10)) {
		t.Fatalf("error %+v", ae)
	}
	if n := be.calls.Load(); n != 1 {
		t.Errorf("%d attempts with If-Match, want 1", n)
	}
	if v := st.Snapshot().VNs["blue"]; v.MTU != 1400 {
		t.Fatalf("a failed If-Match PATCH changed mtu: %+v", v)
	}
}

func TestETagAndIfMatch(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	// GET of one object carries its revision as a strong ETag; so do the
	// answers to POST and PATCH.
	for _, path := range []string{"/api/v1/vns/blue", "/api/v1/nves/hv1", "/api/v1/ports/p1"} {
		var obj struct{ Revision uint64 }
		r := e.must(200, "GET", path, "")
		r.decode(t, &obj)
		if obj.Revision == 0 || r.header.Get("ETag") != etag(obj.Revision) {
			t.Errorf("GET %s: ETag %q, revision %d", path, r.header.Get("ETag"), obj.Revision)
		}
	}
	if r := e.must(201, "POST", "/api/v1/vns", `{"name":"red"}`); r.header.Get("ETag") != etag(e.st.Snapshot().VNs["red"].Revision) {
		t.Errorf("POST ETag %q", r.header.Get("ETag"))
	}
	if r := e.must(200, "GET", "/api/v1/vns", ""); r.header.Get("ETag") != "" {
		t.Errorf("a list has ETag %q", r.header.Get("ETag"))
	}

	old := e.st.Snapshot().VNs["blue"].Revision
	var v model.VN
	r := e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1400}`, "If-Match", etag(old))
	r.decode(t, &v)
	if v.MTU != 1400 || v.Revision <= old || r.header.Get("ETag") != etag(v.Revision) || r.header.Get(wire.RevisionHeader) != strconv.FormatUint(v.Revision, 10) {
		t.Fatalf("If-Match current: %+v, ETag %q, X-Revision %q", v, r.header.Get("ETag"), r.header.Get(wire.RevisionHeader))
	}

	// A stale If-Match is a 412 and changes nothing, with or without a
	// client request ID (with one, the store itself refuses it).
	before := state(e.st)
	for _, hdr := range [][]string{
		{"If-Match", etag(old)},
		{"If-Match", strconv.FormatUint(old, 10)},
		{"If-Match", etag(old), wire.RequestIDHeader, "stale-1"},
		{"If-Match", `W/` + etag(v.Revision)}, // weak tags never match
		{"If-Match", `"blue"`},
		{"If-Match", `"0"`},
	} {
		r := e.must(412, "PATCH", "/api/v1/vns/blue", `{"mtu":1300}`, hdr...)
		ae := r.err()
		if ae.Code != wire.CodePreconditionFailed || ae.Field != "revision" || !strings.Contains(ae.Message, strconv.FormatUint(v.Revision, 10)) {
			t.Errorf("%q: error %+v", hdr, ae)
		}
	}
	if !sameState(before, state(e.st)) {
		t.Fatal("a PATCH with a stale If-Match changed the store")
	}

	// The current revision as a bare number, in a list, or "*" matches.
	for _, form := range []func(uint64) string{
		func(r uint64) string { return strconv.FormatUint(r, 10) },
		func(r uint64) string { return `"1", ` + etag(r) },
		func(uint64) string { return "*" },
	} {
		im := form(v.Revision)
		var p model.VN
		e.must(200, "PATCH", "/api/v1/vns/blue", `{"tenant":"acme"}`, "If-Match", im).decode(t, &p)
		if p.Tenant != "acme" || p.MTU != 1400 {
			t.Fatalf("If-Match %s: %+v", im, p)
		}
		v = p
	}

	// A client retrying a successful If-Match PATCH under its request ID
	// gets the first answer, though its If-Match is stale by then.
	var first, again model.VN
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1450}`, "If-Match", etag(v.Revision), wire.RequestIDHeader, "im-retry").decode(t, &first)
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1450}`, "If-Match", etag(v.Revision), wire.RequestIDHeader, "im-retry").decode(t, &again)
	if first.Revision <= v.Revision || !reflect.DeepEqual(again, first) {
		t.Fatalf("retried If-Match PATCH: first %+v, retry %+v", first, again)
	}
	if cur := e.st.Snapshot().VNs["blue"]; cur.Revision != first.Revision {
		t.Fatalf("the retry was applied again: revision %d, first %d", cur.Revision, first.Revision)
	}
	// Once another write changed the object, the same ID would carry a
	// different object: refused, and nothing changes.
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"tenant":"other"}`)
	before = state(e.st)
	if r := e.must(409, "PATCH", "/api/v1/vns/blue", `{"mtu":1450}`, "If-Match", etag(v.Revision), wire.RequestIDHeader, "im-retry"); !strings.Contains(r.err().Message, "request ID") {
		t.Errorf("retry after another change: %s", r.body)
	}
	if !sameState(before, state(e.st)) {
		t.Fatal("a refused retry changed the store")
	}

	// Malformed If-Match is a 400; If-Match on a missing object is a 404;
	// DELETE refuses If-Match rather than ignore it.
	for _, im := range []string{"abc", "12abc", " , "} {
		if r := e.must(400, "PATCH", "/api/v1/vns/blue", `{"mtu":1300}`, "If-Match", im); r.err().Field != "If-Match" {
			t.Errorf("If-Match %q: %+v", im, r.err())
		}
	}
	e.must(404, "PATCH", "/api/v1/vns/green", `{"mtu":1300}`, "If-Match", etag(first.Revision))
	if r := e.must(400, "DELETE", "/api/v1/vns/red", "", "If-Match", "*"); r.err().Field != "If-Match" {
		t.Errorf("DELETE with If-Match: %+v", r.err())
	}
	if _, ok := e.st.Snapshot().VNs["red"]; !ok {
		t.Fatal("DELETE with If-Match deleted red")
	}
}

func TestParseIfMatch(t *testing.T) {
	cases := []struct {
		in      []string
		any     bool
		revs    []uint64
		matches uint64
		bad     bool
	}{
		{in: nil},
		{in: []string{`"7"`}, revs: []uint64{7}, matches: 7},
		{in: []string{`7`}, revs: []uint64{7}, matches: 7},
		{in: []string{`"3", "7"`}, revs: []uint64{3, 7}, matches: 7},
		{in: []string{`"3"`, `"7"`}, revs: []uint64{3, 7}, matches: 3},
		{in: []string{`*`}, any: true, matches: 99},
		{in: []string{`W/"7"`}},
		{in: []string{`"x7"`}},
		{in: []string{`x7`}, bad: true},
		{in: []string{``}, bad: true},
	}
	for _, tc := range cases {
		h := map[string][]string{}
		if tc.in != nil {
			h["If-Match"] = tc.in
		}
		c, err := parseIfMatch(h)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if c.present != (tc.in != nil) || c.any != tc.any || fmt.Sprint(c.revs) != fmt.Sprint(tc.revs) {
			t.Errorf("%q: parsed %+v", tc.in, c)
		}
		if tc.matches != 0 && !c.matches(tc.matches) {
			t.Errorf("%q does not match %d", tc.in, tc.matches)
		}
		if c.present && !c.any && c.matches(tc.matches+1000) {
			t.Errorf("%q matches %d", tc.in, tc.matches+1000)
		}
	}
}

func TestKeyLocks(t *testing.T) {
	var k keyLocks
	unlock, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is independent.
	ub, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	ub()
	// A waiter on a held key gives up with its context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k.lock(ctx, "a"); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("lock of a held key with a canceled context: %v", err)
	}
	got := make(chan struct{})
	go func() {
		u, err := k.lock(context.Background(), "a")
		if err == nil {
			u()
		}
		close(got)
	}()
	unlock()
	unlock() // idempotent
	<-got
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.locks) != 0 {
		t.Fatalf("%d lock entries left", len(k.locks))
	}
}
