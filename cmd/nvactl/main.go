// Command nvactl is the command-line client of nva's REST API v1: it
// creates, lists, shows, updates and deletes VNs, NVEs and ports, and shows
// and changes cluster membership, and manages API tokens. Output is a table
// by default, JSON with -o json; the server is --server or NVA_SERVER
// (http://127.0.0.1:8080), the token --token or NVA_TOKEN, the CA of an
// https:// server --ca-cert or NVA_CACERT.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// run executes nvactl with args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	root := newRootCmd(lookup)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}
