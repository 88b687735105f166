package daemon

import (
	"context"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/trace"
)

// tracer serves POST /api/v1/traces with app/trace: the pipeline of each
// NVE is compiled for the profile its kind (or profile override) names.
// It needs no southbound, so every member answers traces.
type tracer struct{}

func (tracer) Trace(ctx context.Context, snap *model.Snapshot, req trace.Request) (*trace.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return trace.Run(snap, trace.DefaultProfiles, req)
}
