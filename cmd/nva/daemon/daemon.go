package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
	"github.com/nva-project/nva/web/wire"
)

// Config is everything Start needs: the operator's Settings plus what only
// code can provide.
type Config struct {
	Settings

	// Logger defaults to a text logger on stderr at Settings.LogLevel.
	Logger *slog.Logger
	// Southbound builds what programs the NVEs once the store is open
	// (OpenFlowAndOVSDB in production); nil runs the store and the REST
	// API alone.
	Southbound NewSouthbound
	// ApplyTimeout bounds one Raft apply (the store's default if zero).
	ApplyTimeout time.Duration
	// HTTPClient is used to join a cluster and by the store to reach
	// other members (http.DefaultClient-like if nil).
	HTTPClient *http.Client
	// InMemory keeps Raft state in memory (tests only; nothing survives
	// Close).
	InMemory bool
	// ShutdownTimeout bounds the graceful HTTP shutdown (5s if zero).
	ShutdownTimeout time.Duration
}

// Daemon is a running nva node.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	st     *store.Store
	web    *web.Server
	http   *http.Server
	ln     net.Listener
	apiURL string

	debugLn   net.Listener // --debug-addr, nil when off
	debugHTTP *http.Server

	cancel   context.CancelFunc
	sb       *Southbound
	serveErr chan error
	joined   chan struct{}
	wg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	joinToken string // --token-file's token, sent with the join requests
}

// Run starts the daemon and serves until ctx is canceled (SIGINT/SIGTERM in
// cmd/nva), the API server fails, or the store's state machine stops for
// good (a committed command this binary cannot decode: upgrade the node),
// then shuts down gracefully; the last two return an error (exit 1).
func Run(ctx context.Context, cfg Config) error {
	d, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	runErr := waitForStop(ctx, d.log, d.serveErr, d.st.Fatal(), d.st.Err)
	return errors.Join(runErr, d.Close())
}

// waitForStop blocks until the daemon must stop: ctx canceled (nil), the
// API server failed, or the store halted (fatalErr says why); the last two
// are errors.
func waitForStop(ctx context.Context, log *slog.Logger, serveErr <-chan error, fatal <-chan struct{}, fatalErr func() error) error {
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
		return nil
	case err := <-serveErr:
		log.Error("REST API server failed", "err", err)
		return err
	case <-fatal:
		err := fatalErr()
		log.Error("the store stopped applying the Raft log; this node must be upgraded", "err", err)
		return err
	}
}

// raftLogFile is the store's Raft log inside the data dir. Should the
// store rename it, auto-bootstrap would be attempted on every start, which
// is harmless: the store ignores Bootstrap when Raft state exists.
const raftLogFile = "raft.db"

// hasState reports whether dir holds a Raft log from an earlier run. A node
// started with --join that was never added also has one, so restarting it
// without --join does not found a second cluster.
func hasState(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, raftLogFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("data dir: %w", err)
	}
	return true, nil
}

// Start opens the store, starts the southbound components and serves the
// REST API (and, with Settings.DebugAddr, the profiling endpoints); with
// Settings.Join it joins the cluster in the background. ctx bounds only
// the start-up; stop the daemon with Close.
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	cfg, err := cfg.complete()
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, serveErr: make(chan error, 1), joined: make(chan struct{})}
	if d.joinToken, err = readTokenFile(cfg.TokenFile); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	for _, w := range cfg.Warnings() {
		d.log.Warn(w)
	}
	bootstrap, err := d.shouldBootstrap()
	if err != nil {
		return nil, err
	}
	if err := d.listen(); err != nil {
		return nil, err
	}
	if err := d.openStore(ctx, bootstrap); err != nil {
		d.Close()
		return nil, err
	}
	compCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	srv, err := d.startSouthbound(compCtx)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.serveAPI(srv)
	d.serveDebug()
	d.log.Info("nva started", "node_id", cfg.NodeID, "api", d.apiURL, "raft", cfg.RaftAddr,
		"openflow", cfg.OpenFlowAdvertise, "data_dir", cfg.DataDir, "bootstrap", bootstrap, "debug", d.DebugAddr())
	d.startJoin(compCtx)
	d.startTokenBootstrap(compCtx)
	return d, nil
}

