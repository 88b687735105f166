package main

import (
	"encoding/json"
	"fmt"
	"github.com/nva-project/nva/app/model"
	"net/http"
	"net/url"
	"strings"

	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// flowsCmd is `nvactl nve flows NAME`: the NVE's flows as the southbound
// reports them (the table output prints the desired flows, one per line).
func (a *app) flowsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flows NAME",
		Short: "Show the flows of an NVE (needs the southbound)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, "/api/v1/nves/"+url.PathEscape(args[0])+"/flows", a.readQuery(), nil)
			if err != nil {
				return err
			}
			if a.g.output == "table" {
				var rep model.FlowReport
				if json.Unmarshal(raw, &rep) == nil {
					for _, l := range rep.Desired {
						fmt.Fprintln(c.OutOrStdout(), l)
					}
					return nil
				}
			}
			return printJSON(c.OutOrStdout(), raw)
		},
	}
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
					Name        string          `json:"name"`
					UnderlayIPs []string        `json:"underlay_ips"`
					VNs         []string        `json:"vns"`
					Status      json.RawMessage `json:"status"`
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
				rows = append(rows, []string{n.Name, strings.Join(n.UnderlayIPs, ","), strings.Join(n.VNs, ","), statusSummary(n.Status)})
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
