package ofctl

import (
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

// TestRealOVSTableFeatures: Open vSwitch answers OFPMP_TABLE_FEATURES, and
// the OVS profile fits its tables (table_check ok). Pinning a table to a
// number OVS does not have makes the NVE's sync state error, naming the
// table, and nothing more is written to the switch; unpinning it recovers.
func TestRealOVSTableFeatures(t *testing.T) {
	l := newLab(t)
	sb := l.startSouthbound()
	l.setup()
	l.realized()
	st := sb.status("hv1")
	if st.Profile == nil || st.Profile.Name != model.ProfileOVS || st.Profile.TableCheck != "ok" || len(st.Profile.Tables) == 0 {
		t.Fatalf("profile status %+v", st.Profile)
	}

	last := st.Profile.Tables[len(st.Profile.Tables)-1].Name
	nve := *l.st.Snapshot().NVEs["hv1"]
	nve.TableIDs = map[string]uint8{last: 254} // OVS's tables are 0-253
	if _, err := l.st.UpdateNVE(l.ctx, "", nve); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "table mismatch error", func() bool { return sb.status("hv1").Sync == SyncError })
	st = sb.status("hv1")
	if !strings.Contains(st.LastError, "table 254 ("+last+")") || !strings.Contains(st.LastError, "no table 254") ||
		!strings.HasPrefix(st.Profile.TableCheck, "mismatch: ") {
		t.Fatalf("error %q, table check %q", st.LastError, st.Profile.TableCheck)
	}
	sent := st.FlowModsSent
	l.assertSwitchEqualsDesired()      // the flows of the previous revision, untouched
	time.Sleep(500 * time.Millisecond) // a few retries
	if got := sb.status("hv1").FlowModsSent; got != sent {
		t.Fatalf("%d flow mods sent to a switch whose tables do not fit", got-sent)
	}

	nve.TableIDs = nil
	if _, err := l.st.UpdateNVE(l.ctx, "", nve); err != nil {
		t.Fatal(err)
	}
	l.realized()
	if st := sb.status("hv1"); st.Sync != SyncInSync || st.Profile.TableCheck != "ok" {
		t.Fatalf("after unpinning: %+v", st)
	}
}
