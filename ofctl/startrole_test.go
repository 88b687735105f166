package ofctl

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// electingStore is a fakeStore that names the leader (none at first, as
// a node that has just started) and signals when that changes, as the
// real store does (leaderNamer, leaderNotifier).
type electingStore struct {
	*fakeStore
	lmu      sync.Mutex
	leaderID string
	changed  chan struct{}
}

func (e *electingStore) Leader() (string, string) {
	e.lmu.Lock()
	defer e.lmu.Unlock()
	return e.leaderID, ""
}

func (e *electingStore) LeaderChanged() <-chan struct{} {
	e.lmu.Lock()
	defer e.lmu.Unlock()
	return e.changed
}

// elect makes id the leader (self: this node) and signals the change.
func (e *electingStore) elect(id string, self bool) {
	e.fakeStore.mu.Lock()
	e.fakeStore.leader = self
	e.fakeStore.mu.Unlock()
	e.lmu.Lock()
	e.leaderID = id
	close(e.changed)
	e.changed = make(chan struct{})
	e.lmu.Unlock()
}

// idle reports whether dpid's switch is connected and its worker neither
// queued nor running.
func idle(sb *Southbound, dpid uint64) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	w := sb.switches[dpid]
	return w != nil && !w.queued && !w.running
}

// A node that has just started and does not know yet who leads leaves a
// connecting switch alone (no role request, no table read, no compile):
// that work would be done again once the role is known. Once another node
// is known to lead, the switch is observed; once this node leads, it is
// reconciled.
func TestStartingNodeWaitsForTheRoleBeforeReadingSwitches(t *testing.T) {
	src := &electingStore{fakeStore: newFakeStore(overlaySnap(10, true), false), changed: make(chan struct{})}
	sb, _ := startLogged(t, src, Config{}, nil)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	waitCond(t, 5*time.Second, "hv1 connected and its first run done", func() bool { return sb.status("hv1").Connected && idle(sb, 1) })
	br.mu.Lock()
	roles := br.roleRequests
	br.mu.Unlock()
	if roles != 0 {
		t.Fatalf("%d role requests before any node is known to lead, want 0", roles)
	}
	if st := sb.status("hv1"); st.Sync == SyncInSync {
		t.Fatalf("hv1 in sync before it was read: %+v", st)
	}

	src.elect("n2", false) // another node leads: observe
	waitCond(t, 5*time.Second, "hv1 observed", func() bool {
		br.mu.Lock()
		defer br.mu.Unlock()
		return br.roleRequests > 0
	})
	if n := br.flowCount(); n != 0 {
		t.Fatalf("a follower wrote %d flows", n)
	}

	src.elect("n1", true) // this node leads: reconcile
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("revision 10 not realized once leading: %v %v", lag, err)
	}
	if br.flowCount() == 0 {
		t.Fatal("the leader installed nothing")
	}
}

// isRequest reports whether m is an OpenFlow message of type typ (and,
// for a multipart request, of multipart type mp).
func isRequest(m []byte, typ uint8, mp uint16) bool {
	if len(m) < 2 || m[1] != typ {
		return false
	}
	return typ != openflow13.Type_MultiPartRequest || (len(m) >= 10 && binary.BigEndian.Uint16(m[8:10]) == mp)
}

// A restarted southbound asks a reconnecting switch its independent
// questions at once: FEATURES with PORT_DESC in the handshake, the flows
// with the groups in the full read. The bridge here answers FEATURES only
// once PORT_DESC was asked too, and the flows only once the groups were:
// asked one after the other, the handshake or the read would wait forever.
// The warm restart still sends nothing.
func TestRestartAsksIndependentQuestionsAtOnce(t *testing.T) {
	src, _, br := startOverlay(t)
	br.mu.Lock()
	br.hold = func(m []byte) (bool, bool) {
		switch {
		case isRequest(m, openflow13.Type_FeaturesRequest, 0), isRequest(m, openflow13.Type_MultiPartRequest, openflow13.MultipartType_Flow):
			return true, false
		case isRequest(m, openflow13.Type_MultiPartRequest, openflow13.MultipartType_PortDesc), isRequest(m, openflow13.Type_MultiPartRequest, openflow13.MultipartType_GroupDesc):
			return false, true
		}
		return false, false
	}
	br.mu.Unlock()
	restartUnchanged(t, src, br, 10, "a bridge that answers only questions asked together")
}

// Port numbers from outside (OVSDB) that the NVE's last compile already
// used leave the switch alone (a restart's OVSDB sessions report them all
// once more); a number it did not have recompiles the NVE.
func TestPortsChangedOnlyForNewNumbers(t *testing.T) {
	var mu sync.Mutex
	outside := map[string]uint32{}
	src := newFakeStore(overlaySnap(10, true), true)
	sb := startFake(t, src, Config{PortNumbers: func(string) map[string]uint32 {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]uint32{}
		for k, v := range outside {
			out[k] = v
		}
		return out
	}})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("revision 10 not realized: %v %v", lag, err)
	}
	waitCond(t, 5*time.Second, "hv1's runs done", func() bool { return idle(sb, 1) })

	mu.Lock()
	outside["v1"], outside["v2"] = 1, 2 // what the switch's port table says
	mu.Unlock()
	sb.PortsChanged("hv1")
	if !idle(sb, 1) {
		t.Fatal("numbers the last compile used kicked hv1's switch")
	}

	mu.Lock()
	outside["v7"] = 7 // a name the switch's table lacks
	mu.Unlock()
	sb.PortsChanged("hv1")
	sb.mu.Lock()
	w := sb.switches[1]
	sb.mu.Unlock()
	waitCond(t, 5*time.Second, "hv1 recompiled with v7", func() bool {
		last := w.lastCompile("hv1")
		return last != nil && last.ports.ports["v7"] == 7
	})
}

// kickNVE queues a run of NVE nve's switch, as any change does (tests).
func kickNVE(sb *Southbound, nve string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if w := sb.workerFor(nve); w != nil {
		w.kickLocked("test")
	}
}
