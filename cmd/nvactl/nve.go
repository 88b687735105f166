package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nva-project/nva/app/model"
	"github.com/spf13/pflag"
)

// mapFlag is a KEY=VALUE flag's JSON object: a merge patch of the map, in
// which an empty VALUE is null (removes KEY on update). For "uint8map" the
// values are table numbers.
func mapFlag(fs *pflag.FlagSet, f field) (map[string]any, error) {
	kv, err := fs.GetStringToString(f.flag)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(kv))
	for k, v := range kv {
		switch {
		case k == "":
			return nil, fmt.Errorf("--%s %q: want KEY=VALUE", f.flag, k+"="+v)
		case v == "":
			out[k] = nil
		case f.kind == "uint8map":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return nil, fmt.Errorf("--%s %s=%s: %q is not a table number (0-254)", f.flag, k, v, v)
			}
			out[k] = n
		default:
			out[k] = v
		}
	}
	return out, nil
}

// dropNulls removes the null members of the maps in a create body.
func dropNulls(body map[string]any) {
	for _, v := range body {
		if m, ok := v.(map[string]any); ok {
			for k, mv := range m {
				if mv == nil {
					delete(m, k)
				}
			}
		}
	}
}

// nveStatus decodes an NVE's status ("" or null: none).
func nveStatus(raw json.RawMessage) *model.NVEStatus {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var st model.NVEStatus
	if json.Unmarshal(raw, &st) != nil {
		return nil
	}
	return &st
}

// profileName is an NVE's PROFILE column: the profile the southbound
// compiles it for, else the one it forces, else "" (its kind's default;
// the server runs no southbound to say which).
func profileName(nve *model.NVE, raw json.RawMessage) string {
	if st := nveStatus(raw); st != nil && st.OpenFlow != nil && st.OpenFlow.Profile != nil && st.OpenFlow.Profile.Name != "" {
		return st.OpenFlow.Profile.Name
	}
	return nve.Profile
}

// nveDetail is what nvactl nve get prints under the NVE's row: the
// profile in use with its tables and the table check, pinned table IDs,
// per-remote tunnel ports, and the warnings.
func nveDetail(raw json.RawMessage) (string, error) {
	var v struct {
		model.NVE
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	st := nveStatus(v.Status)
	var of *model.OpenFlowStatus
	if st != nil {
		of = st.OpenFlow
	}
	fmt.Fprintln(tw)
	switch {
	case of != nil && of.Profile != nil:
		p := of.Profile
		how := "the default of kind " + string(v.Kind)
		if p.Forced {
			how = "forced by the NVE's profile field"
		}
		fmt.Fprintf(tw, "profile:\t%s (%s)\n", p.Name, how)
		if p.Error != "" {
			fmt.Fprintf(tw, "profile error:\t%s\n", p.Error)
		} else {
			fmt.Fprintf(tw, "capabilities:\textensions=%v flow_tunnels=%v arp_in_switch=%v nd_in_switch=%v bundles=%v\n",
				p.Extensions, p.FlowTunnels, p.ARPInSwitch, p.NDInSwitch, p.Bundles)
			for i, t := range p.Tables {
				label := ""
				if i == 0 {
					label = "tables:"
				}
				pin := ""
				if _, ok := v.TableIDs[t.Name]; ok {
					pin = " (pinned)"
				}
				fmt.Fprintf(tw, "%s\t%d %s%s: %s\n", label, t.Number, t.Name, pin, strings.Join(t.Stages, ", "))
			}
		}
		check := p.TableCheck
		if check == "" {
			check = "not yet (the switch has not connected)"
		}
		fmt.Fprintf(tw, "table check:\t%s\n", check)
	default:
		name := v.Profile
		if name == "" {
			name = "the default of kind " + string(v.Kind)
		}
		fmt.Fprintf(tw, "profile:\t%s (the server reports no OpenFlow status)\n", name)
		for _, k := range slices.Sorted(maps.Keys(v.TableIDs)) {
			fmt.Fprintf(tw, "table id:\t%s=%d (pinned)\n", k, v.TableIDs[k])
		}
	}
	if id := v.SwitchIdentity; id != nil {
		if id.Fingerprint != "" {
			fmt.Fprintf(tw, "switch certificate:\t%s (pinned)\n", id.Fingerprint)
		}
		if id.Subject != "" {
			fmt.Fprintf(tw, "switch subject:\t%s (pinned)\n", id.Subject)
		}
	}
	if of != nil && len(of.TunnelPorts) > 0 {
		fmt.Fprintln(tw, "tunnel ports:")
		fmt.Fprintln(tw, "  REMOTE\tREMOTE-IP\tENCAP\tPORT\tSOURCE\tOFPORT")
		for _, tp := range of.TunnelPorts {
			no := "missing"
			if tp.OFPort != 0 {
				no = strconv.FormatUint(uint64(tp.OFPort), 10)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", tp.Remote, tp.RemoteIP, tp.Encap, tp.Port, tp.Source, no)
		}
	} else if len(v.TunnelPorts) > 0 {
		for _, ip := range slices.Sorted(maps.Keys(v.TunnelPorts)) {
			fmt.Fprintf(tw, "tunnel port:\t%s -> %s\n", ip, v.TunnelPorts[ip])
		}
	}
	if of != nil {
		for _, w := range of.Warnings {
			fmt.Fprintf(tw, "warning:\t%s\n", w)
		}
		if of.Sync == model.SyncError && of.LastError != "" {
			fmt.Fprintf(tw, "error:\t%s\n", of.LastError)
		}
	}
	if err := tw.Flush(); err != nil {
		return "", err
	}
	return b.String(), nil
}
