package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// field binds a create/update flag to a JSON path of the object.
type field struct {
	flag  string
	path  string // dotted JSON path: "bum.group"
	kind  string // "string", "int", "uint", "strings", "map" (KEY=VALUE), "uint8map" (KEY=N)
	usage string
}

// kindSpec describes one resource for the CLI.
type kindSpec struct {
	name    string // "vn"
	plural  string // "vns"
	long    string
	fields  []field
	filters []string // list query filters, also flags of list
	header  []string
	row     func(json.RawMessage) ([]string, error)
	// detail, if set, is printed under the one-row table of get.
	detail func(json.RawMessage) (string, error)
}

var vnKind = kindSpec{
	name: "vn", plural: "vns", long: "virtual networks",
	fields: []field{
		{"vni", "vni", "uint", "VXLAN/GENEVE network identifier 1-16777215 (allocated when omitted)"},
		{"service", "service", "string", "service: l2, l3 or l2l3"},
		{"encap", "encap", "string", "encapsulation: vxlan, geneve or gre"},
		{"bum", "bum.mode", "string", "BUM delivery: replicate, replicator or multicast"},
		{"bum-group", "bum.group", "string", "underlay multicast group (with --bum multicast)"},
		{"bum-replicator", "bum.replicators", "strings", "replicator NVE (with --bum replicator); repeat or comma-separate"},
		{"tenant", "tenant", "string", "tenant name"},
		{"mtu", "mtu", "int", "tenant MTU (576-9000, 0 = default)"},
		{"unknown-arp", "unknown_arp", "string", "ARP/ND for unknown targets: flood or drop"},
		{"subnet", "subnets", "subnets", "subnet with its gateway, CIDR=GATEWAY (repeat for several; IPv4 or IPv6; replaces the list on update)"},
		{"l3-domain", "l3_domain", "string", "L3 domain (routing context of the tenant): VNs of one domain are routed between (service l3 or l2l3)"},
		{"vap-signal", "vap_signal", "string", "when an NVE loses every path to the VN's other NVEs: link (take its VAPs down, the default) or off"},
	},
	filters: []string{"tenant"},
	header:  []string{"NAME", "VNI", "SERVICE", "ENCAP", "BUM", "TENANT", "MTU", "REVISION"},
	row: func(raw json.RawMessage) ([]string, error) {
		var v model.VN
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		bum := string(v.BUM.Mode)
		if v.BUM.Group != "" {
			bum += " " + v.BUM.Group
		}
		return []string{v.Name, strconv.FormatUint(uint64(v.VNI), 10), string(v.Service), string(v.Encap), bum,
			v.Tenant, intOrEmpty(v.MTU), strconv.FormatUint(v.Revision, 10)}, nil
	},
}

