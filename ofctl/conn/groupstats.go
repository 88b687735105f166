package conn

import (
	"context"
	"encoding/binary"
	"fmt"

	"antrea.io/libOpenflow/openflow13"
)

// GroupStat is one group's OFPMP_GROUP entry: the packets and bytes the
// group processed and, per bucket in the group's bucket order, the
// packets and bytes that bucket's actions were applied to.
type GroupStat struct {
	GroupID uint32
	Packets uint64
	Bytes   uint64
	Buckets []BucketStat
}

// BucketStat is one bucket's counters.
type BucketStat struct {
	Packets uint64
	Bytes   uint64
}

// Lengths of an OpenFlow 1.3 ofp_group_stats (without its buckets) and
// of an ofp_bucket_counter.
const (
	groupStatsLen   = 40
	bucketCounterLn = 16
)

// GroupStats returns the statistics of every group of the switch.
func (s *Switch) GroupStats(ctx context.Context) ([]GroupStat, error) {
	req := make([]byte, 8)
	binary.BigEndian.PutUint32(req[0:4], openflow13.OFPG_ALL)
	body, err := s.Multipart(ctx, openflow13.MultipartType_Group, req)
	if err != nil {
		return nil, fmt.Errorf("group stats: %w", err)
	}
	return parseGroupStats(body)
}

func parseGroupStats(body []byte) ([]GroupStat, error) {
	var out []GroupStat
	for off := 0; off < len(body); {
		if len(body)-off < groupStatsLen {
			return nil, fmt.Errorf("%w: group stats entry at %d: %d bytes left, want at least %d", ErrMalformed, off, len(body)-off, groupStatsLen)
		}
		n := int(binary.BigEndian.Uint16(body[off:]))
		if n < groupStatsLen || off+n > len(body) || (n-groupStatsLen)%bucketCounterLn != 0 {
			return nil, fmt.Errorf("%w: group stats entry at %d: bad length %d", ErrMalformed, off, n)
		}
		e := body[off : off+n]
		g := GroupStat{GroupID: binary.BigEndian.Uint32(e[4:8]),
			Packets: binary.BigEndian.Uint64(e[16:24]), Bytes: binary.BigEndian.Uint64(e[24:32])}
		for b := groupStatsLen; b < n; b += bucketCounterLn {
			g.Buckets = append(g.Buckets, BucketStat{Packets: binary.BigEndian.Uint64(e[b:]), Bytes: binary.BigEndian.Uint64(e[b+8:])})
		}
		out = append(out, g)
		off += n
	}
	return out, nil
}
