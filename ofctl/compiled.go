package ofctl

import "github.com/nva-project/nva/app/compiler"

// compiledNVE is a worker's last compile of its NVE, published for readers
// on other goroutines: the traffic counters attribute flow statistics by
// cookie with it, so they need no compiler cache (nor compile) of their
// own. Its Result holds the Slices only (the compiler cache's, immutable
// and shared; the array is the one the worker's record of the installed
// state holds too; its flows are the slices'): not the Groups and
// Warnings, which no reader needs.
type compiledNVE struct {
	nve   string
	res   compiler.Result // Slices only
	ports portView
}

// publish records the worker's last compile of nve.
func (w *worker) publish(nve string, res compiler.Result, ports portView) {
	w.compiled.Store(&compiledNVE{nve: nve, res: compiler.Result{Slices: res.Slices}, ports: ports})
}

// lastCompile is the worker's last compile of nve (nil: none yet, or of
// another NVE).
func (w *worker) lastCompile(nve string) *compiledNVE {
	c := w.compiled.Load()
	if c == nil || c.nve != nve {
		return nil
	}
	return c
}
