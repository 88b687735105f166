package store

import (
	"context"

	"github.com/nva-project/nva/app/model"
)

// The write path: the node that takes a request prepares the command
// (defaults and the stateless validation, so bad input costs no log entry
// and the log holds complete objects), encodes it and proposes it through
// the leader (retry.go), which rejects early what its current state already
// refuses (rejectEarly); the FSM applies it in log order.

// write prepares, encodes and proposes one command, returning domain
// errors as *model.Error.
func (s *Store) write(ctx context.Context, c command) (*result, error) {
	if err := c.prepare(); err != nil {
		return nil, err
	}
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, data)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res, nil
}

// orNewReqID is reqID, or a fresh one for a request that came without.
func orNewReqID(reqID string) string {
	if reqID == "" {
		return newReqID()
	}
	return reqID
}

// createObject, updateObject and deleteObject are the one write path of every object kind.

func createObject[T any, K objectKind[T]](ctx context.Context, s *Store, reqID string, obj T) (*T, error) {
	res, err := s.write(ctx, &createCmd[T, K]{ReqID: orNewReqID(reqID), Obj: obj})
	if err != nil {
		return nil, err
	}
	var k K
	return k.fromResult(res), nil
}

func updateObject[T any, K objectKind[T]](ctx context.Context, s *Store, reqID string, obj T, expectRev uint64) (*T, error) {
	res, err := s.write(ctx, &updateCmd[T, K]{ReqID: orNewReqID(reqID), Obj: obj, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	var k K
	return k.fromResult(res), nil
}

func deleteObject[T any, K objectKind[T]](ctx context.Context, s *Store, reqID, name string) (uint64, error) {
	res, err := s.write(ctx, &deleteCmd[T, K]{ReqID: orNewReqID(reqID), Name: name})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// rejectEarly judges an encoded command on the leader before it is
// appended, so that what the FSM would reject costs no log entry: the
// stateless rules again (a forwarded command was prepared by another
// node), then, when this node's state holds every acknowledged write
// (stateCurrent), the rules that depend on the state. nil means: append
// it; the FSM has the last word either way.
func (s *Store) rejectEarly(data []byte) *model.Error {
	d, err := decodeCommand(data)
	if err != nil {
		return nil // the FSM skips or stops on it; handleApply refuses it
	}
	if err := d.cmd.prepare(); err != nil {
		return asModelError(err)
	}
	if !s.stateCurrent() {
		return nil
	}
	return s.fsm.check(d)
}

// The Store's write methods, each one line over the generic path.

// CreateVN creates a VN; VNI 0 allocates the lowest free VNI.
func (s *Store) CreateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error) {
	return createObject[model.VN, vnKind](ctx, s, reqID, vn)
}

// UpdateVN replaces an existing VN (by name). VNI 0 keeps the current VNI.
func (s *Store) UpdateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error) {
	return s.UpdateVNIf(ctx, reqID, vn, 0)
}

// UpdateVNIf is UpdateVN made conditional: it applies only if the
// stored object's Revision is still expectRev, and otherwise fails with a
// *model.Error of KindConflict on field "revision" (IsRevisionConflict)
// and changes nothing. expectRev 0 is unconditional. The check is made by
// the FSM, so it is atomic with the update on every node.
func (s *Store) UpdateVNIf(ctx context.Context, reqID string, vn model.VN, expectRev uint64) (*model.VN, error) {
	return updateObject[model.VN, vnKind](ctx, s, reqID, vn, expectRev)
}

// DeleteVN deletes a VN that has no ports; it returns the raft index.
func (s *Store) DeleteVN(ctx context.Context, reqID, name string) (uint64, error) {
	return deleteObject[model.VN, vnKind](ctx, s, reqID, name)
}

// CreateNVE creates an NVE; an ovs NVE without datapath_id gets one.
func (s *Store) CreateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	return createObject[model.NVE, nveKind](ctx, s, reqID, nve)
}

// UpdateNVE replaces an existing NVE (by name). An empty datapath_id keeps
// the current one.
func (s *Store) UpdateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	return s.UpdateNVEIf(ctx, reqID, nve, 0)
}

// UpdateNVEIf is UpdateNVE made conditional, as UpdateVNIf is.
func (s *Store) UpdateNVEIf(ctx context.Context, reqID string, nve model.NVE, expectRev uint64) (*model.NVE, error) {
	return updateObject[model.NVE, nveKind](ctx, s, reqID, nve, expectRev)
}

// DeleteNVE deletes an NVE that has no ports; it returns the raft index.
func (s *Store) DeleteNVE(ctx context.Context, reqID, name string) (uint64, error) {
	return deleteObject[model.NVE, nveKind](ctx, s, reqID, name)
}

// CreatePort attaches a port; its VN and NVE must exist.
func (s *Store) CreatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error) {
	return createObject[model.Port, portKind](ctx, s, reqID, p)
}

// UpdatePort replaces an existing port (by name).
func (s *Store) UpdatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error) {
	return s.UpdatePortIf(ctx, reqID, p, 0)
}

// UpdatePortIf is UpdatePort made conditional, as UpdateVNIf is.
func (s *Store) UpdatePortIf(ctx context.Context, reqID string, p model.Port, expectRev uint64) (*model.Port, error) {
	return updateObject[model.Port, portKind](ctx, s, reqID, p, expectRev)
}

// DeletePort deletes a port; it returns the raft index.
func (s *Store) DeletePort(ctx context.Context, reqID, name string) (uint64, error) {
	return deleteObject[model.Port, portKind](ctx, s, reqID, name)
}
