package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nva-project/nva/app/model"
)

// gatewayKind is `nvactl gateway ...`: the L3 gateways of L3 domains to the
// non-virtualized network (/api/v1/l3gateways).
var gatewayKind = kindSpec{
	name: "gateway", plural: "l3gateways",
	long: "L3 gateways: an L3 domain's way to the external IP network (SNAT to the gateway's external address, floating IPs)",
	fields: []field{
		{"tenant", "tenant", "string", "tenant of the L3 domain"},
		{"l3-domain", "l3_domain", "string", "L3 domain whose VNs reach the external network through the gateway"},
		{"nve", "nve", "string", "gateway NVE (kind ovs, profile ovs)"},
		{"uplink", "uplink", "string", "uplink interface on the gateway NVE's bridge, toward the external network"},
		{"external-ip", "external_ip", "string", "the gateway's external address/prefix (IPv4, like 203.0.113.10/24)"},
		{"next-hop", "next_hop", "string", "external router every external destination is sent to (inside the external prefix)"},
		{"next-hop-mac", "next_hop_mac", "string", "the next hop's MAC (nva does not ARP for it)"},
		{"floating-ip", "floating_ips", "floatings", "floating IP, EXTERNAL=TENANT-ADDRESS (repeat for several; replaces the list on update)"},
	},
	filters: []string{"tenant", "l3_domain"},
	header:  []string{"NAME", "TENANT", "L3-DOMAIN", "NVE", "UPLINK", "EXTERNAL", "NEXT-HOP", "FLOATING", "CT-ZONE", "REVISION"},
	row: func(raw json.RawMessage) ([]string, error) {
		var g model.L3Gateway
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, err
		}
		var fl []string
		for _, f := range g.FloatingIPs {
			fl = append(fl, f.ExternalIP+"="+f.InternalIP)
		}
		return []string{g.Name, g.Tenant, g.L3Domain, g.NVE, g.Uplink, g.ExternalIP, g.NextHop + " " + g.NextHopMAC,
			strings.Join(fl, ","), strconv.FormatUint(uint64(g.CTZone), 10), strconv.FormatUint(g.Revision, 10)}, nil
	},
}

// floatingsFlag parses --floating-ip EXTERNAL=TENANT values.
func floatingsFlag(fs *pflag.FlagSet, f field) (any, error) {
	vals, err := fs.GetStringArray(f.flag)
	if err != nil {
		return nil, err
	}
	out := []model.FloatingIP{}
	for _, v := range vals {
		if v == "" {
			continue
		}
		ext, in, ok := strings.Cut(v, "=")
		if !ok || ext == "" || in == "" {
			return nil, fmt.Errorf("--%s %q: want EXTERNAL=TENANT-ADDRESS (like 203.0.113.20=10.1.0.10)", f.flag, v)
		}
		out = append(out, model.FloatingIP{ExternalIP: ext, InternalIP: in})
	}
	return out, nil
}
