package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/model"
)

// ErrNoLeader is returned (wrapped with context) when a write or a
// consistent read finds no leader, or no quorum, within Config.ApplyTimeout.
// The REST layer maps it to 503.
var ErrNoLeader = errors.New("no raft leader or no quorum")

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store is closed")

// NodeInfo describes one cluster member (model.Member). The FSM stores it
// without State and Voter; Cluster fills both from Raft.
type NodeInfo = model.Member

// ClusterInfo is the cluster as this node sees it.
type ClusterInfo struct {
	Leader string     `json:"leader"`
	Term   uint64     `json:"term"`
	Nodes  []NodeInfo `json:"nodes"`
}

// Config configures a Store.
type Config struct {
	NodeID       string
	DataDir      string
	RaftAddr     string // bind and advertise address (host:port) of the raft TCP transport; port 0 picks one
	APIAddr      string // this node's advertised REST base URL, e.g. "http://127.0.0.1:8080"
	OpenFlowAddr string // this node's advertised OpenFlow address (stored in node metadata)
	// Bootstrap a new single-voter cluster if there is no raft state yet
	// (no-op when state exists).
	Bootstrap bool
	// InMemory keeps the log, stable and snapshot stores in memory (tests).
	// With RaftAddr == "" the transport is in-memory too. Unless timing
	// knobs are set, an in-memory node uses short raft timeouts (150ms).
	InMemory     bool
	Logger       *slog.Logger
	ApplyTimeout time.Duration // default 5s; also how long a write waits for a leader
	HTTPClient   *http.Client  // for forwarding to the leader

	// Raft timing and snapshot knobs; zero means the raft default.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// DedupSize is how many request IDs the FSM remembers (default 10000).
	// Every node of a cluster must use the same value.
	DedupSize int
}

// Store is one node of the replicated store.
type Store struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	trans  raft.Transport
	bolt   *raftboltdb.BoltStore
	client *http.Client

	observer *raft.Observer
	obsCh    chan raft.Observation

	lmu      sync.Mutex
	leaderCh chan struct{} // closed and replaced when the leader changes
	gate     leaderGate    // LeaderReady's barrier-per-term record

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	applyLatency prometheus.Histogram
}

