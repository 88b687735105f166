package scenario

import "github.com/nva-project/nva/app/model"

// DualHomed: VN blue on hv1, hv2 and hv3; tenant system t is dual-homed
// to hv1 (port t1, tap-t1) and hv2 (port t2, tap-t2, pair t1); c on hv3
// and d on hv1 are single-homed.
func DualHomed() *Domain {
	d := New().VN("blue", 100).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").NVE("hv3", "198.18.0.3").
		Port("c", "blue", "hv3", "tap-c", "02:00:00:00:01:03", 0, "10.0.0.3").
		Port("d", "blue", "hv1", "tap-d", "02:00:00:00:01:04", 0, "10.0.0.4").
		Port("t1", "blue", "hv1", "tap-t1", "02:00:00:00:01:aa", 0, "10.0.0.10").
		Port("t2", "blue", "hv2", "tap-t2", "02:00:00:00:01:aa", 0, "10.0.0.10")
	return d.SetPair("t2", "t1")
}

// SetPair makes port name the dual-homing twin of port pair (model.Port.Pair).
func (d *Domain) SetPair(name, pair string) *Domain {
	c := *d.Ports[name]
	c.Pair = pair
	must(c.Validate())
	c.Revision = d.bump()
	d.Ports[name] = &c
	return d
}

// Replicators: VN blue in mode replicator on hv1-hv5 with replicators hv4
// and hv5; one port per NVE (b1 on hv1, tap-b1, ...).
func Replicators() *Domain {
	d := New().VN("blue", 100, func(v *model.VN) {
		v.BUM = model.BUM{Mode: model.BUMReplicator, Replicators: []string{"hv4", "hv5"}}
	})
	for i, n := range []string{"hv1", "hv2", "hv3", "hv4", "hv5"} {
		d.NVE(n, "198.18.0."+string(rune('1'+i)))
	}
	for i, n := range []string{"hv1", "hv2", "hv3", "hv4", "hv5"} {
		s := string(rune('1' + i))
		d.Port("b"+s, "blue", n, "tap-b"+s, "02:00:00:00:01:0"+s, 0, "10.0.0."+s)
	}
	return d
}

// ReplicatorsDualHomed is Replicators with tenant system t dual-homed to
// hv1 (port t1, tap-t1) and hv4, a replicator (port t4, tap-t4, pair t1).
func ReplicatorsDualHomed() *Domain {
	d := Replicators().
		Port("t1", "blue", "hv1", "tap-t1", "02:00:00:00:01:aa", 0, "10.0.0.10").
		Port("t4", "blue", "hv4", "tap-t4", "02:00:00:00:01:aa", 0, "10.0.0.10")
	return d.SetPair("t4", "t1")
}
