package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// traceCmd is `nvactl trace PORT [flags]`: POST /api/v1/traces, printed
// per NVE (each table, the flow matched, its decision; tunnels; where
// every copy ended or why it was dropped).
func (a *app) traceCmd() *cobra.Command {
	var req wire.TraceRequest
	var vlan int
	cmd := &cobra.Command{
		Use:   "trace PORT",
		Short: "Simulate a packet from a port through the compiled pipeline of every NVE it crosses",
		Long: `Simulate a packet entering by PORT through nva's compiled pipeline of every
NVE it crosses, following tunnels. eth_src defaults to the port's MAC; with
--to PORT the destination MAC and address default to that port's.

Examples:
  nvactl trace vm1 --to vm2                       # ICMP vm1 -> vm2
  nvactl trace vm1 --to vm2 --proto udp --dport 53
  nvactl trace vm1 --proto arp --dst-ip 10.0.0.7  # ARP request (broadcast)
  nvactl trace vm1 --to vm2 --eth-src 02:00:00:00:99:99   # spoofed source
  nvactl trace vm1 --to vm2 --live                # also send a real marked packet

With --live nva also injects the packet, marked with the DSCP codepoint 63
nva reserves for traces, at the source VAP (OVS NVEs only) and reports where
it really went on every NVE, and whether that matches the simulation.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req.Port = args[0]
			if c.Flags().Changed("vlan") {
				req.VLAN = &vlan
			}
			raw, err := a.client().do(c.Context(), http.MethodPost, "/api/v1/traces", nil, req)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var res wire.TraceResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("decoding the trace: %w", err)
			}
			printTrace(c.OutOrStdout(), &res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.ToPort, "to", "", "destination port: its MAC and address are the defaults")
	f.StringVar(&req.EthSrc, "eth-src", "", "source MAC (default: the port's)")
	f.StringVar(&req.EthDst, "eth-dst", "", "destination MAC (default: --to's, broadcast for arp)")
	f.IntVar(&vlan, "vlan", 0, "802.1Q VLAN the frame carries (default: the port's; 0 untagged)")
	f.StringVar(&req.Protocol, "proto", "icmp", "arp, icmp, tcp or udp")
	f.StringVar(&req.SrcIP, "src-ip", "", "source address (default: the port's)")
	f.StringVar(&req.DstIP, "dst-ip", "", "destination address (default: --to's)")
	f.Uint16Var(&req.SrcPort, "sport", 0, "UDP source port")
	f.Uint16Var(&req.DstPort, "dport", 0, "UDP destination port")
	f.Uint16Var(&req.ARPOp, "arp-op", 0, "ARP operation (default 1, request)")
	f.BoolVar(&req.Live, "live", false, "also send a real packet (marked, DSCP 63) and observe it on the NVEs (OVS NVEs; not for arp)")
	f.IntVar(&req.WaitMS, "wait-ms", 0, "with --live: how long to wait for the packet, in ms (default 2000)")
	return cmd
}

func printTrace(w io.Writer, res *wire.TraceResult) {
	fmt.Fprintf(w, "packet (VN %s): %s\n", res.VN, res.Packet)
	printHops(w, res.Hops, res.Delivered, res.Dropped, res.Errors)
	if l := res.Live; l != nil {
		fmt.Fprintf(w, "\n=== live trace (the real packet) ===\n")
		printHops(w, l.Hops, l.Delivered, l.Dropped, l.Errors)
		for _, n := range sortedKeys(l.Unobserved) {
			fmt.Fprintf(w, "unobserved: NVE %s: %s\n", n, l.Unobserved[n])
		}
		if !l.Complete {
			fmt.Fprintln(w, "live: incomplete (the wait ran out with a path unfinished)")
		}
		if l.Match {
			fmt.Fprintln(w, "live: MATCHES the simulation")
		} else {
			fmt.Fprintln(w, "live: DIFFERS from the simulation")
			for _, m := range l.Mismatches {
				fmt.Fprintf(w, "  mismatch: %s\n", m)
			}
		}
	}
}

func printHops(w io.Writer, hops []wire.TraceHop, delivered []wire.TraceDelivery, dropped bool, errs []string) {
	for _, h := range hops {
		if h.Profile != "" {
			fmt.Fprintf(w, "\nNVE %s (profile %s), in by %s\n", h.NVE, h.Profile, h.Arrival)
		} else {
			fmt.Fprintf(w, "\nNVE %s, in by %s\n", h.NVE, h.Arrival)
		}
		for _, s := range h.Steps {
			fmt.Fprintf(w, "  %s (table %d, stage %s)\n", s.Table, s.Number, strings.Join(s.Stages, "/"))
			if s.Flow != "" {
				fmt.Fprintf(w, "    flow: %s\n", s.Flow)
			}
			fmt.Fprintf(w, "    -> %s\n", s.Decision)
		}
		for _, o := range h.Outputs {
			switch {
			case o.Tunnel != nil:
				remote := o.Tunnel.RemoteNVE
				if o.Tunnel.RemoteIP != "" {
					remote += " (" + o.Tunnel.RemoteIP + ")"
				}
				fmt.Fprintf(w, "  out: tunnel %s VNI %d to %s\n", o.Tunnel.Encap, o.Tunnel.VNI, remote)
			case o.Controller:
				fmt.Fprintf(w, "  out: controller (packet-in; nva answers)\n")
			default:
				fmt.Fprintf(w, "  out: port %s\n", o.Port)
			}
		}
		if h.Drop != "" {
			fmt.Fprintf(w, "  DROP: %s\n", h.Drop)
		}
	}
	fmt.Fprintln(w)
	if dropped {
		fmt.Fprintln(w, "result: dropped (no copy delivered)")
	}
	for _, d := range delivered {
		where := "port " + d.Port
		switch d.Kind {
		case "controller":
			where = "the controller"
		case "in_port":
			where = "port " + d.Port + " (back where it came from)"
		}
		fmt.Fprintf(w, "result: delivered on %s to %s\n", d.NVE, where)
	}
	for _, e := range errs {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
