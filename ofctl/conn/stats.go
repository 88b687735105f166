package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// flowStatsRequestBody encodes an ofp_flow_stats_request with an empty match.
func flowStatsRequestBody(tableID uint8, cookie, cookieMask uint64) []byte {
	b := make([]byte, 40)
	b[0] = tableID
	binary.BigEndian.PutUint32(b[4:8], openflow13.P_ANY)
	binary.BigEndian.PutUint32(b[8:12], openflow13.OFPG_ANY)
	binary.BigEndian.PutUint64(b[16:24], cookie)
	binary.BigEndian.PutUint64(b[24:32], cookieMask)
	binary.BigEndian.PutUint16(b[32:34], 1) // OFPMT_OXM
	binary.BigEndian.PutUint16(b[34:36], 4) // empty match, padded to 8
	return b
}

// FlowStatsRaw returns the ofp_flow_stats entries (one byte slice each,
// bounds-checked) of the flows in tableID (openflow13.OFPTT_ALL for all)
// whose cookie matches cookie under cookieMask.
func (s *Switch) FlowStatsRaw(ctx context.Context, tableID uint8, cookie, cookieMask uint64) ([][]byte, error) {
	parts, err := s.multipartParts(ctx, openflow13.MultipartType_Flow, flowStatsRequestBody(tableID, cookie, cookieMask))
	if err != nil {
		return nil, fmt.Errorf("flow stats: %w", err)
	}
	var out [][]byte
	for _, p := range parts { // each part holds whole entries (OVS's do) ...
		if out, err = appendFlowStats(out, p); err != nil {
			// ... else they are split across parts: join them.
			return splitFlowStats(slices.Concat(parts...))
		}
	}
	return out, nil
}

// FlowStats is FlowStatsRaw decoded with libOpenflow's FlowStats codec.
// Entries libOpenflow cannot decode (e.g. experimenter instructions) make it
// fail with ErrMalformed; FlowStatsRaw still returns them.
func (s *Switch) FlowStats(ctx context.Context, tableID uint8, cookie, cookieMask uint64) ([]*openflow13.FlowStats, error) {
	entries, err := s.FlowStatsRaw(ctx, tableID, cookie, cookieMask)
	if err != nil {
		return nil, err
	}
	return decodeFlowStats(entries)
}

func splitFlowStats(body []byte) ([][]byte, error) { return appendFlowStats(nil, body) }

// appendFlowStats appends the entries of body (one part) to out.
func appendFlowStats(out [][]byte, body []byte) ([][]byte, error) {
	for off := 0; off < len(body); {
		if len(body)-off < 56 {
			return nil, fmt.Errorf("%w: flow stats entry truncated at offset %d", ErrMalformed, off)
		}
		l := int(binary.BigEndian.Uint16(body[off:]))
		if l < 56 || off+l > len(body) {
			return nil, fmt.Errorf("%w: flow stats entry length %d at offset %d", ErrMalformed, l, off)
		}
		out = append(out, body[off:off+l])
		off += l
	}
	return out, nil
}

// checkFlowStatsEntry validates the match and instructions of one entry
// (as split by splitFlowStats) before libOpenflow decodes it.
func checkFlowStatsEntry(e []byte) error {
	ml, err := checkMatch(e[48:])
	if err != nil {
		return err
	}
	return checkInstructions(e[48+ml:])
}

func decodeFlowStats(entries [][]byte) ([]*openflow13.FlowStats, error) {
	out := make([]*openflow13.FlowStats, 0, len(entries))
	for i, e := range entries {
		if err := checkFlowStatsEntry(e); err != nil {
			return nil, fmt.Errorf("flow stats entry %d: %w", i, err)
		}
		fs := openflow13.NewFlowStats()
		if err := safeCall("flow stats", func() error { return fs.UnmarshalBinary(e) }); err != nil {
			return nil, fmt.Errorf("flow stats entry %d: %w", i, err)
		}
		out = append(out, fs)
	}
	return out, nil
}

// GroupDesc returns every group on the switch (OFPMP_GROUP_DESC), with the
// buckets decoded by libOpenflow; it fails with ErrMalformed if libOpenflow
// cannot decode a bucket (GroupDescRaw does not).
func (s *Switch) GroupDesc(ctx context.Context) ([]*GroupDesc, error) {
	body, err := s.Multipart(ctx, openflow13.MultipartType_GroupDesc, nil)
	if err != nil {
		return nil, fmt.Errorf("group desc: %w", err)
	}
	return parseGroupDesc(body)
}

// GroupDescRaw returns the ofp_group_desc entries (one byte slice each,
// framing checked, buckets not decoded) of every group on the switch.
func (s *Switch) GroupDescRaw(ctx context.Context) ([][]byte, error) {
	body, err := s.Multipart(ctx, openflow13.MultipartType_GroupDesc, nil)
	if err != nil {
		return nil, fmt.Errorf("group desc: %w", err)
	}
	return splitGroupDesc(body)
}

