package ofctl

import (
	"fmt"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/conn"
)

// Switch identity: a switch claims the NVE whose datapath ID it reports
// only if the certificate it presented over TLS matches the NVE's pin
// (model.NVE.SwitchIdentity). One that does not match is refused: it gets
// no worker (so no flows, no role request and no neighbor answers), it
// never displaces the NVE's connected switch, and it is listed by
// Unclaimed with the reason. Its connection stays open, so the report
// shows it and a pin changed to match it promotes it at once. That the
// certificate was signed by the switch CA is the TLS listener's check
// (Config.TLS with RequireAndVerifyClientCert).

// refusedSwitch is a connected switch refused the NVE its datapath ID
// names, guarded by Southbound.mu.
type refusedSwitch struct {
	sw     *conn.Switch
	nve    string
	reason string
}

// claimCheck returns the NVE that claims sw's datapath ID in snap ("" if
// none) and why sw may not be that NVE's switch ("" if it may).
func claimCheck(snap *model.Snapshot, sw *conn.Switch) (nve, reason string) {
	nve = claimant(snap, sw.DPID())
	if nve == "" {
		return "", ""
	}
	if err := snap.NVEs[nve].SwitchIdentity.Match(sw.PeerCertificate()); err != nil {
		return nve, err.Error()
	}
	return nve, ""
}

// refuseLocked reports whether SwitchConnected must not register sw: it
// has disconnected already (a promotion racing its disconnection), or its
// certificate does not match the pin of the NVE its datapath ID names, in
// which case it is recorded as refused.
func (s *Southbound) refuseLocked(sw *conn.Switch) bool {
	select {
	case <-sw.Done():
		return true
	default:
	}
	nve, reason := claimCheck(s.snap, sw)
	if reason == "" {
		return false
	}
	if s.refused == nil {
		s.refused = map[*conn.Switch]*refusedSwitch{}
	}
	s.refused[sw] = &refusedSwitch{sw: sw, nve: nve, reason: reason}
	s.log.Warn("switch refused: its certificate does not match the NVE's switch_identity; it stays unclaimed and gets no flows",
		"nve", nve, "dpid", model.FormatDatapathID(sw.DPID()), "remote", sw.RemoteAddr().String(), "reason", reason)
	s.updateGaugesLocked()
	s.broadcastLocked()
	return true
}

// forgetRefusedLocked drops a refused switch that disconnected; false if
// sw was not refused.
func (s *Southbound) forgetRefusedLocked(sw *conn.Switch) bool {
	if _, ok := s.refused[sw]; !ok {
		return false
	}
	delete(s.refused, sw)
	s.log.Info("refused switch disconnected", "dpid", model.FormatDatapathID(sw.DPID()), "remote", sw.RemoteAddr().String())
	s.updateGaugesLocked()
	s.broadcastLocked()
	return true
}

// demoteLocked is refreshTo's check of a registered switch against snap:
// when the NVE its datapath ID names (now) pins a certificate the switch
// did not present, the switch loses its worker and becomes refused. It
// reports whether it did.
func (s *Southbound) demoteLocked(snap *model.Snapshot, w *worker) bool {
	nve, reason := claimCheck(snap, w.sw)
	if reason == "" {
		return false
	}
	if s.switches[w.dpid] == w {
		delete(s.switches, w.dpid)
	}
	if w.nve != "" {
		st := s.state(w.nve)
		st.sync = SyncDisconnected
		st.pending = nil
	}
	w.nve = ""
	if s.refused == nil {
		s.refused = map[*conn.Switch]*refusedSwitch{}
	}
	s.refused[w.sw] = &refusedSwitch{sw: w.sw, nve: nve, reason: reason}
	s.log.Warn("switch no longer matches its NVE's switch_identity; it is unclaimed now and gets no more flows",
		"nve", nve, "dpid", model.FormatDatapathID(w.dpid), "remote", w.sw.RemoteAddr().String(), "reason", reason)
	return true
}

// promoteLocked is refreshTo's check of the refused switches against snap:
// one that may now claim its NVE (the pin changed or went away, or no NVE
// has its datapath ID any more) is registered as if it had just connected
// (SwitchConnected, which skips it if it has disconnected meanwhile: its
// SwitchDisconnected runs after its connection is down, so one of the two
// sees the other); the others keep their refusal with its current reason.
func (s *Southbound) promoteLocked(snap *model.Snapshot) {
	for sw, r := range s.refused {
		nve, reason := claimCheck(snap, sw)
		if reason != "" {
			r.nve, r.reason = nve, reason
			continue
		}
		delete(s.refused, sw)
		s.log.Info("refused switch now matches; registering it", "nve", nve, "dpid", model.FormatDatapathID(sw.DPID()))
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.SwitchConnected(sw) }()
	}
}

// unclaimedEntry describes an unclaimed switch for the report.
func unclaimedEntry(sw *conn.Switch, nve, reason string) model.UnclaimedSwitch {
	u := model.UnclaimedSwitch{DatapathID: model.FormatDatapathID(sw.DPID()), Remote: sw.RemoteAddr().String(), NVE: nve, Reason: reason}
	u.Subject, u.Fingerprint = certIdentity(sw)
	return u
}

// certIdentity is the subject and fingerprint of the certificate sw
// presented ("" on a plain connection).
func certIdentity(sw *conn.Switch) (subject, fingerprint string) {
	if c := sw.PeerCertificate(); c != nil {
		return model.CertSubject(c), model.CertFingerprint(c)
	}
	return "", ""
}

// refusedEntriesLocked lists the refused switches for Unclaimed.
func (s *Southbound) refusedEntriesLocked() []model.UnclaimedSwitch {
	var out []model.UnclaimedSwitch
	for sw, r := range s.refused {
		out = append(out, unclaimedEntry(sw, r.nve, fmt.Sprintf("refused by NVE %s: %s", r.nve, r.reason)))
	}
	return out
}
