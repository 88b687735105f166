package model

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Learned endpoints (RFC 8014 §5.3): tenant systems nva does not know as
// ports, whose MACs an NVE saw behind an L2 gateway attachment (a port of
// kind segment) or a hardware VTEP reported (Ucast_Macs_Local), and
// reported to nva. The store keeps them with the time they were first and
// last seen; they are programmed on every NVE of the VN like known ports
// (unicast to the MAC goes to the learning NVE, which delivers it to the
// segment), and they age out when no longer seen. A learned MAC never
// overrides a port nva knows: a report of a port's MAC is recorded as a
// LearnedConflict and not programmed.

// ViaVTEP is LearnedEndpoint.Via for a MAC a hardware VTEP learned (its
// Ucast_Macs_Local table); every other Via names a segment port.
const ViaVTEP = "vtep"

// MaxLearnedBatch bounds the MACs of one LearnedReport.
const MaxLearnedBatch = 4096

// LearnedEndpoint is a MAC learned in a VN behind NVE, through Via: the
// name of a port of kind segment on that NVE, or ViaVTEP.
type LearnedEndpoint struct {
	VN  string `json:"vn"`
	MAC string `json:"mac"`
	NVE string `json:"nve"`
	Via string `json:"via"`
	// IPs are addresses the reporter saw the MAC use (optional; a VTEP's
	// Ucast_Macs_Local.ipaddr). They are shown, not answered for.
	IPs       []string  `json:"ips,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Revision is the store index of the last change of where the MAC
	// is (NVE, Via); a refresh of LastSeen alone keeps it.
	Revision uint64 `json:"revision,omitempty"`
}

// Key is the endpoint's key in Snapshot.Learned: LearnedKey(VN, MAC).
func (e *LearnedEndpoint) Key() string { return LearnedKey(e.VN, e.MAC) }

// SameAttachment reports whether e and o are learned at the same place
// (VN, MAC, NVE, Via): what forwarding depends on.
func (e *LearnedEndpoint) SameAttachment(o *LearnedEndpoint) bool {
	return e.VN == o.VN && e.MAC == o.MAC && e.NVE == o.NVE && e.Via == o.Via
}

// MACAddr returns the endpoint's MAC as a value, and whether it is valid.
func (e *LearnedEndpoint) MACAddr() ([6]byte, bool) {
	m, err := net.ParseMAC(e.MAC)
	if err != nil || len(m) != 6 {
		return [6]byte{}, false
	}
	return [6]byte(m), true
}

// LearnedKey is the key of a learned MAC in its VN: "vn/mac" (MAC in
// canonical lower-case colon form).
func LearnedKey(vn, mac string) string { return vn + "/" + mac }

// LearnedConflict is a MAC reported as learned that a port nva knows owns
// in the VN: it is not programmed (the port wins) and is counted.
type LearnedConflict struct {
	VN  string `json:"vn"`
	MAC string `json:"mac"`
	// NVE and Via are where it was last reported from.
	NVE string `json:"nve"`
	Via string `json:"via"`
	// Port is the known port that owns the MAC.
	Port      string    `json:"port"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Count is how many reports of it were refused.
	Count uint64 `json:"count"`
}

// LearnedMAC is one MAC of a LearnedReport: seen in VN behind Via, or,
// with Gone, no longer there (a VTEP withdrew it; the store forgets it if
// it is still learned at the reporting NVE and Via).
type LearnedMAC struct {
	VN   string   `json:"vn"`
	MAC  string   `json:"mac"`
	Via  string   `json:"via"`
	IPs  []string `json:"ips,omitempty"`
	Gone bool     `json:"gone,omitempty"`
}

// LearnedReport is one batch of MACs an NVE saw at time At (the
// reporter's clock, carried in the command: the store never reads a
// clock to apply it). MACs already learned there are refreshed (LastSeen
// = At), new ones learned, ones learned elsewhere moved here.
type LearnedReport struct {
	NVE  string       `json:"nve"`
	At   time.Time    `json:"at"`
	MACs []LearnedMAC `json:"macs"`
}

// Defaults normalizes the report: MACs to canonical text, IPs unmapped,
// At in UTC at microsecond precision (what the log keeps).
func (r *LearnedReport) Defaults() {
	r.At = r.At.UTC().Truncate(time.Microsecond)
	for i := range r.MACs {
		m := &r.MACs[i]
		if hw, err := net.ParseMAC(m.MAC); err == nil && len(hw) == 6 {
			m.MAC = hw.String()
		}
		if len(m.IPs) > 0 {
			m.IPs = slices.Clone(m.IPs)
		}
		for j, ip := range m.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				m.IPs[j] = a.Unmap().String()
			}
		}
	}
}