var nveKind = kindSpec{
	name: "nve", plural: "nves", long: "network virtualization edges (hypervisor vswitches, ToR switches)",
	fields: []field{
		{"kind", "kind", "string", "ovs (hypervisor Open vSwitch), openflow (hardware OpenFlow switch) or vtep (hardware VTEP over OVSDB hardware_vtep)"},
		{"underlay-ip", "underlay_ips", "strings", "underlay (tunnel endpoint) IP; repeat or comma-separate"},
		{"ovsdb", "ovsdb", "string", "OVSDB endpoint for kind ovs (Open_vSwitch) or vtep (hardware_vtep): unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"},
		{"bridge", "bridge", "string", "integration bridge (default br-int)"},
		{"datapath-type", "datapath_type", "string", "datapath type: system or netdev"},
		{"datapath-id", "datapath_id", "string", "datapath ID, 16 hex digits (required for kind openflow)"},
		{"profile", "profile", "string", "switch profile: ovs or openflow13 (default: ovs for kind ovs, openflow13 for kind openflow)"},
		{"table-id", "table_ids", "uint8map", "pin a table number: NAME=N (the profile's table names; repeat or comma-separate; NAME= removes the pin on update)"},
		{"tunnel-port", "tunnel_ports", "map", "the port tunnelling to a remote NVE: REMOTE-UNDERLAY-IP=PORTNAME (profile openflow13; NAME= removes it on update)"},
		{"switch-fingerprint", "switch_identity.fingerprint", "string", "pin the switch's TLS certificate: sha256:HEX (its SHA-256; a switch presenting another stays unclaimed)"},
		{"switch-subject", "switch_identity.subject", "string", "pin the switch's certificate subject: TYPE=VALUE[,...] (CN, O, OU, C, ST, L, SERIALNUMBER)"},
		{"multipath", "multipath", "string", "per-path BFD tunnels to every remote over all underlay IPs: active-active or failover (kind ovs, profile ovs)"},
		// Split NVE (accesslink.go): this NVE becomes a tNVE.
		{"access-nnve", "access_link.nnve", "string", "split NVE: the nNVE (ToR) this hypervisor's uplink is cabled to; makes it a tNVE (no tunnels, one VLAN per VN on the link)"},
		{"access-uplink", "access_link.uplink", "string", "split NVE: this NVE's uplink interface toward the nNVE"},
		{"access-nnve-port", "access_link.nnve_port", "string", "split NVE: the nNVE's port the access link lands on"},
		{"access-vlan-pool", "access_link.vlan_pool", "string", "split NVE: the VLANs nva may allocate on the link, e.g. 100-199,300 (default 2-4094)"},
	},
	filters: []string{"kind"},
	header:  []string{"NAME", "KIND", "UNDERLAY", "DATAPATH-ID", "BRIDGE", "OVSDB", "PROFILE", "STATUS"},
	row: func(raw json.RawMessage) ([]string, error) {
		var v struct {
			model.NVE
			Status json.RawMessage `json:"status"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return []string{v.Name, string(v.Kind), strings.Join(v.UnderlayIPs, ","), v.DatapathID, v.Bridge, v.OVSDB,
			profileName(&v.NVE, v.Status), statusSummary(&v.NVE, v.Status)}, nil
	},
	detail: nveDetail,
}

var portKind = kindSpec{
	name: "port", plural: "ports", long: "tenant-system ports attached to a VN on an NVE",
	fields: []field{
		{"vn", "vn", "string", "virtual network"},
		{"nve", "nve", "string", "NVE the tenant system is attached to"},
		{"interface", "interface", "string", "interface name on the NVE (e.g. the OVS port)"},
		{"mac", "mac", "string", "unicast MAC address (optional on a vtep NVE: bare-metal hosts are learned)"},
		{"ip", "ips", "strings", "IPv4/IPv6 address; repeat or comma-separate"},
		{"vlan", "vlan", "int", "access VLAN (0 = untagged)"},
		{"vlan-mode", "vlan_mode", "string", "VAP VLAN mode: access (default; --vlan is the VLAN) or passthrough (tenant tags carried unchanged)"},
		{"allowed-vlans", "allowed_vlans", "ints", "passthrough: tenant VLANs carried; repeat or comma-separate"},
		{"untagged", "untagged", "bool", "passthrough: untagged frames are carried too"},
		{"pair", "pair", "string", "dual-homing: the port attaching the same tenant system (same VN, MAC, IPs) to another NVE"},
		{"kind", "kind", "string", "port kind: empty (a tenant system) or segment (an L2 gateway to a physical segment: no MAC, its hosts' MACs are learned; see nvactl learned)"},
	},
	filters: []string{"vn", "nve"},
	header:  []string{"NAME", "VN", "NVE", "INTERFACE", "MAC", "IPS", "VLAN", "REVISION"},
	row: func(raw json.RawMessage) ([]string, error) {
		var v model.Port
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		mac := v.MAC
		if v.Kind != "" {
			mac = "(" + v.Kind + ")"
		}
		return []string{v.Name, v.VN, v.NVE, v.Interface, mac, strings.Join(v.IPs, ","), intOrEmpty(v.VLAN), strconv.FormatUint(v.Revision, 10)}, nil
	},
}

func intOrEmpty(i int) string {
	if i == 0 {
		return ""
	}
	return strconv.Itoa(i)
}

// statusSummary is an NVE's STATUS column: the server's one-line summary
// (model.SummarizeNVE), or the same summary computed here from a server
// that sends none. Never empty.
func statusSummary(nve *model.NVE, raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "unknown: the server reports no live status (it runs no southbound)"
	}
	var st model.NVEStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return "unknown: undecodable status: " + err.Error()
	}
	if st.Summary != "" {
		return st.Summary
	}
	return model.SummarizeNVE(nve, &st, model.SummaryContext{})
}

func addFieldFlags(fs *pflag.FlagSet, fields []field) {
	for _, f := range fields {
		switch f.kind {
		case "map", "uint8map":
			fs.StringToString(f.flag, nil, f.usage)
		case "string":
			fs.String(f.flag, "", f.usage)
		case "int":
			fs.Int(f.flag, 0, f.usage)
		case "uint":
			fs.Uint32(f.flag, 0, f.usage)
		case "strings", "ports":
			fs.StringSlice(f.flag, nil, f.usage)
		case "subnets", "floatings":
			fs.StringArray(f.flag, nil, f.usage)
		case "ints":
			fs.IntSlice(f.flag, nil, f.usage)
		case "bool":
			fs.Bool(f.flag, false, f.usage)
		}
	}
}

// fieldBody builds a JSON object from the flags the user set, and only
// those: the create body (server defaults fill the rest) or the merge
// patch of update.
func fieldBody(fs *pflag.FlagSet, fields []field) (map[string]any, error) {
	body := map[string]any{}
	for _, f := range fields {
		if !fs.Changed(f.flag) {
			continue
		}
		var v any
		var err error
		switch f.kind {
		case "string":
			v, err = fs.GetString(f.flag)
		case "int":
			v, err = fs.GetInt(f.flag)
		case "uint":
			v, err = fs.GetUint32(f.flag)
		case "strings":
			var ss []string
			ss, err = fs.GetStringSlice(f.flag)
			if ss == nil {
				ss = []string{}
			}
			v = ss
		case "map", "uint8map":
			v, err = mapFlag(fs, f)
		case "subnets":
			v, err = subnetsFlag(fs, f)
		case "ints":
			var is []int
			is, err = fs.GetIntSlice(f.flag)
			if is == nil {
				is = []int{}
			}
			v = is
		case "bool":
			v, err = fs.GetBool(f.flag)
		case "ports":
			v, err = portsFlag(fs, f) // policy.go
		case "floatings":
			v, err = floatingsFlag(fs, f) // gateway.go
		}
		if err != nil {
			return nil, err
		}
		m := body
		parts := strings.Split(f.path, ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	return body, nil
}

// resourceCmd is the command group of one kind of resource: create, list,
// get, update and delete over its REST collection.
func (a *app) resourceCmd(k kindSpec) *cobra.Command {
	cmd := &cobra.Command{Use: k.name, Short: "Manage " + k.long}
	cmd.AddCommand(a.createCmd(k), a.listCmd(k), a.getCmd(k), a.updateCmd(k), a.deleteCmd(k))
	return cmd
}

func (k kindSpec) base() string { return "/api/v1/" + k.plural }

func (k kindSpec) path(name string) string { return k.base() + "/" + url.PathEscape(name) }

// printItems prints objects as k's table.
func (a *app) printItems(c *cobra.Command, k kindSpec, raws []json.RawMessage) error {
	rows := make([][]string, 0, len(raws))
	for _, r := range raws {
		row, err := k.row(r)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", k.name, err)
		}
		rows = append(rows, row)
	}
	return printTable(c.OutOrStdout(), k.header, rows)
}

// printOne prints one object as JSON or as a one-row table.
func (a *app) printOne(c *cobra.Command, k kindSpec, raw []byte) error {
	if a.g.output == "json" {
		return printJSON(c.OutOrStdout(), raw)
	}
	return a.printItems(c, k, []json.RawMessage{raw})
}

func (a *app) createCmd(k kindSpec) *cobra.Command {
	create := &cobra.Command{
		Use:   "create NAME [flags]",
		Short: "Create a " + k.name,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body, err := fieldBody(c.Flags(), k.fields)
			if err != nil {
				return err
			}
			body["name"] = args[0]
			dropNulls(body) // NAME= means "remove" only in an update
			raw, err := a.client().do(c.Context(), http.MethodPost, k.base(), a.writeQuery(), body)
			if err != nil {
				return err
			}
			return a.printOne(c, k, raw)
		},
	}
	addFieldFlags(create.Flags(), k.fields)
	return create
}

func (a *app) updateCmd(k kindSpec) *cobra.Command {
	update := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change the given fields of a " + k.name + " (JSON merge patch)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body, err := fieldBody(c.Flags(), k.fields)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to update: give at least one field flag (see --help)")
			}
			raw, err := a.client().do(c.Context(), http.MethodPatch, k.path(args[0]), a.writeQuery(), body)
			if err != nil {
				return err
			}
			return a.printOne(c, k, raw)
		},
	}
	addFieldFlags(update.Flags(), k.fields)
	return update
}

func (a *app) listCmd(k kindSpec) *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List " + k.plural,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			q := a.readQuery()
			for _, f := range k.filters {
				if c.Flags().Changed(f) {
					v, _ := c.Flags().GetString(f)
					q.Set(f, v)
				}
			}
			raw, err := a.client().do(c.Context(), http.MethodGet, k.base(), q, nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var l struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("decoding list: %w", err)
			}
			return a.printItems(c, k, l.Items)
		},
	}
	for _, f := range k.filters {
		list.Flags().String(f, "", "only "+k.plural+" with this "+f)
	}
	return list
}

func (a *app) getCmd(k kindSpec) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a " + k.name,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, k.path(args[0]), a.readQuery(), nil)
			if err != nil {
				return err
			}
			if err := a.printOne(c, k, raw); err != nil || a.g.output == "json" || k.detail == nil {
				return err
			}
			d, err := k.detail(raw)
			if err != nil {
				return fmt.Errorf("decoding %s: %w", k.name, err)
			}
			_, err = fmt.Fprint(c.OutOrStdout(), d)
			return err
		},
	}
}

func (a *app) deleteCmd(k kindSpec) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a " + k.name,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := a.client().do(c.Context(), http.MethodDelete, k.path(args[0]), a.writeQuery(), nil); err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), []byte(fmt.Sprintf(`{"deleted":%q}`, args[0])))
			}
			fmt.Fprintf(c.OutOrStdout(), "%s %s deleted\n", k.name, args[0])
			return nil
		},
	}
}

// subnetsFlag parses repeated CIDR=GATEWAY values into the VN's subnets
// (an empty value clears them on update).
func subnetsFlag(fs *pflag.FlagSet, f field) (any, error) {
	vals, err := fs.GetStringArray(f.flag)
	if err != nil {
		return nil, err
	}
	out := []model.Subnet{}
	for _, v := range vals {
		if v == "" {
			continue
		}
		cidr, gw, ok := strings.Cut(v, "=")
		if !ok || cidr == "" || gw == "" {
			return nil, fmt.Errorf("--%s %q: want CIDR=GATEWAY (like 10.0.1.0/24=10.0.1.1)", f.flag, v)
		}
		out = append(out, model.Subnet{CIDR: cidr, Gateway: gw})
	}
	return out, nil
}
