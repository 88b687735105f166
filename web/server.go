package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/nva-project/nva/web/ui"
	"github.com/nva-project/nva/web/wire"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/nva-project/nva/app/model"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// DefaultWaitTimeout bounds ?wait=realized when no ?timeout= is given.
const DefaultWaitTimeout = 10 * time.Second

// MaxWaitTimeout is the largest ?timeout= accepted.
const MaxWaitTimeout = 10 * time.Minute

// Options configures a Server. Backend is required; a nil reporter means
// this node has no such component (its endpoints answer 501).
type Options struct {
	Backend Backend
	// NodeID is reported by /api/v1/health.
	NodeID string
	Logger *slog.Logger

	Realizer       Realizer
	FlowReporter   FlowReporter
	StatusReporter StatusReporter
	SwitchReporter SwitchReporter
	// StatusNotifier signals status changes to the events stream (with
	// StatusReporter); nil: the stream re-reads status periodically.
	StatusNotifier StatusNotifier
	// Tracer serves POST /api/v1/traces (nil: 501).
	Tracer Tracer
	// Counters serves the traffic counters (nil: 501).
	Counters CounterReporter
	// LiveTracer runs live traces (nil: live traces answer 501).
	LiveTracer LiveTracer
	// Learned reports learned-MAC conflicts (learned.go; nil: 501).
	Learned LearnedReporter
	// Tunnels serves tunnel liveness and VAP signalling (nil: 501).
	Tunnels TunnelReporter
	// Events tunes GET /api/v1/events.
	Events EventsOptions
	// Backup serves GET /api/v1/snapshot (admin only); nil answers 501.
	Backup Backuper

	// OVSDBAllow is the OVSDB endpoint policy an NVE's "ovsdb" field must
	// satisfy on create, update and in a batch (422 on field ovsdb); nil
	// means model.DefaultOVSDBAllow.
	OVSDBAllow *model.OVSDBPolicy

	// WaitTimeout is the default of ?timeout= for ?wait=realized
	// (DefaultWaitTimeout if zero).
	WaitTimeout time.Duration
	// Now is the clock used for latency metrics and logs (time.Now if nil).
	Now func() time.Time

	// Auth configures tokens, roles and the cross-site checks (auth.go).
	Auth AuthOptions
}

// Server is the REST API v1 plus /metrics (the members' /internal/ API is
// served by the store on its cluster port, never here: /internal/ answers
// 404). It is an
// http.Handler.
type Server struct {
	be          Backend
	nodeID      string
	log         *slog.Logger
	realizer    Realizer
	flows       FlowReporter
	status      StatusReporter
	switches    SwitchReporter
	notifier    StatusNotifier
	tracer      Tracer
	counters    CounterReporter
	liveTracer  LiveTracer
	learned     LearnedReporter
	tunnels     TunnelReporter
	events      EventsOptions
	backup      Backuper
	waitTimeout time.Duration
	now         func() time.Time
	ovsdbAllow  *model.OVSDBPolicy
	auth        *authConfig
	router      *mux.Router // the routes, for the authorization table test

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// writeStage: a write waiting for realization, by stage (commit:
	// from the request to the store's answer; realize: waiting for the
	// switches).
	writeStage *prometheus.HistogramVec

	handler http.Handler

	// base ends with the server (Close): the events streams watch it.
	base      context.Context
	closeBase context.CancelFunc
}

