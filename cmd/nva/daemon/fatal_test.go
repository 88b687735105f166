package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// A node whose Raft log holds a committed command this binary cannot
// decode (and may not skip: a newer version's) does not serve a silently
// diverged state: Run stops with the store's fatal error, so nva exits 1.
func TestRunExitsWhenTheStoreHalts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nva-data")
	cfg := testConfig(t, "nva1", dir, freeAddr(t))
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, "POST", d.APIURL()+"/api/v1/vns", `{"name":"blue"}`); code != 201 {
		d.Close()
		t.Fatalf("create VN: %d %s", code, body)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Append, as a newer leader would have, a command of a type this
	// version does not know and may not ignore (0x7f, no ignore flag).
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, raftLogFile)})
	if err != nil {
		t.Fatal(err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var prev raft.Log
	if err := logs.GetLog(last, &prev); err != nil {
		t.Fatal(err)
	}
	if err := logs.StoreLog(&raft.Log{Index: last + 1, Term: prev.Term, Type: raft.LogCommand, Data: []byte{0x7f, 1, '{', '}'}}); err != nil {
		t.Fatal(err)
	}
	logs.Close()

	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "upgrade this node") {
			t.Fatalf("Run = %v, want the store's fatal error", err)
		}
	case <-time.After(2 * time.Minute): // a bound for a loaded CI machine, not a timing assert
		t.Fatal("Run did not stop on the undecodable command")
	}
}