// complete validates the settings and fills what the caller left zero.
func (cfg Config) complete() (Config, error) {
	if err := cfg.Settings.Complete(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if cfg.Logger == nil {
		l, err := NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
		if err != nil {
			return cfg, err
		}
		cfg.Logger = l
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	return cfg, nil
}

// shouldBootstrap decides whether this node founds a cluster: when told
// to, and in the embedded default, a brand-new node with nowhere to join.
func (d *Daemon) shouldBootstrap() (bool, error) {
	if d.cfg.Bootstrap {
		return true, nil
	}
	if len(d.cfg.JoinURLs()) > 0 {
		return false, nil
	}
	existing, err := hasState(d.cfg.DataDir)
	if err != nil {
		return false, err
	}
	return !existing || d.cfg.InMemory, nil
}

// listen binds the REST API and, when configured, the debug listener, so
// a busy port fails the start before the store is opened; it fixes the
// advertised API URL when the port was ephemeral.
func (d *Daemon) listen() error {
	ln, err := net.Listen("tcp", d.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("REST API listener: %w", err)
	}
	d.ln = ln
	d.apiURL = d.cfg.APIAdvertise
	if d.apiURL == "" {
		d.apiURL = "http://" + advertiseHostPort(ln.Addr().String(), "")
		d.cfg.APIAdvertise = d.apiURL
	}
	if d.cfg.DebugAddr != "" {
		dl, err := net.Listen("tcp", d.cfg.DebugAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--debug-addr listener: %w", err)
		}
		d.debugLn = dl
	}
	return nil
}

// openStore creates the data dir (unless in memory) and opens the store.
func (d *Daemon) openStore(ctx context.Context, bootstrap bool) error {
	cfg := d.cfg
	if !cfg.InMemory {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	st, err := store.Open(ctx, store.Config{
		NodeID:       cfg.NodeID,
		DataDir:      cfg.DataDir,
		RaftAddr:     cfg.RaftAddr,
		APIAddr:      d.apiURL,
		OpenFlowAddr: cfg.OpenFlowAdvertise,
		Bootstrap:    bootstrap,
		InMemory:     cfg.InMemory,
		Logger:       cfg.Logger,
		ApplyTimeout: cfg.ApplyTimeout,
		HTTPClient:   cfg.HTTPClient,
	})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	d.st = st
	return nil
}

// serveAPI serves the REST server on the API listener until Close.
func (d *Daemon) serveAPI(srv *web.Server) {
	d.web = srv
	d.http = web.NewHTTPServer(srv, web.HTTPOptions{ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)})
	ln := web.LimitListener(d.ln, d.cfg.MaxConns())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.serveErr <- err
		}
	}()
}

// startJoin asks the members given by --join to add this node, in the
// background; Joined is closed at once when there is nothing to join.
func (d *Daemon) startJoin(ctx context.Context) {
	urls := d.cfg.JoinURLs()
	if len(urls) == 0 {
		close(d.joined)
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.joinLoop(ctx, urls)
	}()
}

// startSouthbound builds and starts the southbound (when configured) and
// the REST server wired to it and to the store.
func (d *Daemon) startSouthbound(ctx context.Context) (*web.Server, error) {
	opts := web.Options{Backend: d.st, Internal: d.st.InternalHandler(), NodeID: d.cfg.NodeID, Logger: d.log.With("component", "api"),
		Auth: d.authOptions(), OVSDBAllow: d.cfg.OVSDBPolicy()}
	if d.cfg.Southbound != nil {
		sb, err := d.cfg.Southbound(d.st, d.cfg.Settings, d.log)
		if err != nil {
			return nil, fmt.Errorf("building the southbound: %w", err)
		}
		if sb.Start != nil {
			if err := sb.Start(ctx); err != nil {
				return nil, fmt.Errorf("starting the southbound: %w", err)
			}
		}
		d.sb = sb
		opts.Realizer, opts.FlowReporter, opts.StatusReporter, opts.SwitchReporter = sb.Realizer, sb.Flows, sb.Status, sb.Switches
		opts.StatusNotifier = sb.Notifier
	}
	srv, err := web.New(opts)
	if err != nil {
		return nil, err
	}
	if err := d.st.RegisterMetrics(srv.Registry()); err != nil {
		return nil, fmt.Errorf("registering the store's metrics: %w", err)
	}
	if d.sb != nil && d.sb.Metrics != nil {
		if err := d.sb.Metrics(srv.Registry()); err != nil {
			return nil, fmt.Errorf("registering the southbound's metrics: %w", err)
		}
	}
	return srv, nil
}

