package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// accessLinksCmd is `nvactl access-links [TNVE]`: the split NVEs' access
// links, one row per (link, VN) with the VLAN nva allocated.
func (a *app) accessLinksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "access-links [TNVE]",
		Short: "Show split-NVE access links (tNVE uplink -> nNVE port) and the VLAN of each VN on them",
		Long: "A tNVE is an ovs NVE created with --access-nnve, --access-uplink and --access-nnve-port:\n" +
			"it does not tunnel; nva allocates one VLAN per VN on its access link, and the nNVE maps\n" +
			"(port, VLAN) to the VN. QINQ yes: the VN has passthrough ports, its link tag is an 802.1ad S-tag.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := "/api/v1/access-links"
			if len(args) == 1 {
				path += "/" + url.PathEscape(args[0])
			}
			raw, err := a.client().do(c.Context(), http.MethodGet, path, a.readQuery(), nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var links []wire.AccessLink
			if len(args) == 1 {
				var l wire.AccessLink
				if err := json.Unmarshal(raw, &l); err != nil {
					return err
				}
				links = []wire.AccessLink{l}
			} else {
				var list struct{ Items []wire.AccessLink }
				if err := json.Unmarshal(raw, &list); err != nil {
					return err
				}
				links = list.Items
			}
			return printTable(c.OutOrStdout(), []string{"TNVE", "UPLINK", "NNVE", "NNVE-PORT", "POOL", "VN", "VNI", "VLAN", "QINQ", "PORTS"}, accessLinkRows(links))
		},
	}
}

func accessLinkRows(links []wire.AccessLink) [][]string {
	var rows [][]string
	for _, l := range links {
		head := []string{l.TNVE, l.Uplink, l.NNVE, l.NNVEPort, l.VLANPool}
		if len(l.VLANs) == 0 && len(l.Unallocated) == 0 {
			rows = append(rows, append(head, "", "", "", "", ""))
		}
		for _, v := range l.VLANs {
			q := ""
			if v.QinQ {
				q = "yes"
			}
			rows = append(rows, append(append([]string(nil), head...), v.VN, strconv.FormatUint(uint64(v.VNI), 10), strconv.Itoa(v.VLAN), q, strings.Join(v.Ports, ",")))
		}
		for _, vn := range l.Unallocated {
			rows = append(rows, append(append([]string(nil), head...), vn, "", "none (pool exhausted)", "", ""))
		}
	}
	return rows
}
