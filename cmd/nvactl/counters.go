package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// countersCmd is `nvactl counters [--vn NAME | --port NAME]`: the
// traffic counters the server last read from the switches.
func (a *app) countersCmd() *cobra.Command {
	var vn, port string
	cmd := &cobra.Command{
		Use:   "counters",
		Short: "Show traffic counters per VN, port, tunnel and drop stage (needs the southbound)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if vn != "" && port != "" {
				return fmt.Errorf("--vn and --port cannot be combined")
			}
			path := "/api/v1/counters"
			switch {
			case vn != "":
				path = "/api/v1/vns/" + url.PathEscape(vn) + "/counters"
			case port != "":
				path = "/api/v1/ports/" + url.PathEscape(port) + "/counters"
			}
			raw, err := a.client().do(c.Context(), http.MethodGet, path, a.readQuery(), nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			w := c.OutOrStdout()
			switch {
			case vn != "":
				var r wire.VNCountersReport
				if err := json.Unmarshal(raw, &r); err != nil {
					return err
				}
				fmt.Fprintf(w, "vn %s: from ports %s, from tunnels %s\n\n", r.VN, countText(r.Counters.FromPorts), countText(r.Counters.FromTunnels))
				return printPortCounters(w, r.Ports)
			case port != "":
				var r wire.PortCountersReport
				if err := json.Unmarshal(raw, &r); err != nil {
					return err
				}
				return printPortCounters(w, map[string]wire.PortCounters{r.Port: r.Counters})
			}
			var r wire.Counters
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			if !r.Enabled {
				fmt.Fprintln(w, "counter polling is off on this node (--counter-interval 0)")
			}
			rows := [][]string{}
			for _, k := range sortedKeys(r.VNs) {
				v := r.VNs[k]
				rows = append(rows, []string{k, countText(v.FromPorts), countText(v.FromTunnels)})
			}
			if err := printTable(w, []string{"VN", "FROM-PORTS", "FROM-TUNNELS"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(w)
			rows = [][]string{}
			for _, k := range sortedKeys(r.Tunnels) {
				t := r.Tunnels[k]
				rows = append(rows, []string{k, countText(t.Tx), countText(t.Rx)})
			}
			if err := printTable(w, []string{"TUNNEL", "TX", "RX"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(w)
			rows = [][]string{}
			for _, k := range sortedKeys(r.Drops) {
				rows = append(rows, []string{k, countText(r.Drops[k])})
			}
			if err := printTable(w, []string{"DROP-STAGE", "DROPPED"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(w)
			rows = [][]string{}
			for _, k := range sortedKeys(r.DropReasons) {
				rows = append(rows, []string{k, countText(r.DropReasons[k])})
			}
			if err := printTable(w, []string{"DROP-REASON", "DROPPED"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(w)
			// BUM replication per NVE and VN (flood groups' statistics):
			// frames flooded from local VAPs, copies sent into tunnels and
			// to local VAPs, the compiled underlay copies per frame, and a
			// replicator's relayed copies of frames from tunnels.
			rows = [][]string{}
			for _, n := range r.NVEs {
				for _, b := range n.BUM {
					rows = append(rows, []string{n.NVE, b.VN, strconv.FormatUint(b.Frames, 10), strconv.FormatUint(b.UnderlayCopies, 10),
						strconv.FormatUint(b.LocalCopies, 10), strconv.Itoa(b.CompiledCopies), strconv.FormatUint(b.RelayedCopies, 10)})
				}
			}
			if err := printTable(w, []string{"NVE", "BUM-VN", "FRAMES", "UNDERLAY-COPIES", "LOCAL-COPIES", "COPIES/FRAME", "RELAYED-COPIES"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(w)
			// The tunnel ports' own statistics (every frame, flooded copies
			// included, and the port's drops and errors).
			rows = [][]string{}
			for _, n := range r.NVEs {
				for _, k := range sortedKeys(n.Interfaces) {
					if i := n.Interfaces[k]; i.Kind == "tunnel" {
						rows = append(rows, []string{n.NVE + "/" + k, countText(i.Tx), countText(i.Rx),
							fmt.Sprintf("%d/%d", i.TxDropped, i.RxDropped), fmt.Sprintf("%d/%d", i.TxErrors, i.RxErrors)})
					}
				}
			}
			if err := printTable(w, []string{"TUNNEL-PORT", "TX", "RX", "DROPPED-TX/RX", "ERRORS-TX/RX"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(w)
			return printPortCounters(w, r.Ports)
		},
	}
	cmd.Flags().StringVar(&vn, "vn", "", "one VN's counters and its ports'")
	cmd.Flags().StringVar(&port, "port", "", "one port's counters")
	return cmd
}

func countText(c wire.Count) string {
	return strconv.FormatUint(c.Packets, 10) + " pkts / " + strconv.FormatUint(c.Bytes, 10) + " B"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func printPortCounters(w io.Writer, ports map[string]wire.PortCounters) error {
	rows := [][]string{}
	for _, k := range sortedKeys(ports) {
		p := ports[k]
		rows = append(rows, []string{k, p.VN, countText(p.Rx), countText(p.Tx)})
	}
	return printTable(w, []string{"PORT", "VN", "RX", "TX"}, rows)
}
