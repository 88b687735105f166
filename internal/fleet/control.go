package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// The fleet runs in a process of its own (`nva-lab fleet`), so that its
// thousands of goroutines do not delay the harness that times nva's
// answers. The harness (Remote) drives it over the child's stdin and
// stdout, which only the parent holds: one JSON request per line, one JSON
// answer each, in order. The child's stderr is its log.

// Control operations.
const (
	opStart        = "start"         // Layout, Controllers, Dir -> Endpoints
	opTotals       = "totals"        // -> Stats
	opSessions     = "sessions"      // -> Opened, Ended
	opConnected    = "connected"     // Want -> N
	opResetSilence = "reset_silence" // ->
	opTables       = "tables"        // -> Flows, Groups
	opSwitchTables = "switch_tables" // Switches -> Tables
	opRestart      = "restart"       // ->
	opErr          = "err"           // -> FleetErr
	opClose        = "close"         // -> (the child exits)
)

type controlRequest struct {
	Op          string   `json:"op"`
	Layout      *Layout  `json:"layout,omitempty"`
	Controllers []string `json:"controllers,omitempty"`
	Dir         string   `json:"dir,omitempty"`
	Want        int      `json:"want,omitempty"`
	Switches    []int    `json:"switches,omitempty"`
}

// TableCount is how many flows and groups one switch holds.
type TableCount struct {
	Flows  int `json:"flows"`
	Groups int `json:"groups"`
}

type controlReply struct {
	Error     string       `json:"error,omitempty"` // the request failed
	FleetErr  string       `json:"fleet_err,omitempty"`
	Endpoints []string     `json:"endpoints,omitempty"`
	Stats     *SwitchStats `json:"stats,omitempty"`
	Opened    uint64       `json:"opened,omitempty"`
	Ended     uint64       `json:"ended,omitempty"`
	N         int          `json:"n,omitempty"`
	Tables    []TableCount `json:"tables,omitempty"`
}

// ServeControl runs a fleet for the parent process: it reads requests
// from r and writes one answer to each to w, until a close request or the
// end of r (the parent went away). The fleet is closed on return.
func ServeControl(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	enc := json.NewEncoder(w)
	var f *Fleet
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		var req controlRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a control request: %w", err)
		}
		rep, done := serveOne(&f, req)
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("answering %s: %w", req.Op, err)
		}
		if done {
			return nil
		}
	}
}

// serveOne answers one request; done: the parent asked the fleet to end.
func serveOne(fp **Fleet, req controlRequest) (rep controlReply, done bool) {
	f := *fp
	switch req.Op {
	case opStart, opTotals, opSessions, opConnected, opResetSilence, opTables, opSwitchTables, opRestart, opErr, opClose:
	default:
		return controlReply{Error: fmt.Sprintf("unknown operation %q", req.Op)}, false
	}
	if f == nil && req.Op != opStart && req.Op != opClose {
		return controlReply{Error: req.Op + ": the fleet is not started"}, false
	}
	switch req.Op {
	case opStart:
		if f != nil {
			return controlReply{Error: "start: the fleet is already started"}, false
		}
		if req.Layout == nil {
			return controlReply{Error: "start: no layout"}, false
		}
		nf, err := Start(*req.Layout, req.Controllers, req.Dir)
		if err != nil {
			return controlReply{Error: "start: " + err.Error()}, false
		}
		*fp = nf
		for j := range nf.Switches {
			rep.Endpoints = append(rep.Endpoints, nf.OVSDBEndpoint(j))
		}
	case opTotals:
		t := f.Totals()
		rep.Stats = &t
	case opSessions:
		rep.Opened, rep.Ended = f.OVSDBSessions()
	case opConnected:
		rep.N = f.Connected(req.Want)
	case opResetSilence:
		f.ResetSilence()
	case opTables:
		var t TableCount
		t.Flows, t.Groups = f.Tables()
		rep.Tables = []TableCount{t}
	case opSwitchTables:
		for _, j := range req.Switches {
			if j < 0 || j >= len(f.Switches) {
				return controlReply{Error: fmt.Sprintf("switch_tables: no switch %d (the fleet has %d)", j, len(f.Switches))}, false
			}
			var t TableCount
			t.Flows, t.Groups = f.Switches[j].Tables()
			rep.Tables = append(rep.Tables, t)
		}
	case opRestart:
		f.Restart()
	case opErr:
		if err := f.Err(); err != nil {
			rep.FleetErr = err.Error()
		}
	case opClose:
		if f != nil {
			f.Close()
			*fp = nil
		}
		return rep, true
	}
	return rep, false
}

// controlTimeout bounds one request to the fleet process (starting or
// closing thousands of switches included).
const controlTimeout = 2 * time.Minute

// Remote is a fleet running in a child process (ServeControl), driven by
// the harness. Once the child fails (it exited, broke the protocol or did
// not answer within controlTimeout), every method returns zero values and
// Lost reports why.
type Remote struct {
	Layout Layout
	// Endpoints are the NVEs' OVSDB endpoints ("" for openflow NVEs).
	Endpoints []string

	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	exited chan struct{}
	log    *os.File

	mu   sync.Mutex // one request at a time
	lost error
}

