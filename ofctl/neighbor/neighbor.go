// Package neighbor owns nva's controller-side ARP and IPv6 neighbor
// responder for switches that cannot answer in their fast path (the strict
// OpenFlow 1.3 profile): the switch sends ARP requests and neighbor
// solicitations for known addresses to the controller (packet-in), and
// Handle answers each one with a packet-out of the ARP reply or solicited
// advertisement back out of the port it came in on. What is answered, and
// how the answer is built, is app/neighbor's business; this package adds
// the target lookup, a token-bucket rate limit per switch, and the metrics
// nva_neighbor_answers_total and nva_neighbor_drops_total{reason}.
//
// Wiring (the southbound's job): build one Responder, pass a function that
// calls Handle as ofctl/conn's Options.OnPacketIn (packet-ins are then
// delivered on each switch's own goroutine, so Handle may block briefly),
// and call Forget when a switch disconnects. Handle ignores nothing
// silently: a packet-in that is not a neighbor request is counted as
// not_answerable, so a southbound that also sends other packet-ins should
// dispatch on PacketIn.Cookie or TableID before calling Handle.
package neighbor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	nd "github.com/nva-project/nva/app/neighbor"
	"github.com/nva-project/nva/ofctl/conn"
)

// Switch is what the responder needs of a switch connection;
// *conn.Switch implements it.
type Switch interface {
	DPID() uint64
	PacketOut(ctx context.Context, inPort uint32, actions []conn.Action, data []byte) error
}

// Outcome is what Handle did with a packet-in: Answered, or the reason it
// was dropped (the reason label of nva_neighbor_drops_total).
type Outcome string

// Outcomes.
const (
	Answered Outcome = "answered"
	// UnknownTarget: Lookup does not know the target address. The switch
	// sends only known targets to the controller, so this is a race with
	// a port's removal, or a misprogrammed switch.
	UnknownTarget Outcome = "unknown_target"
	// RateLimited: the switch's token bucket was empty.
	RateLimited Outcome = "rate_limited"
	// NotAnswerable: not a request nva answers (app/neighbor's classes
	// other than Answerable: replies, probes, DAD, gratuitous ARP, NS
	// without a source link-layer option, a port asking for its own
	// address), or not ARP/ICMPv6 at all.
	NotAnswerable Outcome = "not_answerable"
	// Malformed: a truncated or invalid ARP or ICMPv6 frame.
	Malformed Outcome = "malformed"
	// SendFailed: the packet-out could not be sent (connection down).
	SendFailed Outcome = "send_failed"
)

