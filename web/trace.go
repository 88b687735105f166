package web

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/trace"
	"github.com/nva-project/nva/web/wire"
)

// Tracer simulates a packet through the compiled pipelines of the NVEs
// it crosses (POST /api/v1/traces); the daemon wires app/trace. A bad
// request is a *trace.InputError.
type Tracer interface {
	Trace(ctx context.Context, snap *model.Snapshot, req trace.Request) (*trace.Result, error)
}

// handleTrace answers POST /api/v1/traces. Admins, operators and readers
// may trace from any port; a tenant only from (and to) a port in its
// scope, and sees no underlay detail (flow texts, packets with tunnel
// fields, underlay addresses): only the stages, verdicts, NVEs, VNIs and
// ports.
func (s *Server) handleTrace(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.TraceRequest
	if err := decodeStrict(b, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Port == "" {
		writeError(w, badRequest("port", "port is required"))
		return
	}
	snap, err := s.unscopedSnapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p := s.auth.principalFrom(r.Context())
	if p.scoped() {
		scope := scopeSnapshot(p, snap)
		if _, ok := scope.Ports.Lookup(req.Port); !ok {
			writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "port", "port %q not found", req.Port))
			return
		}
		if _, ok := scope.Ports.Lookup(req.ToPort); req.ToPort != "" && !ok {
			writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "to_port", "port %q not found", req.ToPort))
			return
		}
	}
	if req.Live && !p.mayWrite() {
		writeError(w, forbidden("live", "a live trace sends a packet: the %s role may only simulate", p.role))
		return
	}
	if req.WaitMS < 0 || req.WaitMS > maxLiveWaitMS {
		writeError(w, badRequest("wait_ms", "%d: want 0 (default %d) to %d", req.WaitMS, ofDefaultLiveWaitMS, maxLiveWaitMS))
		return
	}
	if s.tracer == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "", "tracing is not available on this node"))
		return
	}
	treq := trace.Request{
		Port: req.Port, ToPort: req.ToPort, EthSrc: req.EthSrc, EthDst: req.EthDst, VLAN: req.VLAN,
		Protocol: req.Protocol, SrcIP: req.SrcIP, DstIP: req.DstIP, SrcPort: req.SrcPort, DstPort: req.DstPort, ARPOp: req.ARPOp,
	}
	res, err := s.tracer.Trace(r.Context(), snap, treq)
	var live *wire.LiveTrace
	if err == nil && req.Live {
		live, err = s.liveTrace(r.Context(), snap, treq, res, time.Duration(req.WaitMS)*time.Millisecond, p.scoped())
	}
	var ie *trace.InputError
	switch {
	case errors.As(err, &ie) && (ie.Field == "port" || ie.Field == "to_port"):
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, ie.Field, "%s", ie.Msg))
		return
	case errors.As(err, &ie):
		writeError(w, badRequest(ie.Field, "%s", ie.Msg))
		return
	case err != nil:
		writeError(w, err)
		return
	}
	out := traceWire(res, p.scoped())
	out.Live = live
	writeJSON(w, http.StatusOK, out)
}

// Live traces (POST /api/v1/traces with live: true).
const (
	maxLiveWaitMS        = 10000
	ofDefaultLiveWaitMS  = 2000
	liveNonceLen         = 12
	liveNoncePrefix      = "nvatrace"
	liveUnavailableField = "live"
)

// LiveTracer injects a marked packet at its source VAP and observes it on
// the NVEs named (the southbound, ofctl.Southbound.LiveTrace, wired by
// the daemon).
type LiveTracer interface {
	LiveTrace(ctx context.Context, snap *model.Snapshot, pkt *trace.LivePacket, observe []string, wait time.Duration) (*trace.Observed, error)
	// LiveTraceError classifies an error of LiveTrace: the HTTP status to
	// answer with (0: an internal error).
	LiveTraceError(err error) int
}