func splitGroupDesc(body []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(body); {
		if len(body)-off < 8 {
			return nil, fmt.Errorf("%w: group desc entry truncated at offset %d", ErrMalformed, off)
		}
		l := int(binary.BigEndian.Uint16(body[off:]))
		if l < 8 || off+l > len(body) {
			return nil, fmt.Errorf("%w: group desc entry length %d at offset %d", ErrMalformed, l, off)
		}
		out = append(out, body[off:off+l])
		off += l
	}
	return out, nil
}

func parseGroupDesc(body []byte) ([]*GroupDesc, error) {
	entries, err := splitGroupDesc(body)
	if err != nil {
		return nil, err
	}
	out := make([]*GroupDesc, 0, len(entries))
	for _, e := range entries {
		l := len(e)
		g := &GroupDesc{Type: e[2], GroupID: binary.BigEndian.Uint32(e[4:8]), Raw: append([]byte(nil), e...)}
		for p := 8; p < l; {
			if l-p < 16 {
				return nil, fmt.Errorf("%w: group %d bucket truncated", ErrMalformed, g.GroupID)
			}
			bl := int(binary.BigEndian.Uint16(e[p:]))
			if bl < 16 || p+bl > l {
				return nil, fmt.Errorf("%w: group %d bucket length %d", ErrMalformed, g.GroupID, bl)
			}
			if err := checkActions(e[p+16 : p+bl]); err != nil {
				return nil, fmt.Errorf("group %d: %w", g.GroupID, err)
			}
			var bk openflow13.Bucket
			if err := safeCall("bucket", func() error { return bk.UnmarshalBinary(e[p : p+bl]) }); err != nil {
				return nil, fmt.Errorf("group %d: %w", g.GroupID, err)
			}
			g.Buckets = append(g.Buckets, bk)
			p += bl
		}
		out = append(out, g)
	}
	return out, nil
}

// PortDesc queries the ports (OFPMP_PORT_DESC) and replaces the port table
// with the answer, in order with port-status events.
func (s *Switch) PortDesc(ctx context.Context) ([]PortInfo, error) {
	var ports []PortInfo
	var perr error
	_, err := s.multipart(ctx, openflow13.MultipartType_PortDesc, nil, func(c *call) {
		ports, perr = parsePortDesc(c.body())
		if perr == nil {
			s.setPorts(ports)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("port desc: %w", err)
	}
	return ports, perr
}

func parsePortDesc(body []byte) ([]PortInfo, error) {
	if len(body)%64 != 0 {
		return nil, fmt.Errorf("%w: port desc body of %d bytes is not a multiple of 64", ErrMalformed, len(body))
	}
	out := make([]PortInfo, 0, len(body)/64)
	for off := 0; off < len(body); off += 64 {
		p, err := decodePort(body[off : off+64])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Switch) setPorts(ports []PortInfo) {
	m := make(map[uint32]PortInfo, len(ports))
	for _, p := range ports {
		m[p.Number] = p
	}
	s.mu.Lock()
	s.ports, s.numbers = m, nil
	s.mu.Unlock()
}

// Bundle applies msgs atomically with an ONF bundle (OpenFlow 1.4 bundles
// as the ONF extension to OpenFlow 1.3 that OVS implements): open, one
// BUNDLE_ADD per message and a barrier, sent together (the switch answers
// in order, so the open's reply or error comes before the barrier's), to
// learn whether the open or any add was refused (then the bundle is
// discarded); then commit. Two round trips, not three: each one is a turn
// of the switch's main loop. Either all messages take effect or none
// does. The returned error is a *BatchError carrying the per-message
// OpenFlow errors when the switch named the failing messages, and wraps
// the commit's own error.
func (s *Switch) Bundle(ctx context.Context, msgs []util.Message) error {
	inner := make([][]byte, len(msgs))
	for i, m := range msgs {
		b, err := encode(m, 0)
		if err != nil {
			return fmt.Errorf("bundle message %d: %w", i, err)
		}
		inner[i] = b
	}
	return s.bundle(ctx, inner)
}

// BundleRaw is Bundle for messages already in wire form (see SendAllRaw);
// the caller's bytes are not changed (each add carries a copy).
func (s *Switch) BundleRaw(ctx context.Context, msgs [][]byte) error {
	for i, b := range msgs {
		if err := checkRaw(b); err != nil {
			return fmt.Errorf("bundle message %d: %w", i, err)
		}
	}
	return s.bundle(ctx, msgs)
}

func (s *Switch) bundle(ctx context.Context, inner [][]byte) error {
	for i, in := range inner {
		if err := checkBundleAdd(in); err != nil {
			return fmt.Errorf("bundle message %d: %w", i, err)
		}
	}
	id := s.nextBundle.Add(1)
	const flags = bundleFlagAtomic | bundleFlagOrdered
	open := &call{kind: kindReply, want: openflow13.Type_Experimenter, done: make(chan struct{})}
	barrier := &call{kind: kindReply, want: openflow13.Type_BarrierReply, done: make(chan struct{})}
	sink := &call{kind: kindSink, done: make(chan struct{})}
	var xids []uint32
	defer func() {
		s.mu.Lock()
		for _, x := range xids {
			if s.calls[x] == sink {
				delete(s.calls, x)
			}
		}
		s.mu.Unlock()
	}()
	sinkErrs := func() []*OFError {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]*OFError(nil), sink.errs...)
	}
	discard := func(cause error) error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.bundleCtl(dctx, id, bundleDiscardRequest, bundleDiscardReply, flags); err != nil {
			s.log.Warn("bundle discard failed", "bundle", id, "error", err)
		}
		return cause
	}
	var err error
	if xids, err = s.sendBundleAdds(id, flags, inner, open, sink, barrier); err != nil {
		s.abandon(open)
		s.abandon(barrier)
		return fmt.Errorf("bundle %d add %d: %w", id, len(xids)-1, err)
	}
	if err := s.wait(ctx, barrier); err != nil {
		s.abandon(open)
		return discard(fmt.Errorf("bundle %d: barrier after adds: %w", id, err))
	}
	// Answered before the barrier: waiting cannot block.
	if err := s.wait(ctx, open); err != nil {
		err = fmt.Errorf("bundle %d open: %w", id, err)
		if oe := (*OFError)(nil); errors.As(err, &oe) && oe.Type == openflow13.ET_BAD_REQUEST &&
			(oe.Code == openflow13.BRC_BAD_TYPE || oe.Code == openflow13.BRC_BAD_EXPERIMENTER || oe.Code == openflow13.BRC_BAD_EXP_TYPE) {
			// The switch does not know bundles: it refused the adds too
			// and has no bundle to discard.
			return err
		}
		return discard(err)
	}
	if err := checkBundleReply(open.raw, id, bundleOpenReply); err != nil {
		return discard(fmt.Errorf("bundle %d open: %w", id, err))
	}
	if errs := sinkErrs(); len(errs) > 0 {
		return discard(fmt.Errorf("bundle %d: adds refused, bundle discarded: %w", id, &BatchError{Errors: errs}))
	}
	if err := s.bundleCtl(ctx, id, bundleCommitRequest, bundleCommitReply, flags); err != nil {
		if errs := sinkErrs(); len(errs) > 0 {
			return fmt.Errorf("bundle %d commit: %w", id, errors.Join(err, &BatchError{Errors: errs}))
		}
		return fmt.Errorf("bundle %d commit: %w", id, err)
	}
	return nil
}

