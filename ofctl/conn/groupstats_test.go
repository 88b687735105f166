package conn

import (
	"encoding/binary"
	"errors"
	"testing"
)

func groupStatsEntry(id uint32, packets uint64, buckets ...uint64) []byte {
	e := make([]byte, groupStatsLen+bucketCounterLn*len(buckets))
	binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
	binary.BigEndian.PutUint32(e[4:8], id)
	binary.BigEndian.PutUint64(e[16:24], packets)
	binary.BigEndian.PutUint64(e[24:32], packets*10)
	for i, b := range buckets {
		binary.BigEndian.PutUint64(e[groupStatsLen+bucketCounterLn*i:], b)
		binary.BigEndian.PutUint64(e[groupStatsLen+bucketCounterLn*i+8:], b*10)
	}
	return e
}

func TestParseGroupStats(t *testing.T) {
	body := append(groupStatsEntry(200, 7, 7, 7, 3), groupStatsEntry(201, 0)...)
	got, err := parseGroupStats(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].GroupID != 200 || got[0].Packets != 7 || got[0].Bytes != 70 || len(got[0].Buckets) != 3 ||
		got[0].Buckets[2] != (BucketStat{Packets: 3, Bytes: 30}) || got[1].GroupID != 201 || len(got[1].Buckets) != 0 {
		t.Fatalf("got %+v", got)
	}
	for name, bad := range map[string][]byte{
		"short":         body[:30],
		"truncated":     body[:len(body)-8],
		"bucket length": func() []byte { e := groupStatsEntry(1, 1, 1); binary.BigEndian.PutUint16(e[0:2], 48); return e }(),
		"zero length":   make([]byte, 40),
	} {
		if _, err := parseGroupStats(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}
