package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Backup and restore (issue 13, item 8). A backup is the FSM's snapshot
// stream (the format raft snapshots use, snapshot.go) taken after a
// linearizable read: it holds every write acknowledged before it was
// asked for. It is restored into a new cluster, never into a live one: a
// fresh data directory gets a raft snapshot of the backup with this node
// as the only voter, so the node starts as a one-node cluster with every
// object at its revision and later writes continue above them; other
// nodes then join it.

// WriteBackup writes a consistent backup of the store to w and returns
// its revision. It needs a leader (ErrNoLeader without a quorum).
func (s *Store) WriteBackup(ctx context.Context, w io.Writer) (uint64, error) {
	if _, err := s.ConsistentSnapshot(ctx); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	snap, err := s.fsm.Snapshot()
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	fs, ok := snap.(*fsmSnapshot)
	if !ok {
		return 0, fmt.Errorf("backup: unexpected snapshot type %T", snap)
	}
	if err := fs.write(w); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return fs.revision, nil
}

// RestoreConfig names the node a backup is restored into.
type RestoreConfig struct {
	NodeID   string
	DataDir  string // must hold no raft state
	RaftAddr string // the --raft-addr the node will run with
}

// RestoreBackup checks a backup read from r and writes it into
// cfg.DataDir as the raft state of a new single-voter cluster of
// cfg.NodeID; it returns the backup's revision. The old cluster's member
// metadata is left out (the new node records its own when it starts).
// A data directory with raft state is refused.
func RestoreBackup(cfg RestoreConfig, r io.Reader) (uint64, error) {
	if cfg.NodeID == "" || cfg.DataDir == "" || cfg.RaftAddr == "" {
		return 0, errors.New("restore: node ID, data directory and raft address are required")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, fmt.Errorf("restore: read backup: %w", err)
	}
	if _, _, _, err := readSnapshot(bytes.NewReader(data), DedupPolicy{}); err != nil {
		return 0, fmt.Errorf("restore: not a valid backup: %w", err)
	}
	filtered, rev, err := withoutMembers(data)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return 0, fmt.Errorf("restore: data dir: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return 0, fmt.Errorf("restore: open raft log: %w", err)
	}
	defer bolt.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, newHCLog(slog.New(slog.DiscardHandler), "snapshots"))
	if err != nil {
		return 0, fmt.Errorf("restore: snapshot store: %w", err)
	}
	has, err := raft.HasExistingState(bolt, bolt, snaps)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if has {
		return 0, fmt.Errorf("restore: %s already holds raft state; restore into an empty data directory (a new cluster)", cfg.DataDir)
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.RaftAddr)}}}
	_, trans := raft.NewInmemTransport("")
	// The snapshot's index is the backup's revision, so that the objects'
	// revisions stay below every later write's; term 1 starts the new
	// cluster's history.
	index := max(rev, 1)
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return 0, fmt.Errorf("restore: create snapshot: %w", err)
	}
	if _, err := sink.Write(filtered); err != nil {
		_ = sink.Cancel()
		return 0, fmt.Errorf("restore: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return 0, fmt.Errorf("restore: write snapshot: %w", err)
	}
	if err := bolt.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return rev, nil
}

// withoutMembers re-encodes a snapshot stream without its node records.
func withoutMembers(data []byte) ([]byte, uint64, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	var rev uint64
	for {
		var rec snapRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, 0, fmt.Errorf("backup record: %w", err)
		}
		if rec.Format != 0 {
			rev = rec.Revision
		}
		if rec.Node != nil {
			continue
		}
		if err := enc.Encode(&rec); err != nil {
			return nil, 0, err
		}
		if rec.End {
			return out.Bytes(), rev, nil
		}
	}
}
