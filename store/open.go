package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Open starts a store node. With Bootstrap and no existing state it forms a
// single-voter cluster; otherwise it recovers its state from DataDir and
// waits to hear from (or to be added by) the leader.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := newStore(cfg)
	stores, err := s.openStores()
	if err != nil {
		return nil, err
	}
	if err := s.openTransport(); err != nil {
		s.closeStores()
		return nil, err
	}
	rc := raftConfig(cfg, s.log)
	s.raft, err = raft.NewRaft(rc, s.fsm, stores.logs, stores.stable, stores.snaps, s.trans)
	if err != nil {
		s.closeTransport()
		s.closeStores()
		return nil, fmt.Errorf("store: start raft: %w", err)
	}
	if s.stream != nil {
		s.serveMembers(s.stream)
	}
	if cfg.Bootstrap {
		if err := s.bootstrap(stores); err != nil {
			_ = s.raft.Shutdown().Error()
			s.closeTransport()
			s.closeStores()
			return nil, fmt.Errorf("store: bootstrap: %w", err)
		}
	}
	s.electIfAlone(rc)
	s.start()
	s.log.Info("store opened", "raft_addr", s.trans.LocalAddr(), "data_dir", cfg.DataDir, "in_memory", cfg.InMemory, "bootstrap", cfg.Bootstrap)
	return s, nil
}

// electIfAlone has raft start its election at once when this node is the
// only voter of its configuration (a single-node cluster restarting, or one
// just bootstrapped): nobody else can lead it or send it a heartbeat, so
// raft's wait of a heartbeat timeout first (1 to 2 s by default) would only
// delay the node's start, and with it a restart's reconnecting switches.
// Raft has no call for that; lowering the heartbeat timeout at run time
// (ReloadConfig) makes its follower loop time out at once, and the timeout
// is restored right after. Any other configuration is left to raft's
// timers: there a wait for the current leader's heartbeat is the point.
func (s *Store) electIfAlone(rc *raft.Config) {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	voters, self := 0, false
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
			self = self || srv.ID == rc.LocalID
		}
	}
	if voters != 1 || !self || rc.LeaderLeaseTimeout >= rc.HeartbeatTimeout {
		return // raft refuses a heartbeat timeout below the lease
	}
	normal := s.raft.ReloadableConfig()
	fast := normal
	fast.HeartbeatTimeout = rc.LeaderLeaseTimeout
	if err := s.raft.ReloadConfig(fast); err != nil {
		s.log.Debug("immediate election of a single voter", "err", err)
		return
	}
	if err := s.raft.ReloadConfig(normal); err != nil {
		s.log.Warn("restoring raft's heartbeat timeout", "err", err)
		return
	}
	s.log.Info("the only voter of its cluster: electing itself at once")
}

// withDefaults checks cfg and fills what it leaves open.
func withDefaults(cfg Config) (Config, error) {
	if cfg.NodeID == "" {
		return cfg, errors.New("store: node ID is required")
	}
	if !cfg.InMemory && cfg.DataDir == "" {
		return cfg, errors.New("store: data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 5 * time.Second
	}
	if cfg.InMemory {
		// In-memory stores are for tests and throw-away nodes: elect fast.
		if cfg.HeartbeatTimeout == 0 && cfg.ElectionTimeout == 0 && cfg.LeaderLeaseTimeout == 0 {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
		}
		if cfg.CommitTimeout == 0 {
			cfg.CommitTimeout = 5 * time.Millisecond
		}
	}
	return cfg, nil
}

// newStore builds the node around its FSM; nothing is opened yet.
func newStore(cfg Config) *Store {
	log := cfg.Logger.With("node", cfg.NodeID)
	s := &Store{
		cfg:      cfg,
		log:      log,
		fsm:      newFSM(log.With("component", "fsm"), cfg.Dedup),
		client:   cfg.HTTPClient,
		obsCh:    make(chan raft.Observation, 64),
		leaderCh: make(chan struct{}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nva_store_apply_duration_seconds",
			Help:    "Time to commit and apply a write through the raft log (including forwarding to the leader).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	s.fsm.onFatal = cfg.OnFatal
	return s
}

// raftConfig is the raft configuration for cfg; zero knobs keep raft's
// defaults.
func raftConfig(cfg Config, log *slog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = newHCLog(log, "raft")
	setIf := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setIf(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setIf(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setIf(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	if rc.LeaderLeaseTimeout > rc.HeartbeatTimeout {
		rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	}
	setIf(&rc.CommitTimeout, cfg.CommitTimeout)
	setIf(&rc.SnapshotInterval, cfg.SnapshotInterval)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	return rc
}

// raftStores are the log, stable and snapshot stores raft runs on.
type raftStores struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
}

// openStores opens the stores: in memory, or raft-boltdb (raft.db) and
// file snapshots in the data directory.
func (s *Store) openStores() (raftStores, error) {
	cfg := s.cfg
	if cfg.InMemory {
		mem := raft.NewInmemStore()
		return raftStores{logs: mem, stable: mem, snaps: raft.NewInmemSnapshotStore()}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return raftStores{}, fmt.Errorf("store: data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "raft.db")
	b, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return raftStores{}, fmt.Errorf("store: open raft log %s: %w", path, err)
	}
	s.bolt = b
	cached, err := raft.NewLogCache(512, b)
	if err != nil {
		s.closeStores()
		return raftStores{}, fmt.Errorf("store: log cache: %w", err)
	}
	fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, newHCLog(s.log, "snapshots"))
	if err != nil {
		s.closeStores()
		return raftStores{}, fmt.Errorf("store: snapshot store: %w", err)
	}
	return raftStores{logs: cached, stable: b, snaps: fss}, nil
}

// openTransport starts the raft transport: in memory for an in-memory node
// without RaftAddr, TCP otherwise (port 0 advertises the bound port).
func (s *Store) openTransport() error {
	cfg := s.cfg
	if cfg.InMemory && cfg.RaftAddr == "" {
		_, s.trans = raft.NewInmemTransport(raft.ServerAddress("inmem-" + cfg.NodeID + "-" + newReqID()[:8]))
		return nil
	}
	addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("store: raft address %q: %w", cfg.RaftAddr, err)
	}
	var advertise net.Addr = addr
	if addr.Port == 0 {
		advertise = nil // the listener's address, once bound
	}
	stream, err := newStreamLayer(cfg.RaftAddr, advertise, cfg.RaftTLS, cfg.Faults)
	if err != nil {
		return fmt.Errorf("store: raft transport on %s: %w", cfg.RaftAddr, err)
	}
	s.stream = stream
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: newHCLog(s.log, "raft-net"),
	})
	return nil
}

// bootstrap forms a single-voter cluster of this node, unless the stores
// already hold raft state.
func (s *Store) bootstrap(st raftStores) error {
	has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
	if err != nil || has {
		return err
	}
	return s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(s.cfg.NodeID), Address: s.trans.LocalAddr(),
	}}}).Error()
}

// start watches raft's leadership observations and runs the node's loop.
func (s *Store) start() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.observer = raft.NewObserver(s.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	s.raft.RegisterObserver(s.observer)
	s.wg.Add(2)
	go s.run()
	go s.promoteLoop()
}
