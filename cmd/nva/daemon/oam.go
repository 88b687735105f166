package daemon

import (
	"context"
	"errors"
	"net/http"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/trace"
	"github.com/nva-project/nva/ofctl"
)

// maxConcurrentTraces bounds the traces computed at once: a trace
// compiles every NVE it crosses from scratch (a broadcast crosses every
// NVE of its VN), so many at once would take the CPU from the southbound.
const maxConcurrentTraces = 2

// tracer serves POST /api/v1/traces with app/trace: the pipeline of each
// NVE is compiled for the profile its kind (or profile override) names.
// It needs no southbound, so every member answers traces.
type tracer struct{ slots chan struct{} }

func newTracer() tracer { return tracer{slots: make(chan struct{}, maxConcurrentTraces)} }

func (t tracer) Trace(ctx context.Context, snap *model.Snapshot, req trace.Request) (*trace.Result, error) {
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-t.slots }()
	return trace.Run(snap, trace.DefaultProfiles, req)
}

// liveTracer serves live traces (POST /api/v1/traces with live: true)
// with the southbound, and tells the API which of its errors are the
// request's: not the leader (503: ask the leader), a source that cannot
// be traced live (409).
type liveTracer struct{ *ofctl.Southbound }

func (liveTracer) LiveTraceError(err error) int {
	var se *ofctl.LiveSourceError
	switch {
	case errors.Is(err, ofctl.ErrLiveNotLeader):
		return http.StatusServiceUnavailable
	case errors.As(err, &se):
		return http.StatusConflict
	}
	return 0
}
