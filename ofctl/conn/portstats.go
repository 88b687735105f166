package conn

import (
	"context"
	"encoding/binary"
	"fmt"

	"antrea.io/libOpenflow/openflow13"
)

// PortStat is one port's OFPMP_PORT_STATS entry (the counters nva uses).
type PortStat struct {
	PortNo               uint32
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxDropped, TxDropped uint64
	RxErrors, TxErrors   uint64
}

// portStatsLen is the length of an OpenFlow 1.3 ofp_port_stats entry.
const portStatsLen = 112

// PortStats returns the statistics of every port of the switch.
func (s *Switch) PortStats(ctx context.Context) ([]PortStat, error) {
	req := make([]byte, 8)
	binary.BigEndian.PutUint32(req[0:4], openflow13.P_ANY)
	body, err := s.Multipart(ctx, openflow13.MultipartType_Port, req)
	if err != nil {
		return nil, fmt.Errorf("port stats: %w", err)
	}
	return parsePortStats(body)
}

func parsePortStats(body []byte) ([]PortStat, error) {
	if len(body)%portStatsLen != 0 {
		return nil, fmt.Errorf("%w: port stats of %d bytes, not a multiple of %d", ErrMalformed, len(body), portStatsLen)
	}
	out := make([]PortStat, 0, len(body)/portStatsLen)
	for off := 0; off < len(body); off += portStatsLen {
		e := body[off : off+portStatsLen]
		u := func(i int) uint64 { return binary.BigEndian.Uint64(e[8+8*i:]) }
		out = append(out, PortStat{PortNo: binary.BigEndian.Uint32(e[0:4]),
			RxPackets: u(0), TxPackets: u(1), RxBytes: u(2), TxBytes: u(3),
			RxDropped: u(4), TxDropped: u(5), RxErrors: u(6), TxErrors: u(7)})
	}
	return out, nil
}
