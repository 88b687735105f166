package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"
	"github.com/nva-project/nva/app/model"
)

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
	update func(ctx context.Context, reqID string, v T) (*T, error)
	remove func(ctx context.Context, reqID, name string) (uint64, error)
	// filter builds a list filter from the query (nil: no filtering).
	filter func(*http.Request) func(*T) bool
	// view renders an object for a response (nil: as is).
	view func(*T) any
}

func (res *resource[T]) render(v *T) any {
	if res.view != nil {
		return res.view(v)
	}
	return v
}

func (res *resource[T]) notFound(name string) *APIError {
	return newAPIError(http.StatusNotFound, CodeNotFound, "", "%s %q not found", res.kind, name)
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
		writeJSON(w, http.StatusOK, out)
	}
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
		got, err := res.create(r.Context(), requestID(r), v)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Location", "/api/v1/"+res.plural+"/"+url.PathEscape(res.nameOf(got)))
		s.finishWrite(w, r, wait, timeout, http.StatusCreated, res.revision(got), res.render(got))
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
				writeError(w, newAPIError(http.StatusUnprocessableEntity, CodeInvalid, "name",
					"name cannot be changed (the %s is %q); create a new %s instead", res.kind, name, res.kind))
				return
			}
		}
		// Read-modify-write against a linearizable read so a follower
		// does not patch a stale copy.
		snap, err := s.be.ConsistentSnapshot(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		cur, ok := res.lookup(snap, name)
		if !ok {
			writeError(w, res.notFound(name))
			return
		}
		doc, err := toJSONMap(cur)
		if err != nil {
			writeError(w, err)
			return
		}
		merged, err := toJSONMap(mergePatch(doc, patch))
		if err != nil {
			writeError(w, err)
			return
		}
		mb, err := jsonBytes(merged)
		if err != nil {
			writeError(w, err)
			return
		}
		var v T
		if err := decodeStrict(mb, &v); err != nil {
			writeError(w, err)
			return
		}
		res.clear(&v)
		got, err := res.update(r.Context(), requestID(r), v)
		if err != nil {
			writeError(w, err)
			return
		}
		s.finishWrite(w, r, wait, timeout, http.StatusOK, res.revision(got), res.render(got))
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
		idx, err := res.remove(r.Context(), requestID(r), name)
		if err != nil {
			writeError(w, err)
			return
		}
		s.finishWrite(w, r, wait, timeout, http.StatusNoContent, idx, nil)
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
		update:   s.be.UpdateVN,
		remove:   s.be.DeleteVN,
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

// NVEView is an NVE as the API renders it: the stored object plus, when a
// StatusReporter is configured, its live status.
type NVEView struct {
	*model.NVE
	Status any `json:"status,omitempty"`
}

func (s *Server) nveView(n *model.NVE) any {
	v := NVEView{NVE: n}
	if s.status != nil {
		v.Status = s.status.NVEStatus(n.Name)
	}
	return v
}

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
		update:   s.be.UpdateNVE,
		remove:   s.be.DeleteNVE,
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
			v, ok := sn.Ports[n]
			return v, ok
		},
		nameOf:   func(v *model.Port) string { return v.Name },
		revision: func(v *model.Port) uint64 { return v.Revision },
		clear:    func(v *model.Port) { v.Revision = 0 },
		create:   s.be.CreatePort,
		update:   s.be.UpdatePort,
		remove:   s.be.DeletePort,
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
