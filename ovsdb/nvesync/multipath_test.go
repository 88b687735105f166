package nvesync

import (
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
)

// TestDesiredMultipath: a multihomed NVE gets, besides its flow-based
// port, one BFD tunnel port per path to every remote with both addresses
// fixed; the desired state validates; without multipath there are none.
func TestDesiredMultipath(t *testing.T) {
	d := scenario.MultihomeFailover()
	snap := d.Snapshot()
	got := Desired(snap, snap.NVEs["hv1"], testNodes)
	if err := got.Validate(); err != nil {
		t.Fatalf("Desired(hv1) does not validate: %v", err)
	}
	want := map[string]string{ // port -> local>remote
		"nmxc61200020": "198.18.0.1>198.18.0.2",
		"nmxc61201021": "198.18.1.1>198.18.1.2",
		"nmxc61200030": "198.18.0.1>198.18.0.3",
		"nmxc61200031": "198.18.1.1>198.18.0.3",
	}
	seen := 0
	for _, tun := range got.Tunnels {
		if tun.RemoteIP == "" {
			if len(tun.BFD) != 0 {
				t.Errorf("flow-based port %s has BFD %v", tun.Name, tun.BFD)
			}
			continue
		}
		seen++
		if w, ok := want[tun.Name]; !ok || w != tun.LocalIP+">"+tun.RemoteIP {
			t.Errorf("path port %s %s>%s, want %q", tun.Name, tun.LocalIP, tun.RemoteIP, w)
		}
		if tun.BFD["enable"] != "true" || tun.BFD["min_rx"] != "100" || tun.BFD["min_tx"] != "100" {
			t.Errorf("path port %s: BFD %v", tun.Name, tun.BFD)
		}
	}
	if seen != len(want) {
		t.Errorf("%d path ports, want %d: %+v", seen, len(want), got.Tunnels)
	}

	plain := scenario.TwoVNsThreeNVEs().Snapshot()
	for _, tun := range Desired(plain, plain.NVEs["hv1"], testNodes).Tunnels {
		if tun.RemoteIP != "" || len(tun.BFD) > 0 {
			t.Errorf("NVE without multipath has port %+v", tun)
		}
	}
}
