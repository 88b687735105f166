package vtep

import (
	"context"
	"crypto/tls"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nva-project/nva/app/model"
)

// Source is the store as the Syncer follows it.
type Source interface {
	Snapshot() *model.Snapshot
	SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change)
	// LeaderReady reports whether this node leads and has applied
	// everything committed before its term.
	LeaderReady(ctx context.Context) (term uint64, ready bool, err error)
}

// Syncer keeps every vtep NVE's database in line with the store. Like the
// OVSDB management of hypervisors, only the Raft leader (once its store
// has caught up) manages the VTEPs: it opens a Manager and hands it each
// VTEP's desired state when that changes; a node that loses leadership
// closes it, leaving the VTEPs as they are. A VTEP whose NVE is deleted
// (or changes kind) has nva's configuration removed. Every store change
// derives every VTEP's desired state again (a VTEP's share of the domain
// is its VNs' ports; there are few VTEPs), and only a changed one is
// handed on.
type Syncer struct {
	newManager func() *Manager
	// tlsFor makes the TLS configuration of an ssl: endpoint (nil: none).
	tlsFor func(*model.NVE) *tls.Config
	log    *slog.Logger
	tick   time.Duration

	mu      sync.Mutex
	m       *Manager // nil while not leading
	applied map[string]Desired
	wg      sync.WaitGroup
}

// NewSyncer returns a Syncer that opens managers with newManager; tlsFor
// makes the TLS configuration of a VTEP's ssl: endpoint (nil: none).
func NewSyncer(newManager func() *Manager, tlsFor func(*model.NVE) *tls.Config, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{newManager: newManager, tlsFor: tlsFor, log: log, tick: time.Second, applied: map[string]Desired{}}
}

// Start follows src until ctx ends; it does not block.
func (s *Syncer) Start(ctx context.Context, src Source) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, src)
		s.mu.Lock()
		if s.m != nil {
			s.m.Close()
			s.m = nil
		}
		s.mu.Unlock()
	}()
	return nil
}

// Close waits until the follow loop has ended (after Start's ctx is
// canceled).
func (s *Syncer) Close() error { s.wg.Wait(); return nil }

func (s *Syncer) run(ctx context.Context, src Source) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for ctx.Err() == nil {
		_, events := src.SnapshotAndWatch(ctx)
		s.apply(ctx, src)
	follow:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C: // leadership changes arrive with no event
				s.apply(ctx, src)
			case ev, ok := <-events:
				if !ok || ev.Kind == model.ChangeReset {
					break follow
				}
				for more := true; more; { // take what else is queued into one pass
					select {
					case ev, ok := <-events:
						if !ok || ev.Kind == model.ChangeReset {
							break follow
						}
					default:
						more = false
					}
				}
				s.apply(ctx, src)
			}
		}
	}
}

func (s *Syncer) apply(ctx context.Context, src Source) {
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, ready, err := src.LeaderReady(bctx)
	cancel()
	s.mu.Lock()
	if err != nil || !ready {
		m := s.m
		s.m, s.applied = nil, map[string]Desired{}
		s.mu.Unlock()
		if m != nil {
			s.log.Info("no longer the leader: leaving the VTEPs to the new leader")
			m.Close()
		}
		return
	}
	snap := src.Snapshot()
	for _, nve := range snap.SortedNVEs() {
		d, ok := FromSnapshot(snap, nve.Name)
		if !ok {
			continue
		}
		if s.m == nil {
			s.log.Info("leader: managing the VTEPs", "revision", snap.Revision)
			s.m = s.newManager()
		}
		if old, ok := s.applied[nve.Name]; ok && old.Equal(d) {
			continue
		}
		s.applied[nve.Name] = d
		if s.tlsFor != nil && strings.HasPrefix(d.Endpoint, "ssl:") {
			d.TLS = s.tlsFor(nve)
		}
		s.m.Sync(d)
	}
	var gone []string
	for _, name := range slices.Sorted(maps.Keys(s.applied)) {
		if n := snap.NVEs[name]; n == nil || n.Kind != model.NVEVTEP {
			gone = append(gone, name)
			delete(s.applied, name)
		}
	}
	m := s.m
	s.mu.Unlock()
	// Removing waits for the VTEP's session: status readers must not.
	for _, name := range gone {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.Remove(rctx, name); err != nil {
			s.log.Warn("VTEP removed from nva but its configuration was not", "nve", name, "err", err)
		}
		cancel()
	}
}

// Status returns a VTEP's management status as the NVE status shows it
// (nil, nil when this node does not manage it: not leading, or no such
// VTEP).
func (s *Syncer) Status(nve string) (*model.OVSDBStatus, *model.VTEPStatus) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		return nil, nil
	}
	st, ok := m.Status(nve)
	if !ok {
		return nil, nil
	}
	o := &model.OVSDBStatus{Connected: st.Connected, BridgeReady: st.InSync && st.LastError == "", LastError: st.LastError}
	v := &model.VTEPStatus{InSync: st.InSync && st.LastError == "", Warnings: st.Warnings}
	for _, l := range st.Learned {
		v.Learned = append(v.Learned, model.VTEPLearned{VN: l.VN, MAC: l.MAC, IP: l.IP})
	}
	return o, v
}
