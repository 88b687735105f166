package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// learnedCmd is `nvactl learned [--vn NAME]`: the MACs learned behind L2
// gateway segments and VTEPs, and the conflicts (MACs reported that a
// known port owns).
func (a *app) learnedCmd() *cobra.Command {
	var vn string
	cmd := &cobra.Command{
		Use:   "learned",
		Short: "Show learned endpoints (MACs seen behind L2 gateway segments and VTEPs) and conflicts with known ports",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path := "/api/v1/learned"
			if vn != "" {
				path = "/api/v1/vns/" + url.PathEscape(vn) + "/learned"
			}
			raw, err := a.client().do(c.Context(), http.MethodGet, path, a.readQuery(), nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var r wire.LearnedReport
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			w := c.OutOrStdout()
			now := time.Now()
			rows := [][]string{}
			for _, e := range r.Learned {
				rows = append(rows, []string{e.VN, e.MAC, e.NVE, e.Via, strings.Join(e.IPs, ","),
					e.FirstSeen.Format(time.RFC3339), ago(now, e.LastSeen)})
			}
			if err := printTable(w, []string{"VN", "MAC", "NVE", "VIA", "IPS", "FIRST-SEEN", "LAST-SEEN"}, rows); err != nil {
				return err
			}
			if len(r.Conflicts) == 0 && r.ConflictsTotal == 0 {
				return nil
			}
			fmt.Fprintf(w, "\nconflicts (reported MACs a known port owns; not programmed): %d refused reports\n", r.ConflictsTotal)
			rows = [][]string{}
			for _, cf := range r.Conflicts {
				rows = append(rows, []string{cf.VN, cf.MAC, cf.Port, cf.NVE, cf.Via, strconv.FormatUint(cf.Count, 10), ago(now, cf.LastSeen)})
			}
			return printTable(w, []string{"VN", "MAC", "PORT", "SEEN-ON", "VIA", "COUNT", "LAST-SEEN"}, rows)
		},
	}
	cmd.Flags().StringVar(&vn, "vn", "", "only this VN")
	return cmd
}

// ago renders how long before now t was ("12s ago").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return now.Sub(t).Truncate(time.Second).String() + " ago"
}