// Open starts a store node. With Bootstrap and no existing state it forms a
// single-voter cluster; otherwise it recovers its state from DataDir and
// waits to hear from (or to be added by) the leader.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if cfg.NodeID == "" {
		return nil, errors.New("store: node ID is required")
	}
	if !cfg.InMemory && cfg.DataDir == "" {
		return nil, errors.New("store: data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 5 * time.Second
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	s := &Store{
		cfg:      cfg,
		log:      log,
		fsm:      newFSM(log.With("component", "fsm"), cfg.DedupSize),
		client:   cfg.HTTPClient,
		obsCh:    make(chan raft.Observation, 64),
		leaderCh: make(chan struct{}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nva_store_apply_duration_seconds",
			Help:    "Time to commit and apply a write through the raft log (including forwarding to the leader).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		s.client = &http.Client{Transport: tr, Timeout: cfg.ApplyTimeout + 5*time.Second}
	}

	if cfg.InMemory {
		// In-memory stores are for tests and throw-away nodes: elect fast.
		if cfg.HeartbeatTimeout == 0 && cfg.ElectionTimeout == 0 && cfg.LeaderLeaseTimeout == 0 {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
		}
		if cfg.CommitTimeout == 0 {
			cfg.CommitTimeout = 5 * time.Millisecond
		}
		s.cfg = cfg
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = newHCLog(log, "raft")
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if rc.LeaderLeaseTimeout > rc.HeartbeatTimeout {
		rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	}
	if cfg.CommitTimeout > 0 {
		rc.CommitTimeout = cfg.CommitTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if cfg.InMemory {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("store: data dir: %w", err)
		}
		b, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
		if err != nil {
			return nil, fmt.Errorf("store: open raft log %s: %w", filepath.Join(cfg.DataDir, "raft.db"), err)
		}
		s.bolt = b
		cached, err := raft.NewLogCache(512, b)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("store: log cache: %w", err)
		}
		logs, stable = cached, b
		fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, newHCLog(log, "snapshots"))
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("store: snapshot store: %w", err)
		}
		snaps = fss
	}

	if cfg.InMemory && cfg.RaftAddr == "" {
		_, s.trans = raft.NewInmemTransport(raft.ServerAddress("inmem-" + cfg.NodeID + "-" + newReqID()[:8]))
	} else {
		addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("store: raft address %q: %w", cfg.RaftAddr, err)
		}
		var advertise net.Addr = addr
		if addr.Port == 0 {
			advertise = nil // the listener's address, once bound
		}
		t, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, advertise, 3, 10*time.Second, newHCLog(log, "raft-net"))
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("store: raft transport on %s: %w", cfg.RaftAddr, err)
		}
		s.trans = t
	}

	r, err := raft.NewRaft(rc, s.fsm, logs, stable, snaps, s.trans)
	if err != nil {
		s.closeTransport()
		s.closeStores()
		return nil, fmt.Errorf("store: start raft: %w", err)
	}
	s.raft = r
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, stable, snaps)
		if err == nil && !has {
			err = r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
				Suffrage: raft.Voter, ID: rc.LocalID, Address: s.trans.LocalAddr(),
			}}}).Error()
		}
		if err != nil {
			_ = r.Shutdown().Error()
			s.closeTransport()
			s.closeStores()
			return nil, fmt.Errorf("store: bootstrap: %w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.observer = raft.NewObserver(s.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(s.observer)
	s.wg.Add(1)
	go s.run()
	log.Info("store opened", "raft_addr", s.trans.LocalAddr(), "data_dir", cfg.DataDir, "in_memory", cfg.InMemory, "bootstrap", cfg.Bootstrap)
	return s, nil
}

func (s *Store) closeStores() {
	if s.bolt != nil {
		if err := s.bolt.Close(); err != nil {
			s.log.Warn("close raft log", "err", err)
		}
	}
}

func (s *Store) closeTransport() {
	if c, ok := s.trans.(io.Closer); ok {
		_ = c.Close()
	}
}

// Close shuts the node down: raft stops, the transport and the log store are
// closed, and every watch channel is closed. Writes acknowledged before are
// durable in the data directory. Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		s.raft.DeregisterObserver(s.observer)
		if e := s.raft.Shutdown().Error(); e != nil {
			err = fmt.Errorf("store: raft shutdown: %w", e)
		}
		s.wg.Wait()
		s.closeTransport()
		s.closeStores()
		s.fsm.closeWatchers()
		s.log.Info("store closed")
	})
	return err
}

// run follows leadership changes: it wakes waiting writers and keeps this
// node's metadata in the FSM current.
func (s *Store) run() {
	defer s.wg.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.obsCh:
			s.signalLeaderChange()
		case <-tick.C:
		}
		if !s.selfRegistered() {
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ApplyTimeout)
			if err := s.registerSelf(ctx); err != nil && s.ctx.Err() == nil {
				s.log.Debug("recording own node metadata", "err", err)
			}
			cancel()
		}
	}
}

func (s *Store) signalLeaderChange() {
	s.lmu.Lock()
	close(s.leaderCh)
	s.leaderCh = make(chan struct{})
	s.lmu.Unlock()
}

func (s *Store) leaderChanged() <-chan struct{} {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return s.leaderCh
}

// Self returns this node's metadata as configured.
func (s *Store) Self() NodeInfo {
	return NodeInfo{ID: s.cfg.NodeID, APIAddr: s.cfg.APIAddr, RaftAddr: string(s.trans.LocalAddr()), OpenFlowAddr: s.cfg.OpenFlowAddr}
}

// RaftAddr returns the address the raft transport advertises.
func (s *Store) RaftAddr() string { return string(s.trans.LocalAddr()) }

// NodeID returns this node's ID.
func (s *Store) NodeID() string { return s.cfg.NodeID }

func (s *Store) inConfig() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(s.cfg.NodeID) {
			return true
		}
	}
	return false
}