// Validate checks a defaulted report on its own; that the VN, NVE and
// segment port exist, and conflicts with known ports, are the store's.
func (r *LearnedReport) Validate() error {
	var fe FieldErrors
	switch {
	case r.NVE == "":
		fe.Add("nve", "is required")
	case !ValidName(r.NVE):
		fe.Add("nve", "%q is not a valid NVE name", r.NVE)
	}
	if r.At.IsZero() || r.At.Unix() <= 0 {
		fe.Add("at", "is required (the time the MACs were seen)")
	}
	if len(r.MACs) > MaxLearnedBatch {
		fe.Add("macs", "at most %d MACs per report, not %d", MaxLearnedBatch, len(r.MACs))
	}
	for i, m := range r.MACs {
		f := fmt.Sprintf("macs[%d]", i)
		if !ValidName(m.VN) {
			fe.Add(f+".vn", "%q is not a valid VN name", m.VN)
		}
		if err := CheckLearnedMAC(m.MAC); err != "" {
			fe.Add(f+".mac", "%s", err)
		}
		if m.Via != ViaVTEP && !ValidName(m.Via) {
			fe.Add(f+".via", "must name a segment port or be %q", ViaVTEP)
		}
		for j, ip := range m.IPs {
			if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" || !a.IsValid() {
				fe.Add(fmt.Sprintf("%s.ips[%d]", f, j), "%q is not an IPv4 or IPv6 address", ip)
			}
		}
	}
	return fe.Err()
}

// CheckLearnedMAC says what is wrong with a MAC reported as learned (""
// when nothing): it must be a unicast, non-zero Ethernet MAC.
func CheckLearnedMAC(mac string) string {
	m, err := net.ParseMAC(mac)
	switch {
	case err != nil || len(m) != 6:
		return fmt.Sprintf("%q is not an Ethernet MAC address", mac)
	case m[0]&1 == 1:
		return "must be a unicast MAC address"
	case m.String() == "00:00:00:00:00:00":
		return "must not be all zeros"
	}
	return ""
}

// learnedIndex is a snapshot's learned endpoints grouped by VN, each
// group sorted by MAC.
type learnedIndex struct {
	byVN map[string][]*LearnedEndpoint
}

// snapshotLearned is the learned part of a Snapshot: the map and its
// index, built on first use.
type snapshotLearned struct {
	once sync.Once
	ix   *learnedIndex
}

func (s *Snapshot) learnedIndex() *learnedIndex {
	s.learned.once.Do(func() {
		ix := &learnedIndex{byVN: map[string][]*LearnedEndpoint{}}
		for _, e := range s.Learned {
			ix.byVN[e.VN] = append(ix.byVN[e.VN], e)
		}
		for _, es := range ix.byVN {
			slices.SortFunc(es, func(a, b *LearnedEndpoint) int { return strings.Compare(a.MAC, b.MAC) })
		}
		s.learned.ix = ix
	})
	return s.learned.ix
}

// LearnedIn returns the learned endpoints of VN vn, by MAC (shared: do
// not modify). Endpoints whose MAC a port of the VN owns are included
// (the compiler skips them; the store records such reports as conflicts).
func (s *Snapshot) LearnedIn(vn string) []*LearnedEndpoint {
	if len(s.Learned) == 0 {
		return nil
	}
	return s.learnedIndex().byVN[vn]
}

// LearnedVNs returns the names of the VNs with learned endpoints, sorted.
func (s *Snapshot) LearnedVNs() []string {
	if len(s.Learned) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.learnedIndex().byVN))
	for vn := range s.learnedIndex().byVN {
		out = append(out, vn)
	}
	slices.Sort(out)
	return out
}

// LearnedChangedVNs returns the VNs whose learned endpoints differ between
// two snapshots in where they are (VN, MAC, NVE, Via): what forwarding
// depends on. A refresh of LastSeen alone is not a change. Sorted.
func LearnedChangedVNs(old, cur *Snapshot) []string {
	var om, cm map[string]*LearnedEndpoint
	if old != nil {
		om = old.Learned
	}
	if cur != nil {
		cm = cur.Learned
	}
	set := map[string]bool{}
	for k, e := range cm {
		if o := om[k]; o == nil || !o.SameAttachment(e) {
			set[e.VN] = true
		}
	}
	for k, o := range om {
		if _, ok := cm[k]; !ok {
			set[o.VN] = true
		}
	}
	out := make([]string, 0, len(set))
	for vn := range set {
		out = append(out, vn)
	}
	slices.Sort(out)
	return out
}

// ChangeLearned is the Change kind of a learned endpoint (Old and New are
// *LearnedEndpoint). Only changes of where a MAC is (learned, moved,
// aged out or withdrawn) publish one; a refresh of LastSeen does not.
const ChangeLearned = "learned"
