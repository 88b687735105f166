package store

import "fmt"

// FatalError is why a node's FSM stopped applying commands: a committed
// command it cannot decode (unknown type or version, or a body it cannot
// read) that lacks the ignore-if-unknown flag, typically written by a newer
// version. Skipping it would let this node's state silently differ from the
// other members', so the node stops instead, as Consul does: its state
// stays frozen at index Applied, nothing after the command is applied, it
// refuses writes and consistent reads (with this error), hands leadership
// away, and takes no more snapshots, so that its log keeps the command.
// Upgrade the node and restart it: it then replays the log from its last
// snapshot.
type FatalError struct {
	Index   uint64 // raft index of the command
	Type    uint8  // its type byte (ignore flag included)
	Version uint8  // its version byte
	Applied uint64 // the index the node's state is frozen at
	Err     error  // why it cannot be decoded
}

func (e *FatalError) Error() string {
	return fmt.Sprintf("store: cannot apply the command at raft index %d (type 0x%02x, version %d): %v; "+
		"this node's state is frozen at index %d: upgrade this node", e.Index, e.Type, e.Version, e.Err, e.Applied)
}

func (e *FatalError) Unwrap() error { return e.Err }

// Fatal returns a channel that is closed when this node's FSM has stopped
// for good (see FatalError); Err then says why. The daemon should exit
// non-zero when it closes. Config.OnFatal is the same signal as a callback.
func (s *Store) Fatal() <-chan struct{} { return s.fsm.haltCh }

// Err returns the *FatalError that stopped this node's FSM, or nil while it
// runs.
func (s *Store) Err() error { return s.fsm.err() }

// stop halts the FSM at the command at idx (f.mu held for writing): it
// records why, wakes whoever waits for an index, logs, and calls OnFatal.
func (f *fsm) stop(idx uint64, data []byte, err error) *FatalError {
	e := &FatalError{Index: idx, Applied: f.applied, Err: err}
	if len(data) > 0 {
		e.Type = data[0]
	}
	if len(data) > 1 {
		e.Version = data[1]
	}
	f.halt = e
	close(f.haltCh)
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.log.Error("FSM stopped: a committed command cannot be decoded and has no ignore flag; "+
		"this node applies nothing more: upgrade this node",
		"index", idx, "type", fmt.Sprintf("0x%02x", e.Type), "version", e.Version, "applied", e.Applied, "err", err)
	if f.onFatal != nil {
		go f.onFatal(e)
	}
	return e
}

// err is the halt error, or nil.
func (f *fsm) err() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.halt == nil {
		return nil
	}
	return f.halt
}