// selfRegistered reports whether there is nothing to record: the FSM holds
// this node's current metadata, or the node is not a member (yet).
func (s *Store) selfRegistered() bool {
	if have, ok := s.fsm.node(s.cfg.NodeID); ok && have == s.Self() {
		return true
	}
	return !s.inConfig()
}

// registerSelf records this node's metadata: directly when leader (the
// bootstrap node records itself this way), otherwise by re-joining through
// the leader (a member whose API address changed across a restart).
func (s *Store) registerSelf(ctx context.Context) error {
	if s.IsLeader() {
		_, err := s.write(ctx, cmdPutNode, cmdBody{Node: ptr(s.Self())})
		return err
	}
	if id, api := s.leaderAPI(); api != "" {
		_, err := s.forwardJSON(ctx, api, pathJoin, s.Self())
		return err
	} else if id == "" {
		return ErrNoLeader
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func newReqID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// IsLeader reports whether this node is the raft leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// AppliedIndex is the raft index of the last command applied to this node's
// state (the revision of Snapshot()).
func (s *Store) AppliedIndex() uint64 { return s.fsm.appliedIndex() }

// WaitApplied blocks until this node has applied index (or ctx ends).
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	for {
		cur, ch := s.fsm.waitChan()
		if cur >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, cur, ctx.Err())
		case <-s.ctx.Done():
			return ErrClosed
		case <-ch:
		}
	}
}

// Snapshot returns the local state: immutable and self-consistent, at
// revision AppliedIndex(). It may lag the leader; see ConsistentSnapshot.
func (s *Store) Snapshot() *model.Snapshot { return s.fsm.snapshot() }

// SnapshotAndWatch returns the local snapshot at revision N and a channel
// carrying every change with index > N, in order, with no gaps. The channel
// is closed when ctx ends or the store closes. A consumer that falls more
// than a few thousand events behind (or a node that installs a snapshot from
// the leader) gets a single Event{Kind: "reset"}, after which the channel is
// closed: call SnapshotAndWatch again and rebuild from the new snapshot.
func (s *Store) SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan Event) {
	return s.fsm.snapshotAndWatch(ctx)
}

// ConsistentSnapshot returns a snapshot that reflects every write
// acknowledged before the call (linearizable read): on the leader after
// VerifyLeader and a Barrier; on a follower after asking the leader for its
// verified applied index (read index) and waiting to apply up to it.
func (s *Store) ConsistentSnapshot(ctx context.Context) (*model.Snapshot, error) {
	var idx uint64
	err := s.withLeader(ctx, "consistent read",
		func(ctx context.Context) error {
			var err error
			idx, err = s.leaderReadIndex(ctx)
			return err
		},
		func(ctx context.Context, api string) error {
			var err error
			idx, err = s.forwardReadIndex(ctx, api)
			return err
		})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	if err := s.WaitApplied(wctx, idx); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return nil, fmt.Errorf("consistent read: %w: not caught up with the leader's index %d within %s", ErrNoLeader, idx, s.cfg.ApplyTimeout)
		}
		return nil, err
	}
	return s.Snapshot(), nil
}

func (s *Store) leaderReadIndex(ctx context.Context) (uint64, error) {
	if !s.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return 0, err
	}
	if err := waitFuture(ctx, s.raft.Barrier(timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
		return 0, err
	}
	return s.fsm.appliedIndex(), nil
}

// errRetry marks an error after which the operation may be retried against
// the (possibly new) leader.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// errMaybeApplied marks a failure after the command reached a leader's log:
// it may still be committed once a quorum is back. Retrying is safe (the
// request ID makes the FSM apply it once).
type errMaybeApplied struct{ err error }

func (e errMaybeApplied) Error() string { return e.err.Error() }
func (e errMaybeApplied) Unwrap() error { return e.err }

func maybeApplied(err error) bool {
	var m errMaybeApplied
	return errors.As(err, &m)
}

func retryable(err error) bool {
	var r errRetry
	return errors.As(err, &r) || maybeApplied(err) ||
		errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, raft.ErrEnqueueTimeout) ||
		errors.Is(err, raft.ErrAbortedByRestore)
}

func timeLeft(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return def
}