// New builds a Server with its own Prometheus registry (see Registry).
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("web: Options.Backend is required")
	}
	auth, err := newAuthConfig(opts.Auth)
	if err != nil {
		return nil, err
	}
	s := &Server{
		be:          scopedBackend{Backend: opts.Backend, auth: auth},
		auth:        auth,
		nodeID:      opts.NodeID,
		log:         opts.Logger,
		realizer:    opts.Realizer,
		flows:       opts.FlowReporter,
		status:      opts.StatusReporter,
		switches:    opts.SwitchReporter,
		notifier:    opts.StatusNotifier,
		tracer:      opts.Tracer,
		counters:    opts.Counters,
		liveTracer:  opts.LiveTracer,
		learned:     opts.Learned,
		tunnels:     opts.Tunnels,
		events:      opts.Events.withDefaults(),
		backup:      opts.Backup,
		waitTimeout: opts.WaitTimeout,
		now:         opts.Now,
		ovsdbAllow:  opts.OVSDBAllow,
		reg:         prometheus.NewRegistry(),
	}
	if s.ovsdbAllow == nil {
		s.ovsdbAllow = model.MustOVSDBPolicy(model.DefaultOVSDBAllow)
	}
	s.base, s.closeBase = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.waitTimeout <= 0 {
		s.waitTimeout = DefaultWaitTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "nva", Subsystem: "api", Name: "requests_total",
		Help: "REST API requests by route template, method and status code.",
	}, []string{"route", "method", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "nva", Subsystem: "api", Name: "request_duration_seconds",
		Help:    "REST API request latency by route template and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"})
	s.writeStage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "nva", Subsystem: "api", Name: "realized_write_stage_seconds",
		Help:    "Writes with ?wait=realized, by stage: commit (from the request's arrival to the store's answer: decode, admission, Raft commit and apply) and realize (waiting until the NVEs the write affects hold it).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"stage"})
	for _, c := range []prometheus.Collector{
		s.requests, s.latency, s.writeStage,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: registering metrics: %w", err)
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Registry is the server's Prometheus registry (served at /metrics): the
// composition root registers the store's and the southbound's collectors
// on it.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Close ends the open event streams and refuses new ones (503). An
// http.Server's Shutdown waits for active requests, so the owner calls
// Close first: the streams then return promptly. Close does not stop
// other requests.
func (s *Server) Close() { s.closeBase() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	// canonicalPaths cleans paths instead of mux, which would answer a
	// 301 to writes too.
	r.SkipClean(true)
	s.router = r
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newAPIError(http.StatusMethodNotAllowed, wire.CodeMethodNotAllowed, "", "method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	r.Use(routeTemplateMiddleware, s.authorize)

	// Routes are registered on the root router, not a subrouter: gorilla/mux
	// answers 404 instead of 405 for a method mismatch inside a subrouter.
	api := prefixed{r, "/api/v1"}
	api.HandleFunc("/health", s.handleHealth).Methods(http.MethodGet)
	api.HandleFunc("/cluster", s.handleCluster).Methods(http.MethodGet)
	api.HandleFunc("/cluster/join", s.handleJoin).Methods(http.MethodPost)
	api.HandleFunc("/cluster/nodes/{id}", s.handleRemoveNode).Methods(http.MethodDelete)
	api.HandleFunc("/topology", s.handleTopology).Methods(http.MethodGet)
	api.HandleFunc("/events", s.handleEvents).Methods(http.MethodGet)
	api.HandleFunc("/switches/unclaimed", s.handleUnclaimed).Methods(http.MethodGet)
	api.HandleFunc("/nves/{name}/flows", s.handleFlows).Methods(http.MethodGet)
	api.HandleFunc("/batch", s.handleBatch).Methods(http.MethodPost)
	api.HandleFunc("/snapshot", s.handleBackup).Methods(http.MethodGet) // admin only: the whole store (backup.go)
	api.HandleFunc("/traces", s.handleTrace).Methods(http.MethodPost)
	api.HandleFunc("/counters", s.handleCounters).Methods(http.MethodGet)
	api.HandleFunc("/vns/{name}/counters", s.handleVNCounters).Methods(http.MethodGet)
	api.HandleFunc("/ports/{name}/counters", s.handlePortCounters).Methods(http.MethodGet)
	api.HandleFunc("/access-links", s.handleAccessLinks).Methods(http.MethodGet)       // accesslinks.go
	api.HandleFunc("/access-links/{tnve}", s.handleAccessLink).Methods(http.MethodGet) // accesslinks.go
	api.HandleFunc("/learned", s.handleLearned).Methods(http.MethodGet)                // learned.go
	api.HandleFunc("/vns/{name}/learned", s.handleVNLearned).Methods(http.MethodGet)   // learned.go
	api.HandleFunc("/tunnels", s.handleTunnels).Methods(http.MethodGet)                // tunnels.go
	registerResource(s, api, s.vnResource())
	registerResource(s, api, s.nveResource())
	registerResource(s, api, s.portResource())
	registerResource(s, api, s.policyResource())    // policy.go
	registerResource(s, api, s.l3GatewayResource()) // l3gateway.go
	s.authRoutes(api)

	r.Handle("/metrics", s.metricsHandler()).Methods(http.MethodGet) // counters.go: name[] filter, counters demand
	// The web UI (web/ui, embedded) answers every path outside the API,
	// /internal/ and /metrics (GET and HEAD).
	r.MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
		p := req.URL.Path
		return !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/internal/") && p != "/metrics"
	}).Handler(ui.Handler())
	return s.instrument(s.crossSite(canonicalPaths(r)))
}

