package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
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
	// HTTPClient reads a --join URL's cluster view (a client trusting the
	// cluster CA if nil). Members reach each other with the store's own
	// client.
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

	nodeTLS *tls.Config // the node's TLS identity (Settings.NodeTLS), nil when off

	debugLn   net.Listener // --debug-addr, nil when off
	debugHTTP *http.Server

	cancel   context.CancelFunc
	sb       *Southbound
	serveErr chan error
	joined   chan struct{}
	wg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	apiToken string // --token-file's token, sent with the join requests
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
	if d.apiToken, err = readTokenFile(cfg.TokenFile); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if d.nodeTLS, err = cfg.NodeTLS(); err != nil {
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
		if node, err := cfg.NodeTLS(); err == nil && node != nil {
			cfg.HTTPClient.Transport = &http.Transport{TLSClientConfig: node, TLSHandshakeTimeout: 10 * time.Second}
		}
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
		d.apiURL = d.cfg.apiScheme() + "://" + advertiseHostPort(ln.Addr().String(), "")
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
		// Raft and the member API: mutual TLS with the node identity,
		// and the join token (cluster.go).
		RaftTLS:     d.nodeTLS,
		MemberToken: cfg.JoinToken,
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
	if tc := apiTLS(d.nodeTLS); tc != nil {
		d.http.TLSConfig = tc
		ln = tls.NewListener(ln, tc) // HTTPS with the node certificate (cluster.go)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.serveErr <- err
		}
	}()
}

// startSouthbound builds and starts the southbound (when configured) and
// the REST server wired to it and to the store.
func (d *Daemon) startSouthbound(ctx context.Context) (*web.Server, error) {
	// The member API is served by the store on the cluster port, never
	// on the REST listener (cluster.go).
	opts := web.Options{Backend: d.st, Backup: d.st, NodeID: d.cfg.NodeID, Logger: d.log.With("component", "api"),
		Auth: d.authOptions(), OVSDBAllow: d.cfg.OVSDBPolicy()}
	opts.Learned = d.st       // learned endpoints' conflicts (learned.go)
	opts.Tracer = newTracer() // OAM: simulated traces (oam.go)
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
		opts.Counters = sb.Counters
		opts.LiveTracer = sb.LiveTracer
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
