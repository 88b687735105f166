package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// bgCmd is a background command the lab kills on Close (captures, pings,
// iperf servers). It runs in its own process group.
type bgCmd struct {
	l      *Lab
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startBG starts a background command inside namespace ns.
func (l *Lab) startBG(ns string, name string, args ...string) (*bgCmd, error) {
	n, a := nsArgs(ns, name, args...)
	cmd := exec.Command(n, a...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b := &bgCmd{l: l, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = b.stdout
	cmd.Stderr = b.stderr
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("lab: closed")
	}
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("lab: starting %s: %w", name, err)
	}
	l.bg[b] = struct{}{}
	l.mu.Unlock()
	go func() {
		b.err = cmd.Wait()
		l.mu.Lock()
		delete(l.bg, b)
		l.mu.Unlock()
		close(b.done)
	}()
	return b, nil
}

// signal sends sig to the command's process group.
func (b *bgCmd) signal(sig syscall.Signal) {
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, sig)
	}
}

// wait waits for the command to end or ctx to expire (then kills it).
func (b *bgCmd) wait(ctx context.Context) error {
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		b.kill()
		return ctx.Err()
	}
}

// kill ends the command: SIGINT, then SIGKILL after a second.
func (b *bgCmd) kill() {
	b.signal(syscall.SIGINT)
	select {
	case <-b.done:
	case <-time.After(time.Second):
		b.signal(syscall.SIGKILL)
		<-b.done
	}
}

// Proc is a long-running process started by Spawn (typically nva). Its
// output goes to a log file in the lab directory that is copied into the
// failure artifacts; a process left behind by a dead test run is killed by
// the next lab's sweep.
type Proc struct {
	Name string
	Log  string // path of the log file (output appended across restarts)

	cmd  *exec.Cmd
	id   procID
	done chan struct{}
	err  error
}

// Spawn starts cmd (in the root namespace) as a lab-managed process.
// Its stdout and stderr are appended to <lab dir>/<name>.log unless the
// caller set them. The process is stopped on Close.
func (l *Lab) Spawn(name string, cmd *exec.Cmd) (*Proc, error) {
	logPath := filepath.Join(l.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	fmt.Fprintf(f, "==== %s start %s: %s\n", name, time.Now().UTC().Format(time.RFC3339Nano), cmd.String())
	if cmd.Stdout == nil {
		cmd.Stdout = f
	} else {
		cmd.Stdout = io.MultiWriter(cmd.Stdout, f)
	}
	if cmd.Stderr == nil {
		cmd.Stderr = f
	} else {
		cmd.Stderr = io.MultiWriter(cmd.Stderr, f)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		f.Close()
		return nil, errors.New("lab: closed")
	}
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		f.Close()
		return nil, fmt.Errorf("lab: starting %s: %w", name, err)
	}
	id, _ := idOf(cmd.Process.Pid)
	p := &Proc{Name: name, Log: logPath, cmd: cmd, id: id, done: make(chan struct{})}
	l.procs = append(l.procs, p)
	known := false
	for _, a := range l.artifacts {
		known = known || a == logPath
	}
	if !known {
		l.artifacts = append(l.artifacts, logPath)
	}
	l.mu.Unlock()
	// Record it for the sweep of a later run, should this one die.
	if pf, err := os.OpenFile(filepath.Join(l.Dir, "procs"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(pf, "%s %s\n", id, name)
		pf.Close()
	}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(f, "==== %s exit %s: %v\n", name, time.Now().UTC().Format(time.RFC3339Nano), p.err)
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.id.PID }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid after Done is closed.
func (p *Proc) Err() error { return p.err }

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns the exit error, if the process exited on its own
// terms with one.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("lab: %s did not exit within %v of SIGTERM; killed", p.Name, grace)
	}
}

// Kill kills the process at once (SIGKILL), as a crash would.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}
