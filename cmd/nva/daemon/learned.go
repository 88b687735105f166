package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nva-project/nva/app/model"
)

// Learned endpoints of L2 gateway segments and VTEPs age out: the leader
// forgets every MAC not reported within --learned-age (expireLearned),
// checking every tenth of it; the southbound re-reports the MACs still
// sending every third of it (ofctl/learn.go).

// DefaultLearnedAge is --learned-age's default (when empty).
const DefaultLearnedAge = "300s"

const formsLearnedAge = "a duration of at least 1s (e.g. 300s, 10m)"

// checkLearnedAge accepts a duration of at least 1s.
func checkLearnedAge(v string) (string, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return v, errors.New("not a duration")
	case d < time.Second:
		return v, errors.New("must be at least 1s")
	}
	return d.String(), nil
}

// LearnedMaxAge is the parsed --learned-age (DefaultLearnedAge when
// empty); call it on completed settings.
func (s Settings) LearnedMaxAge() time.Duration {
	v := s.LearnedAge
	if v == "" {
		v = DefaultLearnedAge
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		d, _ = time.ParseDuration(DefaultLearnedAge)
	}
	return d
}

// learnedExpirer is what expireLearned needs of the store.
type learnedExpirer interface {
	IsLeader() bool
	Snapshot() *model.Snapshot
	LearnedConflicts(vn string) ([]*model.LearnedConflict, uint64)
	ExpireLearned(ctx context.Context, before time.Time) (uint64, error)
}

// expireLearned forgets, on the leader, the learned endpoints and
// conflicts last seen more than age ago, checking every tenth of age
// (the time judged by goes into the command: every node forgets the
// same). It writes only when something is due.
func expireLearned(ctx context.Context, st learnedExpirer, age time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(max(age/10, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !st.IsLeader() {
			continue
		}
		before := now().Add(-age)
		if !learnedDue(st, before) {
			continue
		}
		if _, err := st.ExpireLearned(ctx, before); err != nil && ctx.Err() == nil {
			log.Warn("expiring learned endpoints", "err", err)
		}
	}
}

// learnedDue reports whether an endpoint or conflict was last seen
// before before.
func learnedDue(st learnedExpirer, before time.Time) bool {
	for _, e := range st.Snapshot().Learned {
		if e.LastSeen.Before(before) {
			return true
		}
	}
	cs, _ := st.LearnedConflicts("")
	for _, c := range cs {
		if c.LastSeen.Before(before) {
			return true
		}
	}
	return false
}