// waitFuture waits for a raft future or ctx.
func waitFuture(ctx context.Context, f raft.Future) error {
	ch := make(chan error, 1)
	go func() { ch <- f.Error() }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return errRetry{ctx.Err()}
	}
}

// withLeader runs local (when this node leads) or remote (with the leader's
// API address) until one succeeds, fails for good, or ApplyTimeout passes
// (ErrNoLeader).
func (s *Store) withLeader(ctx context.Context, what string, local func(context.Context) error, remote func(context.Context, string) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	last := errors.New("no leader elected")
	maybe := false
	backoff := 10 * time.Millisecond
	for {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		changed := s.leaderChanged()
		var err error
		if s.IsLeader() {
			err = local(ctx)
		} else if id, api := s.leaderAPI(); api != "" {
			err = remote(ctx, api)
		} else if id != "" {
			err = errRetry{fmt.Errorf("leader %s has no known API address yet", id)}
		} else {
			err = errRetry{errors.New("no leader elected")}
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return ErrClosed
		}
		if !retryable(err) {
			return err
		}
		maybe = maybe || maybeApplied(err)
		if ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		select {
		case <-ctx.Done():
			note := ""
			if maybe {
				note = "; the write reached a leader's log and may still be applied when a quorum is back (retrying with the same request ID is safe)"
			}
			if errors.Is(parent.Err(), context.Canceled) {
				return fmt.Errorf("%s: %w%s", what, parent.Err(), note)
			}
			return fmt.Errorf("%s: %w within %s (last: %v)%s", what, ErrNoLeader, s.cfg.ApplyTimeout, last, note)
		case <-s.ctx.Done():
			return ErrClosed
		case <-changed:
		case <-time.After(backoff):
		}
		if backoff < 200*time.Millisecond {
			backoff *= 2
		}
	}
}

// leaderAPI returns the leader's ID and its API address from node metadata.
func (s *Store) leaderAPI() (id, api string) {
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	n, _ := s.fsm.node(string(lid))
	return string(lid), n.APIAddr
}

// Leader returns the current leader's ID and API address ("" if unknown).
func (s *Store) Leader() (id, apiAddr string) { return s.leaderAPI() }

// propose commits an encoded command through the leader and returns its
// result. Retries after a leader change are safe because the request ID
// makes the FSM apply a command once.
func (s *Store) propose(ctx context.Context, data []byte) (*result, error) {
	start := time.Now()
	var res *result
	err := s.withLeader(ctx, "write",
		func(ctx context.Context) error {
			var err error
			res, err = s.applyAsLeader(ctx, data)
			return err
		},
		func(ctx context.Context, api string) error {
			var err error
			res, err = s.forwardApply(ctx, api, data)
			return err
		})
	if err != nil {
		return nil, err
	}
	if res.Err == nil {
		// Read your writes: a caller that reads this node next sees it.
		s.catchUp(ctx, res.Index)
	}
	s.applyLatency.Observe(time.Since(start).Seconds())
	return res, nil
}

// applyAsLeader appends data to the raft log on this node, which must be
// the leader, and waits for it to be applied. It first verifies leadership
// with a quorum so that a leader cut off from its peers does not append a
// write it cannot commit.
func (s *Store) applyAsLeader(ctx context.Context, data []byte) (*result, error) {
	if !s.IsLeader() {
		return nil, raft.ErrNotLeader
	}
	if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return nil, err
	}
	f := s.raft.Apply(data, timeLeft(ctx, s.cfg.ApplyTimeout))
	if err := waitFuture(ctx, f); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return nil, err
		}
		return nil, errMaybeApplied{fmt.Errorf("commit: %w", err)}
	}
	switch r := f.Response().(type) {
	case *result:
		return r, nil
	case error:
		return nil, r
	case nil:
		return &result{Index: f.Index()}, nil // a skipped (ignorable) command
	default:
		return nil, fmt.Errorf("unexpected apply response %T", r)
	}
}

// write encodes and proposes one command, returning domain errors as
// *model.Error.
func (s *Store) write(ctx context.Context, t cmdType, b cmdBody) (*result, error) {
	if b.ReqID == "" {
		b.ReqID = newReqID()
	}
	data, err := encodeCommand(t, b)
	if err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, data)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res, nil
}

