package store

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
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
	// HTTPClient, if set, replaces the member client (forwarding, join,
	// status probes) that the store builds from RaftTLS; tests only.
	HTTPClient *http.Client

	// Raft timing and snapshot knobs; zero means the raft default.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// Dedup is how long the FSM remembers request IDs (see DedupPolicy;
	// zero fields: the defaults). Every node of a cluster must use the
	// same policy.
	Dedup DedupPolicy
	// OnFatal, if set, is called once, on its own goroutine, when this
	// node's FSM stops for good: a committed command it cannot decode and
	// may not skip (the error is a *FatalError). The node then applies
	// nothing more; the daemon should exit non-zero so that the node is
	// upgraded. Store.Fatal and Store.Err report the same.
	OnFatal func(error)

	// RaftTLS, if set, makes the raft transport mutual TLS: it holds this
	// node's certificate (Certificates) and the cluster CA (RootCAs for
	// dialing, ClientCAs for accepting); peers without a certificate of
	// that CA are not heard. Nil is plain TCP. The member API (member.go)
	// shares the port and the identity.
	RaftTLS *tls.Config
	// MemberToken, if set, is a shared secret every caller of the member
	// API (forwarding, join, remove, status) must present, and this node
	// presents to the others: the authentication of joins when TLS is
	// off. Every member must use the same one.
	MemberToken string
	// Faults, if set, lets a test cut raft connections between members of
	// one process (see Faults). Never set in production.
	Faults *Faults
}

// Store is one node of the replicated store.
type Store struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	trans  raft.Transport
	bolt   *raftboltdb.BoltStore
	client *http.Client // member API client (member.go); nil without a network transport

	stream     *streamLayer // nil with the in-memory transport
	memberHTTP *http.Server

	observer *raft.Observer
	obsCh    chan raft.Observation

	lmu      sync.Mutex
	leaderCh chan struct{} // closed and replaced when the leader changes
	// currentTerm is the term in which this node, as leader, has applied
	// every entry committed before (a barrier of that term completed);
	// catchMu serializes the barriers that establish it (LeaderReady).
	currentTerm atomic.Uint64
	catchMu     sync.Mutex

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	applyLatency prometheus.Histogram
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
		s.closeMembers()
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

// Self returns this node's metadata as configured.
func (s *Store) Self() NodeInfo {
	return NodeInfo{ID: s.cfg.NodeID, APIAddr: s.cfg.APIAddr, RaftAddr: string(s.trans.LocalAddr()), OpenFlowAddr: s.cfg.OpenFlowAddr}
}

// RaftAddr returns the address the raft transport advertises.
func (s *Store) RaftAddr() string { return string(s.trans.LocalAddr()) }

// NodeID returns this node's ID.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// newReqID returns a random request ID for a write that came without one.
func newReqID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