// Options configure a Responder.
type Options struct {
	// Lookup returns the MAC that owns req.TargetIP in the VN the
	// packet-in belongs to (the southbound knows it from the switch, the
	// in_port and the metadata). Required.
	Lookup func(dpid uint64, pi conn.PacketIn, req *nd.Request) (targetMAC net.HardwareAddr, ok bool)
	// RatePerSwitch is the sustained number of requests per second one
	// switch may have answered (default 100); Burst the bucket's size
	// (default 2 x RatePerSwitch, at least 1).
	RatePerSwitch float64
	Burst         int
	// Now is the clock of the token buckets (default time.Now).
	Now func() time.Time
	// Registerer, if set, gets the responder's metrics.
	Registerer prometheus.Registerer
	// Actions, if set, gives the packet-out's actions and in_port for an
	// answer; the default sends the answer back out of the in_port
	// (OutputAction(PortInPort)) unchanged. The answer carries the VLAN
	// tags the request had in the packet-in's data; a southbound whose
	// pipeline pops a VAP's tag before sending the request to the
	// controller re-tags here (PushVLANAction, SetVLANVIDAction).
	Actions func(dpid uint64, pi conn.PacketIn, req *nd.Request) (inPort uint32, actions []conn.Action)
	// Logger receives drops (debug) and send failures (warn); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Responder answers neighbor requests from packet-ins.
type Responder struct {
	opts    Options
	answers prometheus.Counter
	drops   *prometheus.CounterVec

	mu      sync.Mutex
	buckets map[uint64]*bucket
}

// bucket is a token bucket: tokens refill at rate per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// New checks opts and returns a Responder.
func New(opts Options) (*Responder, error) {
	if opts.Lookup == nil {
		return nil, errors.New("neighbor responder: Options.Lookup is required")
	}
	if opts.RatePerSwitch < 0 || opts.Burst < 0 {
		return nil, fmt.Errorf("neighbor responder: negative rate %v or burst %d", opts.RatePerSwitch, opts.Burst)
	}
	if opts.RatePerSwitch == 0 {
		opts.RatePerSwitch = 100
	}
	if opts.Burst == 0 {
		opts.Burst = max(1, int(2*opts.RatePerSwitch))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Responder{
		opts: opts,
		answers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "neighbor", Name: "answers_total",
			Help: "ARP requests and IPv6 neighbor solicitations answered by the controller (packet-in, packet-out).",
		}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "neighbor", Name: "drops_total",
			Help: "Neighbor packet-ins not answered, by reason (unknown_target, rate_limited, not_answerable, malformed, send_failed).",
		}, []string{"reason"}),
		buckets: make(map[uint64]*bucket),
	}
	for _, o := range []Outcome{UnknownTarget, RateLimited, NotAnswerable, Malformed, SendFailed} {
		r.drops.WithLabelValues(string(o)) // every reason exported from the start, at 0
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.answers, r.drops} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("neighbor responder metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Handle answers the request a packet-in carries, if it is one nva
// answers, the switch is within its rate and Lookup knows the target. It
// returns what it did (also counted in the metrics).
func (r *Responder) Handle(sw Switch, pi conn.PacketIn) Outcome {
	out, detail := r.handle(sw, pi)
	if out == Answered {
		r.answers.Inc()
		return out
	}
	r.drops.WithLabelValues(string(out)).Inc()
	level := slog.LevelDebug
	if out == SendFailed {
		level = slog.LevelWarn
	}
	r.opts.Logger.Log(context.Background(), level, "neighbor request not answered",
		"dpid", fmt.Sprintf("%016x", sw.DPID()), "in_port", pi.Match.InPort, "reason", string(out), "detail", detail)
	return out
}

func (r *Responder) handle(sw Switch, pi conn.PacketIn) (Outcome, string) {
	req, err := nd.Parse(pi.Data)
	switch {
	case errors.Is(err, nd.ErrNotNeighbor):
		return NotAnswerable, err.Error()
	case err != nil:
		return Malformed, err.Error()
	}
	if c := req.Class(); c != nd.Answerable {
		return NotAnswerable, fmt.Sprintf("%s %s", req.Proto, c)
	}
	dpid := sw.DPID()
	if !r.take(dpid) {
		return RateLimited, ""
	}
	mac, ok := r.opts.Lookup(dpid, pi, req)
	if !ok {
		return UnknownTarget, req.TargetIP.String()
	}
	if c := req.ClassFor(mac); c != nd.Answerable {
		return NotAnswerable, fmt.Sprintf("%s for %s: %s", req.Proto, req.TargetIP, c)
	}
	frame, err := nd.Reply(req, mac)
	if err != nil {
		// Lookup returned a MAC no answer can carry (multicast, zero).
		return UnknownTarget, err.Error()
	}
	inPort, actions := pi.Match.InPort, []conn.Action{conn.OutputAction(conn.PortInPort)}
	if r.opts.Actions != nil {
		inPort, actions = r.opts.Actions(dpid, pi, req)
	}
	if err := sw.PacketOut(context.Background(), inPort, actions, frame); err != nil {
		return SendFailed, err.Error()
	}
	return Answered, ""
}

// take consumes a token of dpid's bucket, if there is one.
func (r *Responder) take(dpid uint64) bool {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[dpid]
	if b == nil {
		b = &bucket{tokens: float64(r.opts.Burst), last: now}
		r.buckets[dpid] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(r.opts.Burst), b.tokens+el.Seconds()*r.opts.RatePerSwitch)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Forget drops a switch's token bucket (call it when the switch
// disconnects; a reconnecting switch starts with a full bucket).
func (r *Responder) Forget(dpid uint64) {
	r.mu.Lock()
	delete(r.buckets, dpid)
	r.mu.Unlock()
}

// Describe and Collect make the Responder a prometheus.Collector of its two
// metrics, for a component that registers its collectors itself (the
// southbound's RegisterMetrics) instead of passing Options.Registerer.
func (r *Responder) Describe(ch chan<- *prometheus.Desc) {
	r.answers.Describe(ch)
	r.drops.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Responder) Collect(ch chan<- prometheus.Metric) {
	r.answers.Collect(ch)
	r.drops.Collect(ch)
}
