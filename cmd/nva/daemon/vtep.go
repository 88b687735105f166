package daemon

import (
	"context"
	"crypto/tls"
	"log/slog"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
	"github.com/nva-project/nva/ovsdb/vtep"
)

// newVTEPSyncer builds the management of the vtep NVEs (ovsdb/vtep): the
// leader's VTEP manager, status changes pushed to the events streams
// (notify), ssl: sessions verified like the hypervisors' (switch CA, the
// NVE's pin), and the MACs the VTEPs learn handed to learned.
func newVTEPSyncer(log *slog.Logger, base *tls.Config, learned vtep.Reporter, notify func()) *vtep.Syncer {
	var tlsFor func(*model.NVE) *tls.Config
	if base != nil {
		tlsFor = func(n *model.NVE) *tls.Config { return ovsdb.SwitchClientTLS(base, n.SwitchIdentity) }
	}
	return vtep.NewSyncer(func() *vtep.Manager {
		return vtep.NewManager(log.With("component", "vtep"), learned, func(vtep.Status) { notify() })
	}, nil, tlsFor, log.With("component", "vtep-sync"))
}

// vtepLearnedLog reports the MACs VTEPs learn to the log.
type vtepLearnedLog struct{ log *slog.Logger }

func (l vtepLearnedLog) VTEPLearned(_ context.Context, nve string, macs []vtep.Learned) error {
	l.log.Info("VTEP learned MACs", "nve", nve, "count", len(macs))
	return nil
}