// APIURL is the base URL of this node's REST API (the advertised one).
func (d *Daemon) APIURL() string { return d.apiURL }

// Store is the node's store.
func (d *Daemon) Store() *store.Store { return d.st }

// Web is the node's REST server.
func (d *Daemon) Web() *web.Server { return d.web }

// Joined is closed once the node has been accepted into the cluster given
// by Settings.Join (immediately when there is nothing to join).
func (d *Daemon) Joined() <-chan struct{} { return d.joined }

// Close stops the API server gracefully, stops the components and closes
// the store. It is safe to call more than once.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.web != nil {
			// Ends the open event streams, which Shutdown would wait for.
			d.web.Close()
		}
		if d.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
			if err := d.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("REST API shutdown: %w", err))
				d.http.Close()
			}
			cancel()
		} else if d.ln != nil {
			d.ln.Close()
		}
		if d.debugHTTP != nil {
			d.debugHTTP.Close()
		} else if d.debugLn != nil {
			d.debugLn.Close()
		}
		if d.cancel != nil {
			d.cancel()
		}
		if d.sb != nil && d.sb.Close != nil {
			if err := d.sb.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing the southbound: %w", err))
			}
		}
		d.wg.Wait()
		if d.st != nil {
			if err := d.st.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing store: %w", err))
			}
		}
		d.closeErr = errors.Join(errs...)
		d.log.Info("nva stopped", "node_id", d.cfg.NodeID)
	})
	return d.closeErr
}

// joinLoop asks a member to add this node as a voter, trying each URL in
// turn with exponential backoff until one accepts or ctx ends.
func (d *Daemon) joinLoop(ctx context.Context, urls []string) {
	me := wire.ClusterNode{ID: d.cfg.NodeID, APIAddr: d.apiURL, RaftAddr: d.cfg.RaftAddr, OpenFlowAddr: d.cfg.OpenFlowAdvertise}
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		for _, u := range urls {
			err := d.joinOnce(ctx, u, me)
			if err == nil {
				d.log.Info("joined cluster", "via", u, "attempt", attempt)
				close(d.joined)
				return
			}
			var perm permanentError
			if errors.As(err, &perm) {
				d.log.Error("cluster refused to add this node; not retrying", "via", u, "err", err)
				return
			}
			d.log.Warn("join failed; will retry", "via", u, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 10*time.Second {
			backoff = 10 * time.Second
		}
	}
}

type permanentError struct{ error }

func (d *Daemon) joinOnce(ctx context.Context, base string, me wire.ClusterNode) error {
	// Already a member with the same Raft address (a restart)? Then there
	// is nothing to ask for.
	if cv, err := d.getCluster(ctx, base); err == nil {
		for _, n := range cv.Nodes {
			if n.ID == me.ID && n.RaftAddr == me.RaftAddr {
				return nil
			}
		}
	}
	body, _ := json.Marshal(me)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/cluster/join", bytes.NewReader(body))
	if err != nil {
		return permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	d.authorizeRequest(req)
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("POST %s/api/v1/cluster/join: %s: %s", base, resp.Status, bytes.TrimSpace(b))
	if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity {
		return permanentError{err}
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return permanentError{fmt.Errorf("%w (the members require an admin token: --token-file)", err)}
	}
	return err
}

func (d *Daemon) getCluster(ctx context.Context, base string) (*wire.ClusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/cluster", nil)
	if err != nil {
		return nil, err
	}
	d.authorizeRequest(req)
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET cluster: %s", resp.Status)
	}
	var cv wire.ClusterView
	if err := json.NewDecoder(resp.Body).Decode(&cv); err != nil {
		return nil, err
	}
	return &cv, nil
}