// canonicalPaths answers a request whose path is not in canonical form
// (//x, /a/../b, /a/./b): a GET or HEAD is redirected to the canonical
// path (301, as gorilla/mux would); any other method gets a 404 naming the
// canonical path, because a client that follows a redirect may resend a
// write as a GET, or to somewhere it did not mean. A trailing slash is
// kept, and matches no API route.
func canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		c := cleanPath(p)
		if c == p {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			u := *r.URL
			u.Path, u.RawPath = c, ""
			http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
			return
		}
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "",
			"no such endpoint: %s %s is not a canonical path (%s is); writes are not redirected", r.Method, p, c))
	})
}

// cleanPath is path.Clean keeping a trailing slash, rooted: gorilla/mux's
// notion of a canonical path.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}

// prefixed registers routes under a path prefix on one router.
type prefixed struct {
	r      *mux.Router
	prefix string
}

func (p prefixed) HandleFunc(path string, f func(http.ResponseWriter, *http.Request)) *mux.Route {
	return p.r.HandleFunc(p.prefix+path, f)
}

type ctxKey int

const (
	keyReqInfo ctxKey = iota
)

// reqInfo is filled in as a request passes through the stack.
type reqInfo struct {
	id    string
	route string
	start time.Time // when the request came in (instrument)
}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(keyReqInfo).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// requestID returns the request's X-Request-ID (given or generated).
func requestID(r *http.Request) string { return infoFrom(r.Context()).id }

func routeTemplateMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				infoFrom(r.Context()).route = t
			}
		}
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// instrument wraps the router with request IDs, panic recovery, metrics and
// debug request logging.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ri := &reqInfo{id: r.Header.Get(wire.RequestIDHeader), start: start}
		rec := &statusRecorder{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), keyReqInfo, ri)
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "request_id", ri.id, "panic", p)
				if rec.status == 0 {
					writeError(rec, newAPIError(http.StatusInternalServerError, wire.CodeInternal, "", "internal error"))
				}
			}
			route := ri.route
			if route == "" {
				route = "unmatched"
			}
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			d := s.now().Sub(start)
			s.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			s.latency.WithLabelValues(route, r.Method).Observe(d.Seconds())
			level := slog.LevelDebug
			if code >= 500 {
				level = slog.LevelWarn
			}
			s.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path, "route", route,
				"status", code, "duration", d, "request_id", ri.id, "remote", r.RemoteAddr)
		}()
		if ri.id == "" {
			ri.id = newRequestID()
		} else if !validRequestID(ri.id) {
			ri.id = newRequestID()
			rec.Header().Set(wire.RequestIDHeader, ri.id)
			writeError(rec, badRequest(wire.RequestIDHeader, "%s must be 1-128 printable ASCII characters without spaces", wire.RequestIDHeader))
			return
		}
		rec.Header().Set(wire.RequestIDHeader, ri.id)
		next.ServeHTTP(rec, r)
	})
}

