package lab

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procID identifies a process across pid reuse: its pid and its start time
// in clock ticks since boot (field 22 of /proc/<pid>/stat).
type procID struct {
	PID   int
	Start uint64
}

func (p procID) String() string { return fmt.Sprintf("%d %d", p.PID, p.Start) }

func parseProcID(s string) (procID, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return procID{}, fmt.Errorf("bad process id %q", s)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return procID{}, fmt.Errorf("bad pid in %q: %w", s, err)
	}
	st, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return procID{}, fmt.Errorf("bad start time in %q: %w", s, err)
	}
	return procID{PID: pid, Start: st}, nil
}

// procStart reads a live process's start time; ok is false when it is gone.
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	// The command name (field 2) may contain spaces; fields after it are
	// counted from the closing parenthesis.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 || f[0] == "Z" {
		return 0, false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return st, true
}

func selfID() procID {
	st, _ := procStart(os.Getpid())
	return procID{PID: os.Getpid(), Start: st}
}

func idOf(pid int) (procID, bool) {
	st, ok := procStart(pid)
	return procID{PID: pid, Start: st}, ok
}

// alive reports whether the process p still runs (same pid, same start).
func (p procID) alive() bool {
	st, ok := procStart(p.PID)
	return ok && st == p.Start
}

// terminate sends SIGTERM to p if it is still the same process, waits up to
// grace for it to go, then sends SIGKILL.
func (p procID) terminate(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.alive() {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
}

// killPID terminates a pid read from the system (e.g. "ip netns pids").
func killPID(pid int, grace time.Duration) {
	if id, ok := idOf(pid); ok {
		id.terminate(grace)
	}
}

var errNoPidfile = errors.New("no pidfile")

// readPidfile reads an OVS-style pidfile.
func readPidfile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, errNoPidfile
		}
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// WriteOwnerFile records the calling process (pid and start time) in path,
// for StopOwner of another process to find it.
func WriteOwnerFile(path string) error {
	return os.WriteFile(path, []byte(selfID().String()+"\n"), 0o644)
}

// StopOwner stops the process recorded in path by WriteOwnerFile if it is
// still that same process: SIGTERM, then SIGKILL after grace. It reports
// whether a live process was found, and removes the file.
func StopOwner(path string, grace time.Duration) (bool, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer os.Remove(path)
	id, err := parseProcID(strings.TrimSpace(string(b)))
	if err != nil {
		return false, err
	}
	if !id.alive() {
		return false, nil
	}
	id.terminate(grace)
	return true, nil
}

// OwnerAlive reports whether the process recorded in path is running.
func OwnerAlive(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	id, err := parseProcID(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return id.PID, id.alive()
}
