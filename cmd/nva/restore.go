package main

// nva restore: a new cluster from a backup (nvactl snapshot save). The
// backup is written into an empty data directory as the raft state of a
// one-node cluster of this node; start nva on it with the same
// --node-id, --data-dir and --raft-addr, then join the other (empty)
// nodes to it. Never restore into a live cluster: its members would
// diverge.

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nva-project/nva/cmd/nva/daemon"
	"github.com/nva-project/nva/store"
)

func runRestore(args []string, stdout, stderr io.Writer) int {
	def := daemon.DefaultSettings()
	fs := flag.NewFlagSet("nva restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "backup file written by nvactl snapshot save (required)")
	dir := fs.String("data-dir", def.DataDir, "data directory of the new node (must hold no raft state)")
	id := fs.String("node-id", def.NodeID, "node ID of the new node")
	raftAddr := fs.String("raft-addr", def.RaftAddr, "the --raft-addr the new node will run with")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: nva restore --from FILE [--data-dir DIR] [--node-id ID] [--raft-addr HOST:PORT]\n\nWrites a backup into an empty data directory as a new one-node cluster.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *from == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	f, err := os.Open(*from)
	if err != nil {
		fmt.Fprintf(stderr, "nva restore: %v\n", err)
		return 1
	}
	defer f.Close()
	rev, err := store.RestoreBackup(store.RestoreConfig{NodeID: *id, DataDir: *dir, RaftAddr: *raftAddr}, f)
	if err != nil {
		fmt.Fprintf(stderr, "nva restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored revision %d into %s as a new cluster of node %s; start it with: nva --node-id %s --data-dir %s --raft-addr %s ...\n",
		rev, *dir, *id, *id, *dir, *raftAddr)
	return 0
}
