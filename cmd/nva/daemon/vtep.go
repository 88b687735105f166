package daemon

import (
	"context"
	"crypto/tls"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
	"github.com/nva-project/nva/ovsdb/vtep"
)

// vtepLearnedRefresh is how often a VTEP's learned MACs are reported
// again while unchanged, so that the learned endpoints' last-seen time
// keeps ahead of their ageing (--learned-age): every 30 s, or a third of
// the age when that is shorter.
func vtepLearnedRefresh(age time.Duration) time.Duration { return min(30*time.Second, age/3) }

// newVTEPSyncer builds the management of the vtep NVEs (ovsdb/vtep): the
// leader's VTEP manager, status changes pushed to the events streams
// (notify), ssl: sessions verified like the hypervisors' (switch CA, the
// NVE's pin), and the MACs the VTEPs learn handed to learned.
func newVTEPSyncer(log *slog.Logger, base *tls.Config, learned vtep.Reporter, learnedAge time.Duration, notify func()) *vtep.Syncer {
	var tlsFor func(*model.NVE) *tls.Config
	if base != nil {
		tlsFor = func(n *model.NVE) *tls.Config { return ovsdb.SwitchClientTLS(base, n.SwitchIdentity) }
	}
	return vtep.NewSyncer(func() *vtep.Manager {
		return vtep.NewManager(log.With("component", "vtep"), learned, func(vtep.Status) { notify() },
			vtep.WithLearnedRefresh(vtepLearnedRefresh(learnedAge)))
	}, tlsFor, log.With("component", "vtep-sync"))
}

// vtepLearned makes the MACs a VTEP learned (its Ucast_Macs_Local rows in
// nva's VNs) learned endpoints of their VNs at the VTEP (via "vtep"):
// each report lists every MAC the VTEP has, seen now, and withdraws
// (gone) those the store still has at the VTEP that it no longer lists.
type vtepLearned struct {
	st interface {
		Snapshot() *model.Snapshot
		ReportLearned(ctx context.Context, r model.LearnedReport) (uint64, error)
	}
	now func() time.Time
}

func (r vtepLearned) VTEPLearned(ctx context.Context, nve string, macs []vtep.Learned) error {
	var items []model.LearnedMAC
	listed := map[string]bool{}
	for _, m := range macs {
		item := model.LearnedMAC{VN: m.VN, MAC: m.MAC, Via: model.ViaVTEP}
		if m.IP != "" {
			item.IPs = []string{m.IP}
		}
		items = append(items, item)
		listed[model.LearnedKey(m.VN, m.MAC)] = true
	}
	learned := r.st.Snapshot().Learned
	for _, k := range slices.Sorted(maps.Keys(learned)) {
		if e := learned[k]; e.NVE == nve && e.Via == model.ViaVTEP && !listed[k] {
			items = append(items, model.LearnedMAC{VN: e.VN, MAC: e.MAC, Via: model.ViaVTEP, Gone: true})
		}
	}
	at := r.now()
	for len(items) > 0 {
		n := min(len(items), model.MaxLearnedBatch)
		if _, err := r.st.ReportLearned(ctx, model.LearnedReport{NVE: nve, At: at, MACs: items[:n]}); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}
