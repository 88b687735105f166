package ovstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killPidfile kills the daemon named by pidfile with SIGKILL and waits
// until it is gone. A missing pidfile or process is not an error.
func killPidfile(pidfile string) error {
	b, err := os.ReadFile(pidfile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("bad pidfile %s: %q", pidfile, b)
	}
	return killPid(pid)
}

// killPid sends SIGKILL and waits up to five seconds for the process to go.
func killPid(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if !alive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %d still alive 5s after SIGKILL", pid)
}

// alive reports whether pid is a live process. A zombie counts as gone:
// detached daemons are reparented to PID 1, which on these machines can
// take a long time to reap them.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

// sweep deletes the namespaces and run directories named prefix<pid>...
// whose process is gone, killing what still runs in those namespaces.
// Names without a dash after the pid (an older convention) count too.
func sweep(t testing.TB, prefix string) {
	stale := func(name string) bool {
		if !strings.HasPrefix(name, prefix) {
			return false
		}
		s, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		pid, err := strconv.Atoi(s)
		return err == nil && pid != os.Getpid() && !alive(pid)
	}
	if entries, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range entries {
			if stale(e.Name()) {
				t.Logf("ovstest: removing stale network namespace %s", e.Name())
				killNetns(e.Name())
				_ = exec.Command("ip", "netns", "delete", e.Name()).Run()
			}
		}
	}
	if entries, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range entries {
			if e.IsDir() && stale(e.Name()) {
				_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
			}
		}
	}
}
