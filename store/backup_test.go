package store

import (
	"bytes"
	"context"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

// TestBackupRestore: a backup of a store with VNs, NVEs and ports,
// restored into a new node's empty data dir, gives a one-node cluster with
// the same objects at the same revisions; later writes get higher ones;
// restoring over existing state is refused.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("real TCP transport and boltdb")
	}
	ctx := context.Background()
	src := openTCP(t, "old1", nil, "")
	if _, err := src.CreateVN(ctx, "", model.VN{Name: "blue", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateVN(ctx, "", model.VN{Name: "red"}); err != nil {
		t.Fatal(err)
	}
	for i, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		if _, err := src.CreateNVE(ctx, "", testNVE([]string{"hv1", "hv2"}[i], ip)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.UpdateVNIf(ctx, "", model.VN{Name: "red", MTU: 1400}, 0); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rev, err := src.WriteBackup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := src.Snapshot()
	if rev != want.Revision {
		t.Fatalf("backup revision %d, store at %d", rev, want.Revision)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	backup := buf.Bytes()
	got, err := RestoreBackup(RestoreConfig{NodeID: "new1", DataDir: dir, RaftAddr: raftAddr}, bytes.NewReader(backup))
	if err != nil || got != rev {
		t.Fatalf("restore: %d %v, want %d", got, err, rev)
	}
	if _, err := RestoreBackup(RestoreConfig{NodeID: "new1", DataDir: dir, RaftAddr: raftAddr}, bytes.NewReader(backup)); err == nil || !strings.Contains(err.Error(), "already holds raft state") {
		t.Fatalf("restore over existing state: %v", err)
	}
	if _, err := RestoreBackup(RestoreConfig{NodeID: "x", DataDir: t.TempDir(), RaftAddr: raftAddr}, strings.NewReader(`{"format":1}`+"\n")); err == nil {
		t.Fatal("a truncated backup was restored")
	}

	cfg := clusterConfig(t, "new1")
	cfg.DataDir, cfg.RaftAddr = dir, raftAddr
	cfg.Bootstrap = true // a no-op: the restored state exists
	dst, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	waitFor(t, 10*time.Second, "the restored node to lead", func() bool { return dst.stateCurrent() })
	have := dst.Snapshot()
	if !reflect.DeepEqual(have.VNs, want.VNs) || !reflect.DeepEqual(have.NVEs, want.NVEs) || !reflect.DeepEqual(have.Ports.Map(), want.Ports.Map()) {
		t.Fatalf("restored objects differ:\n got %+v\nwant %+v", have, want)
	}
	if have.Revision < rev {
		t.Fatalf("restored revision %d < %d", have.Revision, rev)
	}
	info, err := dst.Cluster(ctx)
	if err != nil || len(info.Nodes) != 1 || info.Nodes[0].ID != "new1" || !info.Nodes[0].Voter {
		t.Fatalf("restored cluster: %+v %v", info, err)
	}
	for _, n := range dst.Nodes() {
		if n.ID == "old1" {
			t.Fatal("the old cluster's member metadata came along")
		}
	}
	vn, err := dst.CreateVN(ctx, "", model.VN{Name: "after"})
	if err != nil {
		t.Fatal(err)
	}
	if vn.Revision <= rev {
		t.Fatalf("write after restore at revision %d, not above the backup's %d", vn.Revision, rev)
	}
	if _, err := dst.CreateVN(ctx, "", model.VN{Name: "blue"}); !isKind(err, model.KindConflict) {
		t.Fatalf("restored VN not enforced as existing: %v", err)
	}
}
