package pipeline

import (
	"fmt"
	"strings"
)

// Describe renders the profile's tables and contracts as text, one table
// per block in packet order (for documentation, the CLI and the API).
func (p Profile) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s (extensions=%v, flow_tunnels=%v, arp_in_switch=%v, nd_in_switch=%v, bundles=%v)\n",
		p.Name, p.Extensions, p.FlowTunnels, p.ARPInSwitch, p.NDInSwitch, p.Bundles)
	list := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ",")
	}
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "table %d %s: %s\n", t.Number, t.Name, t.Doc)
		for _, name := range t.Stages {
			st, _ := StageByName(name)
			next := st.Next
			if next == "" {
				next = "-"
			}
			fmt.Fprintf(&b, "  stage %s: miss %s, next %s\n", name, st.Miss, next)
		}
		fmt.Fprintf(&b, "  match: %s\n  set: %s\n  move from: %s\n  goto: %s\n", list(t.Match), list(t.Set), list(t.Read), list(t.Goto))
		fmt.Fprintf(&b, "  output=%v group=%v vlan=%v write_metadata=%v dec_ttl=%v\n", t.Output, t.Group, t.VLAN, t.WriteMetadata, t.DecTTL)
	}
	types := make([]string, len(p.Groups.Types))
	for i, ty := range p.Groups.Types {
		types[i] = fmt.Sprint(ty)
	}
	fmt.Fprintf(&b, "groups: types %s; buckets may set %s; vlan=%v\n", list(types), list(p.Groups.Set), p.Groups.VLAN)
	var left []string
	for _, st := range stages {
		if !p.Realizes(st.Name) {
			left = append(left, st.Name)
		}
	}
	fmt.Fprintf(&b, "stages left out: %s\n", list(left))
	return b.String()
}