// CreateVN creates a VN; VNI 0 allocates the lowest free VNI.
func (s *Store) CreateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error) {
	if err := precheckVN(vn); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdCreateVN, cmdBody{ReqID: reqID, VN: &vn})
	if err != nil {
		return nil, err
	}
	return res.VN, nil
}

// UpdateVN replaces an existing VN (by name). VNI 0 keeps the current VNI.
func (s *Store) UpdateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error) {
	return s.UpdateVNIf(ctx, reqID, vn, 0)
}

// UpdateVNIf is UpdateVN made conditional: it applies only if the
// stored object's Revision is still expectRev, and otherwise fails with a
// *model.Error of KindConflict on field "revision" (IsRevisionConflict)
// and changes nothing. expectRev 0 is unconditional. The check is made by
// the FSM, so it is atomic with the update on every node.
func (s *Store) UpdateVNIf(ctx context.Context, reqID string, vn model.VN, expectRev uint64) (*model.VN, error) {
	if err := precheckVN(vn); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdUpdateVN, cmdBody{ReqID: reqID, VN: &vn, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	return res.VN, nil
}

// DeleteVN deletes a VN that has no ports; it returns the raft index.
func (s *Store) DeleteVN(ctx context.Context, reqID, name string) (uint64, error) {
	return s.del(ctx, cmdDeleteVN, reqID, name)
}

// CreateNVE creates an NVE; an ovs NVE without datapath_id gets one.
func (s *Store) CreateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	if err := precheckNVE(nve); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdCreateNVE, cmdBody{ReqID: reqID, NVE: &nve})
	if err != nil {
		return nil, err
	}
	return res.NVE, nil
}

// UpdateNVE replaces an existing NVE (by name). An empty datapath_id keeps
// the current one.
func (s *Store) UpdateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	return s.UpdateNVEIf(ctx, reqID, nve, 0)
}

// UpdateNVEIf is UpdateNVE made conditional: it applies only if the
// stored object's Revision is still expectRev, and otherwise fails with a
// *model.Error of KindConflict on field "revision" (IsRevisionConflict)
// and changes nothing. expectRev 0 is unconditional. The check is made by
// the FSM, so it is atomic with the update on every node.
func (s *Store) UpdateNVEIf(ctx context.Context, reqID string, nve model.NVE, expectRev uint64) (*model.NVE, error) {
	if err := precheckNVE(nve); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdUpdateNVE, cmdBody{ReqID: reqID, NVE: &nve, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	return res.NVE, nil
}

// DeleteNVE deletes an NVE that has no ports; it returns the raft index.
func (s *Store) DeleteNVE(ctx context.Context, reqID, name string) (uint64, error) {
	return s.del(ctx, cmdDeleteNVE, reqID, name)
}

// CreatePort attaches a port; its VN and NVE must exist.
func (s *Store) CreatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error) {
	if err := precheckPort(p); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdCreatePort, cmdBody{ReqID: reqID, Port: &p})
	if err != nil {
		return nil, err
	}
	return res.Port, nil
}

// UpdatePort replaces an existing port (by name).
func (s *Store) UpdatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error) {
	return s.UpdatePortIf(ctx, reqID, p, 0)
}