// unscopedSnapshot reads the store, linearizably with ?consistent=true
// (snapshot scopes it to the request's principal).
func (s *Server) unscopedSnapshot(r *http.Request) (*model.Snapshot, error) {
	c := r.URL.Query().Get("consistent")
	if c == "" {
		return s.be.Snapshot(), nil
	}
	consistent, err := strconv.ParseBool(c)
	if err != nil {
		return nil, badRequest("consistent", "consistent must be true or false, not %q", c)
	}
	if !consistent {
		return s.be.Snapshot(), nil
	}
	return s.be.ConsistentSnapshot(r.Context())
}

// waitOpts parses ?wait= and ?timeout=.
func (s *Server) waitOpts(r *http.Request) (wait bool, timeout time.Duration, err error) {
	q := r.URL.Query()
	switch w := q.Get("wait"); w {
	case "":
	case "realized":
		wait = true
	default:
		return false, 0, badRequest("wait", "wait must be \"realized\", not %q", w)
	}
	timeout = s.waitTimeout
	if t := q.Get("timeout"); t != "" {
		d, perr := time.ParseDuration(t)
		if perr != nil {
			n, nerr := strconv.ParseFloat(t, 64)
			if nerr != nil {
				return false, 0, badRequest("timeout", "timeout must be a duration such as 10s, not %q", t)
			}
			d = time.Duration(n * float64(time.Second))
		}
		if d <= 0 || d > MaxWaitTimeout {
			return false, 0, badRequest("timeout", "timeout must be positive and at most %s", MaxWaitTimeout)
		}
		timeout = d
	}
	return wait, timeout, nil
}

// finishWrite completes a committed write: it sets the revision header,
// waits for realization when asked, and writes the response (body may be
// nil for 204). nves names the NVEs the write affects (see affected); it
// is called only when the request waits for realization, and the NVEs it
// names are the only ones waited for, reported in
// wire.RealizedNVEsHeader.
func (s *Server) finishWrite(w http.ResponseWriter, r *http.Request, wait bool, timeout time.Duration, status int, index uint64, nves func() []string, body any) {
	w.Header().Set(wire.RevisionHeader, strconv.FormatUint(index, 10))
	if wait && s.realizer != nil {
		names := nves()
		if len(names) > 0 {
			w.Header().Set(wire.RealizedNVEsHeader, strings.Join(names, ","))
		}
		if wt := writeTimeout(r.Context()); wt > 0 {
			// The wait may be longer than the server's timeouts allow.
			holdOpen(w, timeout+wt)
		}
		waitStart := s.now()
		if ri := infoFrom(r.Context()); ri != nil && !ri.start.IsZero() {
			s.writeStage.WithLabelValues("commit").Observe(waitStart.Sub(ri.start).Seconds())
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		laggards, err := s.realizer.WaitRealizedFor(ctx, index, names)
		cancel()
		s.writeStage.WithLabelValues("realize").Observe(s.now().Sub(waitStart).Seconds())
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				ae := newAPIError(http.StatusGatewayTimeout, wire.CodeNotRealized, "",
					"the change was committed at revision %d but not realized within %s by: %s",
					index, timeout, strings.Join(laggards, ", "))
				ae.Laggards = laggards
				if ae.Laggards == nil {
					ae.Laggards = []string{}
				}
				writeError(w, ae)
				return
			}
			writeError(w, fmt.Errorf("the change was committed at revision %d; waiting for realization failed: %w", index, err))
			return
		}
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// snapshotBefore is the local snapshot before a write that waits for
// realization (nil when it does not wait): the objects the write replaces
// or deletes are read from it (see affected).
func (s *Server) snapshotBefore(wait bool) *model.Snapshot {
	if !wait || s.realizer == nil {
		return nil
	}
	return s.be.Snapshot()
}
