package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// flowsCmd is `nvactl nve flows NAME`: the NVE's flows as the southbound
// reports them. The table output is a summary (desired and installed
// counts, whether they agree and what differs), then the desired flows and
// the installed ones with their counters; -o json is the full report.
func (a *app) flowsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flows NAME",
		Short: "Show the desired and installed flows of an NVE (needs the southbound)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, "/api/v1/nves/"+url.PathEscape(args[0])+"/flows", a.readQuery(), nil)
			if err != nil {
				return err
			}
			if a.g.output == "table" {
				var rep model.FlowReport
				if err := json.Unmarshal(raw, &rep); err != nil {
					return fmt.Errorf("decoding the flow report: %w", err)
				}
				return printFlowReport(c.OutOrStdout(), &rep)
			}
			return printJSON(c.OutOrStdout(), raw)
		},
	}
}

// printFlowReport writes a FlowReport for a human: the counts, the sync
// verdict with what differs, then the flows.
func printFlowReport(w io.Writer, rep *model.FlowReport) error {
	fmt.Fprintf(w, "nve %s  profile %s  store revision %d\n", rep.NVE, orDash(rep.Profile), rep.Revision)
	fmt.Fprintf(w, "openflow: %s\n\n", openFlowLine(rep.Status))
	installed, installedGroups := "unknown", "unknown"
	if rep.InstalledKnown {
		installed, installedGroups = strconv.Itoa(len(rep.Installed)), strconv.Itoa(len(rep.InstalledGroups))
	}
	if err := printTable(w, []string{"", "DESIRED", "INSTALLED"}, [][]string{
		{"flows", strconv.Itoa(len(rep.Desired)), installed},
		{"groups", strconv.Itoa(len(rep.DesiredGroups)), installedGroups},
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nin sync: %s\n", inSyncLine(rep))
	if rep.ReadError != "" {
		fmt.Fprintf(w, "read error: %s\n", rep.ReadError)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	d := rep.Diff
	for _, sec := range []struct {
		title string
		lines []string
	}{
		{"missing (desired, not installed)", d.Missing},
		{"differ (installed with other actions or cookie; desired form)", d.Differ},
		{"extra (installed by nva, not desired)", d.Extra},
		{"desired flows", rep.Desired},
		{"desired groups", rep.DesiredGroups},
	} {
		if len(sec.lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d):\n", sec.title, len(sec.lines))
		for _, l := range sec.lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if !rep.InstalledKnown {
		return nil
	}
	fmt.Fprintf(w, "\ninstalled flows (%d):\n", len(rep.Installed))
	rows := make([][]string, 0, len(rep.Installed))
	for _, f := range rep.Installed {
		rows = append(rows, []string{strconv.FormatUint(f.Packets, 10), strconv.FormatUint(f.Bytes, 10), fmt.Sprintf("%ds", f.DurationSec), f.Flow})
	}
	return printTable(w, []string{"PACKETS", "BYTES", "AGE", "FLOW"}, rows)
}

// openFlowLine is the OpenFlow status of a flow report in one line.
func openFlowLine(st model.OpenFlowStatus) string {
	parts := []string{orDash(st.Sync)}
	if st.Connected {
		parts = append(parts, "connected from "+orDash(st.Remote))
	} else if st.Sync != model.SyncDisconnected {
		parts = append(parts, "not connected")
	}
	if st.DatapathID != "" {
		parts = append(parts, "datapath "+st.DatapathID)
	}
	parts = append(parts, fmt.Sprintf("realized revision %d", st.RealizedRevision))
	if st.LastError != "" {
		parts = append(parts, "last error: "+st.LastError)
	}
	return strings.Join(parts, ", ")
}

// inSyncLine says whether the installed state matches the desired one and,
// when not, how far apart they are.
func inSyncLine(rep *model.FlowReport) string {
	if !rep.InstalledKnown {
		return "unknown (the installed flows could not be read)"
	}
	d := rep.Diff
	if d.InSync {
		return "yes"
	}
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{len(d.Missing), "missing"}, {len(d.Differ), "differ"}, {len(d.Extra), "extra"},
		{len(d.GroupsMissing), "groups missing"}, {len(d.GroupsDiffer), "groups differ"}, {len(d.GroupsExtra), "groups extra"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	s := "no: " + strings.Join(parts, ", ")
	if d.PlannedMessages > 0 {
		s += fmt.Sprintf(" (a reconciliation would send %d messages)", d.PlannedMessages)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// topologyCmd is `nvactl topology`: NVEs with their VNs, and the tunnels
// between NVEs that share a VN.
func (a *app) topologyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "topology",
		Short: "Show NVEs, the VNs they host and the tunnels between them",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, "/api/v1/topology", a.readQuery(), nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var topo struct {
				Revision uint64 `json:"revision"`
				NVEs     []struct {
					model.NVE
					VNs    []string        `json:"vns"`
					Status json.RawMessage `json:"status"`
				} `json:"nves"`
				Tunnels []wire.Tunnel `json:"tunnels"`
			}
			if err := json.Unmarshal(raw, &topo); err != nil {
				return fmt.Errorf("decoding topology: %w", err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "revision %d\n\n", topo.Revision)
			rows := [][]string{}
			for _, n := range topo.NVEs {
				rows = append(rows, []string{n.Name, strings.Join(n.UnderlayIPs, ","), strings.Join(n.VNs, ","), statusSummary(&n.NVE, n.Status)})
			}
			if err := printTable(out, []string{"NVE", "UNDERLAY", "VNS", "STATUS"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(out)
			rows = [][]string{}
			for _, t := range topo.Tunnels {
				rows = append(rows, []string{t.A, t.B, strings.Join(t.VNs, ",")})
			}
			return printTable(out, []string{"TUNNEL-A", "TUNNEL-B", "VNS"}, rows)
		},
	}
}

// healthCmd is `nvactl cluster health`: this node's view of the cluster;
// exits non-zero when the node knows no leader.
func (a *app) healthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show the health of the node at --server (non-zero exit without a leader)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cl := a.client()
			cl.attempts = 1 // report, do not wait for a leader
			raw, err := cl.do(c.Context(), http.MethodGet, "/api/v1/health", nil, nil)
			var ae *apiError
			if err != nil && !(asAPIError(err, &ae) && ae.status == http.StatusServiceUnavailable && len(ae.raw) > 0) {
				return err
			}
			if err != nil {
				raw = ae.raw
			}
			if a.g.output == "json" {
				if perr := printJSON(c.OutOrStdout(), raw); perr != nil {
					return perr
				}
			} else {
				var h wire.Health
				if jerr := json.Unmarshal(raw, &h); jerr != nil {
					return fmt.Errorf("decoding health: %w", jerr)
				}
				leader := h.Leader
				if leader == "" {
					leader = "(none)"
				}
				fmt.Fprintf(c.OutOrStdout(), "node %s: %s, leader %s, term %d, applied index %d\n", h.NodeID, h.Status, leader, h.Term, h.AppliedIndex)
			}
			if err != nil {
				return fmt.Errorf("node has no leader")
			}
			return nil
		},
	}
}
