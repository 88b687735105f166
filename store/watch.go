package store

import (
	"context"

	"github.com/nva-project/nva/app/model"
)

// Event kinds and operations (the model's change kinds).
const (
	KindVN    = model.ChangeVN
	KindNVE   = model.ChangeNVE
	KindPort  = model.ChangePort
	KindNode  = model.ChangeNode
	KindReset = model.ChangeReset

	OpPut    = model.OpPut
	OpDelete = model.OpDelete
)

// Event is one change of the replicated state: a model.Change, which is
// what consumers outside the store (southbound, OVSDB sync, events stream)
// see without importing the store.
type Event = model.Change

// watchBuffer is how many events a watcher may fall behind before it gets a
// reset. A batch publishes one event per item at once, so it holds the
// largest batch (MaxBatchItems) with room to spare.
const watchBuffer = 4096 + MaxBatchItems

type watcher struct {
	ch   chan Event
	done chan struct{} // closed when the watcher is removed
}

// hub fans events out to watchers. All its methods run under fsm.mu (write
// lock), which is what makes snapshot-plus-watch gapless.
type hub struct {
	subs map[*watcher]struct{}
}

func (h *hub) add(w *watcher) {
	if h.subs == nil {
		h.subs = map[*watcher]struct{}{}
	}
	h.subs[w] = struct{}{}
}

func (h *hub) remove(w *watcher) {
	if _, ok := h.subs[w]; ok {
		delete(h.subs, w)
		close(w.ch)
		close(w.done)
	}
}

func (h *hub) publish(ev Event) {
	for w := range h.subs {
		select {
		case w.ch <- ev:
		default:
			h.reset(w, ev.Index)
		}
	}
}

// reset drops a watcher's backlog, sends it a single reset event, and closes
// its channel.
func (h *hub) reset(w *watcher, idx uint64) {
	for drained := false; !drained; {
		select {
		case <-w.ch:
		default:
			drained = true
		}
	}
	w.ch <- Event{Index: idx, Kind: KindReset}
	h.remove(w)
}

func (h *hub) resetAll(idx uint64) {
	for w := range h.subs {
		h.reset(w, idx)
	}
}

func (h *hub) closeAll() {
	for w := range h.subs {
		h.remove(w)
	}
}

// snapshotAndWatch returns the snapshot at the current applied index N and a
// channel of every event with index > N, in order. The channel is closed when
// ctx ends, after a reset event, or when the store closes.
func (f *fsm) snapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan Event) {
	w := &watcher{ch: make(chan Event, watchBuffer), done: make(chan struct{})}
	f.mu.Lock()
	snap := f.snapshotLocked()
	if ctx.Err() != nil || f.closed {
		close(w.ch)
		f.mu.Unlock()
		return snap, w.ch
	}
	f.hub.add(w)
	f.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			f.hub.remove(w)
			f.mu.Unlock()
		case <-w.done:
		}
	}()
	return snap, w.ch
}

// closeWatchers closes every watcher channel (store shutdown).
func (f *fsm) closeWatchers() {
	f.mu.Lock()
	f.closed = true
	f.hub.closeAll()
	f.mu.Unlock()
}