// UpdatePortIf is UpdatePort made conditional: it applies only if the
// stored object's Revision is still expectRev, and otherwise fails with a
// *model.Error of KindConflict on field "revision" (IsRevisionConflict)
// and changes nothing. expectRev 0 is unconditional. The check is made by
// the FSM, so it is atomic with the update on every node.
func (s *Store) UpdatePortIf(ctx context.Context, reqID string, p model.Port, expectRev uint64) (*model.Port, error) {
	if err := precheckPort(p); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdUpdatePort, cmdBody{ReqID: reqID, Port: &p, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	return res.Port, nil
}

// DeletePort deletes a port; it returns the raft index.
func (s *Store) DeletePort(ctx context.Context, reqID, name string) (uint64, error) {
	return s.del(ctx, cmdDeletePort, reqID, name)
}

func (s *Store) del(ctx context.Context, t cmdType, reqID, name string) (uint64, error) {
	if name == "" {
		return 0, model.Errorf(model.KindInvalid, "name", "name is required")
	}
	res, err := s.write(ctx, t, cmdBody{ReqID: reqID, Name: name})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// precheckVN, precheckNVE and precheckPort run the stateless validation on
// a copy before anything is proposed, so bad input costs no log entry. The
// FSM checks again, with the state.
func precheckVN(v model.VN) error {
	v.Defaults()
	return v.Validate()
}

func precheckNVE(n model.NVE) error {
	n.UnderlayIPs = append([]string(nil), n.UnderlayIPs...)
	n.Defaults()
	return n.Validate()
}

func precheckPort(p model.Port) error {
	p.IPs = append([]string(nil), p.IPs...)
	p.Defaults()
	return p.Validate()
}

// --- cluster membership ---

// catchUp waits (at most ApplyTimeout) until this node has applied index, so
// that a caller reading this node right after a forwarded change sees it.
// The change is committed either way; a lagging node only logs.
func (s *Store) catchUp(ctx context.Context, index uint64) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	if err := s.WaitApplied(wctx, index); err != nil {
		s.log.Debug("local state lags a committed change", "index", index, "err", err)
	}
}

// Join adds a node as a voter (on a follower: through the leader) and records
// its metadata. Re-joining with the same ID and raft address only updates the
// metadata; the same ID on a new raft address replaces the old entry.
func (s *Store) Join(ctx context.Context, n NodeInfo) error {
	idx, err := s.join(ctx, n)
	if err == nil {
		s.catchUp(ctx, idx)
	}
	return err
}

func (s *Store) join(ctx context.Context, n NodeInfo) (uint64, error) {
	if n.ID == "" || n.RaftAddr == "" {
		return 0, model.Errorf(model.KindInvalid, "id", "join needs the node's id and raft address")
	}
	var idx uint64
	err := s.withLeader(ctx, "join",
		func(ctx context.Context) (err error) { idx, err = s.joinAsLeader(ctx, n); return err },
		func(ctx context.Context, api string) (err error) {
			idx, err = s.forwardJSON(ctx, api, pathJoin, n)
			return err
		})
	return idx, err
}

// joinAsLeader returns the index of the metadata command.
func (s *Store) joinAsLeader(ctx context.Context, n NodeInfo) (uint64, error) {
	if !s.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return 0, err
	}
	id, addr := raft.ServerID(n.ID), raft.ServerAddress(n.RaftAddr)
	self := s.trans.LocalAddr()
	if (id == raft.ServerID(s.cfg.NodeID)) != (addr == self) {
		return 0, model.Errorf(model.KindConflict, "id", "node %q at %s clashes with the leader (%s at %s)", id, addr, s.cfg.NodeID, self)
	}
	present := false
	for _, srv := range cf.Configuration().Servers {
		switch {
		case srv.ID == id && srv.Address == addr:
			present = srv.Suffrage == raft.Voter
		case srv.ID == id || srv.Address == addr:
			s.log.Info("replacing cluster member with a conflicting entry", "id", srv.ID, "addr", srv.Address)
			if err := waitFuture(ctx, s.raft.RemoveServer(srv.ID, 0, timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
				return 0, fmt.Errorf("remove stale member %s: %w", srv.ID, err)
			}
		}
	}
	if !present {
		if err := waitFuture(ctx, s.raft.AddVoter(id, addr, 0, timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
			return 0, fmt.Errorf("add voter %s at %s: %w", id, addr, err)
		}
		s.log.Info("added voter", "id", id, "raft_addr", addr)
	}
	meta := n
	meta.State, meta.Voter = "", false
	data, err := encodeCommand(cmdPutNode, cmdBody{ReqID: newReqID(), Node: &meta})
	if err != nil {
		return 0, err
	}
	res, err := s.applyAsLeader(ctx, data)
	if err != nil {
		return 0, err
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return res.Index, nil
}

// RemoveNode removes a member (on a follower: through the leader) and drops
// its metadata. Removing an unknown node is a KindNotFound error, except on
// an internal retry after a failure that may have removed it already.
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	idx, err := s.remove(ctx, id)
	if err == nil {
		s.catchUp(ctx, idx)
	}
	return err
}

func (s *Store) remove(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, model.Errorf(model.KindInvalid, "id", "node id is required")
	}
	var idx uint64
	attempts := 0
	err := s.withLeader(ctx, "remove node",
		func(ctx context.Context) (err error) {
			attempts++
			idx, err = s.removeAsLeader(ctx, id)
			return err
		},
		func(ctx context.Context, api string) (err error) {
			attempts++
			idx, err = s.forwardJSON(ctx, api, pathRemove, NodeInfo{ID: id})
			return err
		})
	if attempts > 1 && isNotFound(err) {
		return s.AppliedIndex(), nil // an earlier attempt did it
	}
	return idx, err
}

func isNotFound(err error) bool {
	e, ok := model.AsError(err)
	return ok && e.Kind == model.KindNotFound
}

// removeAsLeader returns the index of the metadata command (or the applied
// index when there was no metadata).
func (s *Store) removeAsLeader(ctx context.Context, id string) (uint64, error) {
	if !s.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return 0, err
	}
	member := false
	for _, srv := range cf.Configuration().Servers {
		if srv.ID == raft.ServerID(id) {
			member = true
		}
	}
	_, known := s.fsm.node(id)
	if !member && !known {
		return 0, model.Errorf(model.KindNotFound, "", "node %q not found", id)
	}
	if member {
		voters := 0
		for _, srv := range cf.Configuration().Servers {
			if srv.Suffrage == raft.Voter && srv.ID != raft.ServerID(id) {
				voters++
			}
		}
		if voters == 0 {
			return 0, model.Errorf(model.KindConflict, "id", "node %q is the last voter; removing it would destroy the cluster", id)
		}
	}
	idx := s.AppliedIndex()
	if known {
		// Metadata first: a leader removing itself cannot write afterwards.
		data, err := encodeCommand(cmdRemoveNode, cmdBody{ReqID: newReqID(), Name: id})
		if err != nil {
			return 0, err
		}
		res, err := s.applyAsLeader(ctx, data)
		if err != nil {
			return 0, err
		}
		idx = res.Index
	}
	if member {
		if err := waitFuture(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
			return 0, fmt.Errorf("remove server %s: %w", id, err)
		}
		s.log.Info("removed cluster member", "id", id)
	}
	return idx, nil
}

