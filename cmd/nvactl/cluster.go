package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Show and change cluster membership"}

	status := &cobra.Command{
		Use:   "status",
		Short: "Show the leader, term and members",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, "/api/v1/cluster", nil, nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var cv wire.ClusterView
			if err := json.Unmarshal(raw, &cv); err != nil {
				return fmt.Errorf("decoding cluster: %w", err)
			}
			leader := cv.Leader
			if leader == "" {
				leader = "(none)"
			}
			fmt.Fprintf(c.OutOrStdout(), "leader: %s  term: %d\n\n", leader, cv.Term)
			rows := make([][]string, 0, len(cv.Nodes))
			for _, n := range cv.Nodes {
				mark := ""
				if n.Leader {
					mark = "*"
				}
				rows = append(rows, []string{n.ID + mark, n.State, strconv.FormatBool(n.Voter), n.APIAddr, n.RaftAddr, n.OpenFlowAddr})
			}
			return printTable(c.OutOrStdout(), []string{"NODE", "STATE", "VOTER", "API", "RAFT", "OPENFLOW"}, rows)
		},
	}

	var join wire.ClusterNode
	joinCmd := &cobra.Command{
		Use:   "join ID --raft-addr HOST:PORT [--api-addr URL] [--openflow-addr HOST:PORT]",
		Short: "Add a node to the cluster: a non-voter until it has caught up, then a voter (nva --join does this itself)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			join.ID = args[0]
			raw, err := a.client().do(c.Context(), http.MethodPost, "/api/v1/cluster/join", nil, join)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			fmt.Fprintf(c.OutOrStdout(), "node %s joined\n", join.ID)
			return nil
		},
	}
	joinCmd.Flags().StringVar(&join.RaftAddr, "raft-addr", "", "the node's Raft address (required)")
	joinCmd.Flags().StringVar(&join.APIAddr, "api-addr", "", "the node's REST API base URL")
	joinCmd.Flags().StringVar(&join.OpenFlowAddr, "openflow-addr", "", "the node's advertised OpenFlow address")

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := a.client().do(c.Context(), http.MethodDelete, "/api/v1/cluster/nodes/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), []byte(fmt.Sprintf(`{"removed":%q}`, args[0])))
			}
			fmt.Fprintf(c.OutOrStdout(), "node %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(status, joinCmd, remove)
	return cmd
}
