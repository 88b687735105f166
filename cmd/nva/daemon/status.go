package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb/nvesync"
)

// statusHub is the web.StatusNotifier of the events streams: the
// southbound's components call notify when an NVE's status may have
// changed (the OpenFlow southbound's realization and connection state,
// every OVSDB status, the OVSDB manager closing on lost leadership), and
// every subscribed stream is woken; each stream then diffs the NVEs'
// status against what it sent.
type statusHub struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newStatusHub() *statusHub { return &statusHub{subs: map[chan struct{}]struct{}{}} }

// SubscribeStatus implements web.StatusNotifier.
func (h *statusHub) SubscribeStatus(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	})
	return ch
}

// notify wakes every subscriber (never blocks: a pending wake-up covers
// this one).
func (h *statusHub) notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribers is the number of open subscriptions (events streams).
func (h *statusHub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// followStatusChanges notifies the hub at every close of changed() (the
// OpenFlow southbound's StatusChanged) until ctx ends.
func followStatusChanges(ctx context.Context, changed func() <-chan struct{}, h *statusHub) {
	for {
		ch := changed()
		select {
		case <-ctx.Done():
			return
		case <-ch:
			h.notify()
		}
	}
}

// closeNotifier is an OVSDB manager that notifies when it closes: on a
// node that loses leadership the OVSDB side of every NVE's status
// disappears with it.
type closeNotifier struct {
	nvesync.OVSDB
	onClose func()
}

func (c closeNotifier) Close() {
	c.OVSDB.Close()
	c.onClose()
}

// Follower status: only the leader manages OVSDB, so a follower knows the
// OpenFlow side of its NVEs' status (switches connect to every member)
// but not the OVSDB side. leaderOVSDB fills that in from the leader's
// REST API: while an events stream is open on this follower it reads the
// leader's GET /api/v1/nves?kind=ovs once every leaderPollInterval and
// keeps the OVSDB side of each NVE's status; nveStatus uses it while it is
// at most leaderStatusMaxAge old. So a follower's UI shows the same OVSDB
// state as the leader's, at most about a second behind; with no stream
// open (or the leader unreachable) a follower's status says "ovsdb:
// managed by the leader", as before.
const (
	leaderPollInterval = time.Second
	leaderStatusMaxAge = 5 * time.Second
	leaderPollTimeout  = 3 * time.Second
)

type leaderOVSDB struct {
	src interface {
		IsLeader() bool
		Leader() (id, apiAddr string)
	}
	client *http.Client
	hub    *statusHub
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	status map[string]*model.OVSDBStatus
	raw    []byte    // the statuses as last read (change detection)
	at     time.Time // when they were read; zero: never
	fresh  bool      // whether they were fresh at the last poll
}

// OVSDBStatus is the leader's OVSDB side of an NVE's status, when recent.
func (l *leaderOVSDB) OVSDBStatus(nve string) *model.OVSDBStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at.IsZero() || l.now().Sub(l.at) > leaderStatusMaxAge {
		return nil
	}
	return l.status[nve]
}

// run polls the leader while this node follows and a stream is open.
func (l *leaderOVSDB) run(ctx context.Context) {
	t := time.NewTicker(leaderPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.src.IsLeader() || l.hub.subscribers() == 0 {
			l.expire()
			continue
		}
		_, api := l.src.Leader()
		if api == "" {
			l.expire()
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, leaderPollTimeout)
		st, raw, err := l.fetch(pctx, api)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.log.Debug("reading the leader's OVSDB status", "leader", api, "err", err)
			}
			l.expire()
			continue
		}
		l.mu.Lock()
		changed := !l.fresh || !bytes.Equal(raw, l.raw)
		l.status, l.raw, l.at, l.fresh = st, raw, l.now(), true
		l.mu.Unlock()
		if changed {
			l.hub.notify()
		}
	}
}

// expire notifies once when the cached statuses stop being used.
func (l *leaderOVSDB) expire() {
	l.mu.Lock()
	was := l.fresh
	l.fresh = !l.at.IsZero() && l.now().Sub(l.at) <= leaderStatusMaxAge
	if !l.fresh {
		l.status, l.raw, l.at = nil, nil, time.Time{}
	}
	now := l.fresh
	l.mu.Unlock()
	if was && !now {
		l.hub.notify()
	}
}

func (l *leaderOVSDB) fetch(ctx context.Context, api string) (map[string]*model.OVSDBStatus, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(api, "/")+"/api/v1/nves?kind="+string(model.NVEOVS), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := l.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET /api/v1/nves: %s", res.Status)
	}
	var body struct {
		Items []struct {
			Name   string `json:"name"`
			Status *struct {
				OVSDB *model.OVSDBStatus `json:"ovsdb"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, nil, fmt.Errorf("GET /api/v1/nves: %w", err)
	}
	out := map[string]*model.OVSDBStatus{}
	for _, it := range body.Items {
		if it.Status != nil && it.Status.OVSDB != nil {
			out[it.Name] = it.Status.OVSDB
		}
	}
	raw, err := json.Marshal(out)
	return out, raw, err
}
