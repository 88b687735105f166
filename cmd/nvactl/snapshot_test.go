package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
)

// TestSnapshotSave: nvactl snapshot save writes the server's consistent
// backup to a 0600 file that store.RestoreBackup accepts.
func TestSnapshotSave(t *testing.T) {
	ts, st := server(t, func(o *web.Options) { o.Backup = o.Backend.(*store.Store) })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue")
	path := filepath.Join(t.TempDir(), "backup.ndjson")
	if out := c.ok("snapshot", "save", path); !strings.Contains(out, "nva restore --from "+path) {
		t.Errorf("snapshot save said: %s", out)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(path)
	var want bytes.Buffer
	rev, err := st.WriteBackup(context.Background(), &want)
	if err != nil || !bytes.Equal(data, want.Bytes()) {
		t.Fatalf("saved backup differs from the store's at revision %d (%v):\n%s\nwant\n%s", rev, err, data, want.Bytes())
	}
	if _, err := store.RestoreBackup(store.RestoreConfig{NodeID: "r1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:1"}, bytes.NewReader(data)); err != nil {
		t.Fatalf("restoring the saved backup: %v", err)
	}
}
