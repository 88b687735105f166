package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nva-project/nva/internal/fleet"
)

// nvaNode is one nva process the scale harness runs: fixed addresses and
// data directory across restarts.
type nvaNode struct {
	id                  string
	bin                 string
	api, raft, openflow string
	dataDir, logPath    string
	logLevel            string
	bootstrap           bool
	join                string // API URL of a member to join ("" for the first node)
	client              *fleet.Client
	cmd                 *exec.Cmd
	exited              chan struct{}
	exitErr             error
	started             time.Time
	extraArgs           []string
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func newNVANode(id, bin, dir, logLevel string) (*nvaNode, error) {
	n := &nvaNode{id: id, bin: bin, logLevel: logLevel, dataDir: filepath.Join(dir, id), logPath: filepath.Join(dir, id+".log")}
	for _, p := range []*string{&n.api, &n.raft, &n.openflow} {
		a, err := freePort()
		if err != nil {
			return nil, err
		}
		*p = a
	}
	n.client = fleet.NewClient("http://" + n.api)
	return n, nil
}

func (n *nvaNode) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func (n *nvaNode) pid() int {
	if !n.running() {
		return 0
	}
	return n.cmd.Process.Pid
}

// start runs the process and waits until its API answers.
func (n *nvaNode) start(ctx context.Context) error {
	if n.running() {
		return fmt.Errorf("%s already running", n.id)
	}
	args := []string{
		"--node-id", n.id, "--data-dir", n.dataDir,
		"--api-addr", n.api, "--raft-addr", n.raft, "--openflow-addr", n.openflow,
		"--log-level", n.logLevel,
	}
	if n.bootstrap {
		args = append(args, "--bootstrap")
	}
	if n.join != "" {
		if _, err := os.Stat(n.dataDir); err != nil { // joins only once
			args = append(args, "--join", n.join)
		}
	}
	args = append(args, n.extraArgs...)
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(append([]string{n.bin}, args...), " "))
	cmd := exec.Command(n.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (a Ctrl-C reaches the harness, which stops
	// nva in order), and killed with the harness if that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", n.id, err)
	}
	n.cmd, n.exited, n.started = cmd, make(chan struct{}), time.Now()
	go func() {
		n.exitErr = cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !n.running() {
			return fmt.Errorf("%s exited: %v (log %s)", n.id, n.exitErr, n.logPath)
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.client.Health(hctx)
		cancel()
		var ae *fleet.APIError
		if err == nil || errors.As(err, &ae) { // 503 no leader is an answer too
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: API not answering after 60s: %v (log %s)", n.id, err, n.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process: SIGTERM (SIGKILL after 30s), or SIGKILL at once
// when crash is set.
func (n *nvaNode) stop(crash bool) {
	if !n.running() {
		return
	}
	if crash {
		_ = n.cmd.Process.Kill()
	} else {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}