// StartRemote starts argv (a command that runs ServeControl on its stdin
// and stdout, e.g. `nva-lab fleet`) with its stderr appended to logPath,
// and starts the fleet in it: the same as Start(l, controllers, dir) in
// this process.
func StartRemote(ctx context.Context, argv []string, logPath string, l Layout, controllers []string, dir string) (*Remote, error) {
	if len(argv) == 0 {
		return nil, errors.New("fleet process: no command")
	}
	if err := l.Check(); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fleet process log: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logf
	// Its own process group (a Ctrl-C reaches only the harness, which
	// closes the fleet in order), and killed with the harness if that
	// dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting the fleet process: %w", err)
	}
	r := &Remote{
		Layout: l, cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, log: logf,
		enc: json.NewEncoder(stdin), dec: json.NewDecoder(stdout), exited: make(chan struct{}),
	}
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		if r.lost == nil {
			r.lost = fmt.Errorf("the fleet process exited: %v (log %s)", err, logPath)
		}
		r.mu.Unlock()
		close(r.exited)
	}()
	rep, err := r.call(ctx, controlRequest{Op: opStart, Layout: &l, Controllers: controllers, Dir: dir})
	if err != nil {
		r.Close()
		return nil, err
	}
	if len(rep.Endpoints) != l.NVEs {
		r.Close()
		return nil, fmt.Errorf("fleet process: %d switches started, want %d", len(rep.Endpoints), l.NVEs)
	}
	r.Endpoints = rep.Endpoints
	return r, nil
}

// Pid is the fleet process's ID.
func (r *Remote) Pid() int { return r.pid }

// call sends one request and waits for its answer.
func (r *Remote) call(ctx context.Context, req controlRequest) (controlReply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost != nil {
		return controlReply{}, r.lost
	}
	type result struct {
		rep controlReply
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		if res.err = r.enc.Encode(req); res.err == nil {
			res.err = r.dec.Decode(&res.rep)
		}
		done <- res
	}()
	t := time.NewTimer(controlTimeout)
	defer t.Stop()
	var res result
	select {
	case res = <-done:
	case <-t.C:
		res.err = fmt.Errorf("no answer within %s", controlTimeout)
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	if res.err != nil {
		// The protocol is out of step: the fleet process is of no
		// further use.
		r.lost = fmt.Errorf("fleet process: %s: %w", req.Op, res.err)
		_ = r.cmd.Process.Kill()
		return controlReply{}, r.lost
	}
	if res.rep.Error != "" {
		return controlReply{}, fmt.Errorf("fleet process: %s", res.rep.Error)
	}
	return res.rep, nil
}

// do is call for the methods that have no error result: a failure is
// kept for Lost and Err.
func (r *Remote) do(req controlRequest) controlReply {
	rep, _ := r.call(context.Background(), req)
	return rep
}

// Lost is why the fleet process can no longer be used (nil: it can).
func (r *Remote) Lost() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// OVSDBEndpoint is NVE j's OVSDB endpoint ("" for openflow NVEs).
func (r *Remote) OVSDBEndpoint(j int) string {
	if j < len(r.Endpoints) {
		return r.Endpoints[j]
	}
	return ""
}

// Totals is Fleet.Totals.
func (r *Remote) Totals() SwitchStats {
	if t := r.do(controlRequest{Op: opTotals}).Stats; t != nil {
		return *t
	}
	return SwitchStats{}
}

// OVSDBSessions is Fleet.OVSDBSessions.
func (r *Remote) OVSDBSessions() (opened, ended uint64) {
	rep := r.do(controlRequest{Op: opSessions})
	return rep.Opened, rep.Ended
}

// Connected is Fleet.Connected.
func (r *Remote) Connected(want int) int {
	return r.do(controlRequest{Op: opConnected, Want: want}).N
}

// ResetSilence is Fleet.ResetSilence.
func (r *Remote) ResetSilence() { r.do(controlRequest{Op: opResetSilence}) }

// Tables is Fleet.Tables.
func (r *Remote) Tables() (flows, groups int) {
	rep := r.do(controlRequest{Op: opTables})
	if len(rep.Tables) != 1 {
		return 0, 0
	}
	return rep.Tables[0].Flows, rep.Tables[0].Groups
}

// SwitchTables is how many flows and groups each of the given switches
// (by NVE index) holds, in the same order.
func (r *Remote) SwitchTables(ctx context.Context, switches ...int) ([]TableCount, error) {
	rep, err := r.call(ctx, controlRequest{Op: opSwitchTables, Switches: switches})
	if err != nil {
		return nil, err
	}
	if len(rep.Tables) != len(switches) {
		return nil, fmt.Errorf("fleet process: %d tables for %d switches", len(rep.Tables), len(switches))
	}
	return rep.Tables, nil
}

// Restart is Fleet.Restart (a cold restart: every switch's tables are
// wiped).
func (r *Remote) Restart() { r.do(controlRequest{Op: opRestart}) }

// Err is the first error a simulated vswitchd reported, or why the fleet
// process failed (nil: neither).
func (r *Remote) Err() error {
	rep, err := r.call(context.Background(), controlRequest{Op: opErr})
	if err != nil {
		return err
	}
	if rep.FleetErr != "" {
		return errors.New(rep.FleetErr)
	}
	return nil
}

// Close closes the fleet and waits for its process to exit (killing it
// after 30s).
func (r *Remote) Close() {
	r.mu.Lock()
	lost := r.lost
	r.mu.Unlock()
	if lost == nil {
		_, _ = r.call(context.Background(), controlRequest{Op: opClose})
	}
	_ = r.stdin.Close()
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.log.Close()
}