func raftStateName(st raft.RaftState) string {
	switch st {
	case raft.Leader, raft.Follower, raft.Candidate:
		return strings.ToLower(st.String())
	}
	return "unknown"
}

// Cluster describes the members from the raft configuration and the node
// metadata. Other members' states come from a short status probe of their
// API address ("unreachable" when it fails, "unknown" without an address).
func (s *Store) Cluster(ctx context.Context) (ClusterInfo, error) {
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return ClusterInfo{}, fmt.Errorf("cluster: %w", err)
	}
	_, lid := s.raft.LeaderWithID()
	meta := s.fsm.nodes()
	info := ClusterInfo{Leader: string(lid), Term: s.raft.CurrentTerm()}
	servers := cf.Configuration().Servers
	info.Nodes = make([]NodeInfo, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		n, ok := meta[string(srv.ID)]
		if !ok {
			n = NodeInfo{ID: string(srv.ID)}
		}
		n.RaftAddr = string(srv.Address)
		n.Voter = srv.Suffrage == raft.Voter
		info.Nodes[i] = n
		switch {
		case n.ID == s.cfg.NodeID:
			info.Nodes[i].State = raftStateName(s.raft.State())
		case n.APIAddr == "":
			info.Nodes[i].State = "unknown"
		default:
			wg.Add(1)
			go func(i int, api string) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				st, err := s.probeStatus(pctx, api)
				if err != nil {
					info.Nodes[i].State = "unreachable"
					return
				}
				info.Nodes[i].State = st.State
			}(i, n.APIAddr)
		}
	}
	wg.Wait()
	sort.Slice(info.Nodes, func(i, j int) bool { return info.Nodes[i].ID < info.Nodes[j].ID })
	return info, nil
}