// liveTrace runs the live trace of treq and compares it with the
// simulated res.
func (s *Server) liveTrace(ctx context.Context, snap *model.Snapshot, treq trace.Request, res *trace.Result, wait time.Duration, tenant bool) (*wire.LiveTrace, error) {
	if s.liveTracer == nil {
		return nil, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, liveUnavailableField, "live traces are not available on this node (no southbound)")
	}
	nonce := make([]byte, liveNonceLen)
	copy(nonce, liveNoncePrefix)
	if _, err := rand.Read(nonce[len(liveNoncePrefix):]); err != nil {
		return nil, err
	}
	pkt, err := trace.LiveFrame(snap, treq, binary.BigEndian.Uint16(nonce[len(nonce)-2:]), nonce)
	if err != nil {
		return nil, err
	}
	obs, err := s.liveTracer.LiveTrace(ctx, snap, pkt, trace.NVEsToObserve(snap, treq, res), wait)
	if err != nil {
		if st := s.liveTracer.LiveTraceError(err); st != 0 {
			code := wire.CodeConflict
			if st == http.StatusServiceUnavailable {
				code = wire.CodeUnavailable
			}
			return nil, newAPIError(st, code, liveUnavailableField, "%s", err.Error())
		}
		return nil, err
	}
	lr := trace.Assemble(obs)
	mism := trace.Compare(res, lr)
	tr := traceWire(&trace.Result{Hops: lr.Hops, Delivered: lr.Delivered, Dropped: lr.Dropped}, tenant)
	out := &wire.LiveTrace{Hops: tr.Hops, Delivered: tr.Delivered, Dropped: lr.Dropped, Unobserved: lr.Unobserved,
		Complete: lr.Complete, Match: len(mism) == 0 && lr.Complete, Mismatches: mism, Errors: lr.Errors}
	if tenant {
		out.Errors = nil
	}
	return out, nil
}

// traceWire is the API form of a trace; tenant strips the underlay.
func traceWire(res *trace.Result, tenant bool) wire.TraceResult {
	out := wire.TraceResult{Packet: res.Packet, VN: res.VN, Dropped: res.Dropped, Errors: res.Errors,
		Hops: []wire.TraceHop{}, Delivered: []wire.TraceDelivery{}}
	for _, d := range res.Delivered {
		out.Delivered = append(out.Delivered, wire.TraceDelivery{NVE: d.NVE, Port: d.Port, Kind: d.Kind})
	}
	for _, h := range res.Hops {
		wh := wire.TraceHop{NVE: h.NVE, Profile: h.Profile, Arrival: h.Arrival, Drop: h.Drop,
			Steps: []wire.TraceStep{}, Outputs: []wire.TraceOutput{}}
		for _, st := range h.Steps {
			ws := wire.TraceStep{Table: st.Table, Number: st.Number, Stages: st.Stages, Flow: st.Flow,
				Decision: st.Decision, Verdict: st.Verdict, Goto: st.Goto}
			if tenant {
				ws.Flow, ws.Decision = "", st.Verdict
			}
			wh.Steps = append(wh.Steps, ws)
		}
		for _, o := range h.Outputs {
			wo := wire.TraceOutput{Port: o.Port, Controller: o.Controller, Packet: o.Packet}
			if o.Tunnel != nil {
				wo.Tunnel = &wire.TraceTunnel{Encap: o.Tunnel.Encap, RemoteNVE: o.Tunnel.RemoteNVE, RemoteIP: o.Tunnel.RemoteIP, VNI: o.Tunnel.VNI}
				if tenant {
					wo.Tunnel.RemoteIP, wo.Packet = "", ""
				}
			}
			wh.Outputs = append(wh.Outputs, wo)
		}
		out.Hops = append(out.Hops, wh)
	}
	if tenant {
		out.Errors = nil
		if len(res.Errors) > 0 {
			out.Errors = []string{"the simulation reported errors; ask an operator"}
		}
	}
	return out
}