// sendBundleAdds sends the bundle's open request (registered for open),
// one BUNDLE_ADD per inner message (each accepted by checkBundleAdd) with
// consecutive xids registered for sink, and a barrier request (registered
// for barrier), in as few writes as possible (chunks of up to
// sendAllChunk bytes): a bundle of a few messages leaves in one write, so
// the switch can take it, and answer the open and the barrier, in one
// turn of its loop. It returns the adds' xids registered, on an error
// too (the last one is the add that failed).
func (s *Switch) sendBundleAdds(id uint32, flags uint16, inner [][]byte, open, sink, barrier *call) ([]uint32, error) {
	total := 2 * 24
	for _, in := range inner {
		total += 24 + len(in)
	}
	xids := make([]uint32, 0, len(inner))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	chunk := make([]byte, 0, min(total, sendAllChunk))
	xid := s.allocXidLocked()
	if err := s.register(open, xid); err != nil {
		return xids, err
	}
	chunk = append(chunk, bundleControl(id, bundleOpenRequest, flags, xid)...)
	for _, in := range inner {
		if len(chunk) > 0 && len(chunk)+24+len(in) > sendAllChunk {
			if err := s.writeLocked(chunk); err != nil {
				return xids, err
			}
			chunk = chunk[:0]
		}
		xid := s.allocXidLocked()
		xids = append(xids, xid)
		if err := s.register(sink, xid); err != nil {
			return xids, err
		}
		chunk = appendBundleAdd(chunk, id, flags, in, xid)
	}
	xid = s.allocXidLocked()
	if err := s.register(barrier, xid); err != nil {
		return xids, err
	}
	chunk = append(chunk, header(openflow13.Type_BarrierRequest, headerLen, xid)...)
	return xids, s.writeLocked(chunk)
}

func (s *Switch) bundleCtl(ctx context.Context, id uint32, typ, wantReply, flags uint16) error {
	raw, err := s.requestBytes(ctx, bundleControl(id, typ, flags, 0))
	if err != nil {
		return err
	}
	return checkBundleReply(raw, id, wantReply)
}

// checkBundleReply checks that raw is the bundle control reply of type
// wantReply for bundle id.
func checkBundleReply(raw []byte, id uint32, wantReply uint16) error {
	if len(raw) < 24 || binary.BigEndian.Uint32(raw[8:12]) != onfExperimenter ||
		binary.BigEndian.Uint32(raw[12:16]) != onftBundleControl {
		return fmt.Errorf("%w: unexpected reply to bundle control", ErrMalformed)
	}
	if got := binary.BigEndian.Uint16(raw[20:22]); got != wantReply || binary.BigEndian.Uint32(raw[16:20]) != id {
		return fmt.Errorf("%w: bundle control reply type %d for bundle %d, want %d for %d", ErrMalformed, got, binary.BigEndian.Uint32(raw[16:20]), wantReply, id)
	}
	return nil
}
