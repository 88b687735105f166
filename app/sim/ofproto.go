package sim

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/flow"
)

var traceOutput = regexp.MustCompile(`^\s*(output:(\d+)|IN_PORT|CONTROLLER(:\d+)?)\s*$`)

// OFProtoTracePorts lists the OpenFlow ports that an
// `ovs-appctl ofproto/trace` run sends the packet to, sorted, so a test can
// compare a real switch with Result.Ports. An output still counts when the
// datapath cannot deliver it (a tunnel output without an underlay route:
// "native tunnel routing failed"); outputs OVS skips because they are the
// ingress port are left out, as the simulator leaves them out; IN_PORT
// counts as inPort, a CONTROLLER action as flow.PortController.
func OFProtoTracePorts(trace string, inPort uint32) []uint32 {
	lines := strings.Split(trace, "\n")
	var out []uint32
	for i, l := range lines {
		m := traceOutput.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if i+1 < len(lines) && strings.Contains(lines[i+1], "skipping output to input port") {
			continue
		}
		if m[1] == "IN_PORT" {
			out = append(out, inPort)
			continue
		}
		if strings.HasPrefix(m[1], "CONTROLLER") {
			out = append(out, flow.PortController)
			continue
		}
		n, err := strconv.ParseUint(m[2], 10, 32)
		if err == nil {
			out = append(out, uint32(n))
		}
	}
	slices.Sort(out)
	return out
}
