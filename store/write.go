package store

import (
	"context"

	"github.com/nva-project/nva/app/model"
)

// write encodes and proposes one command, returning domain errors as
// *model.Error.
func (s *Store) write(ctx context.Context, t cmdType, b cmdBody) (*result, error) {
	if b.ReqID == "" {
		b.ReqID = newReqID()
	}
	data, err := encodeCommand(t, b)
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

// CreateVN creates a VN; VNI 0 allocates the lowest free VNI.
func (s *Store) CreateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error) {
	if err := precheckVN(vn); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdCreateVN, cmdBody{ReqID: reqID, VN: &vn})
	if err != nil {
		return nil, err
	}
	return res.VN, nil
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
	if err := precheckVN(vn); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdUpdateVN, cmdBody{ReqID: reqID, VN: &vn, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	return res.VN, nil
}

// DeleteVN deletes a VN that has no ports; it returns the raft index.
func (s *Store) DeleteVN(ctx context.Context, reqID, name string) (uint64, error) {
	return s.del(ctx, cmdDeleteVN, reqID, name)
}

// CreateNVE creates an NVE; an ovs NVE without datapath_id gets one.
func (s *Store) CreateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	if err := precheckNVE(nve); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdCreateNVE, cmdBody{ReqID: reqID, NVE: &nve})
	if err != nil {
		return nil, err
	}
	return res.NVE, nil
}

// UpdateNVE replaces an existing NVE (by name). An empty datapath_id keeps
// the current one.
func (s *Store) UpdateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	return s.UpdateNVEIf(ctx, reqID, nve, 0)
}

// UpdateNVEIf is UpdateNVE made conditional: it applies only if the
// stored object's Revision is still expectRev, and otherwise fails with a
// *model.Error of KindConflict on field "revision" (IsRevisionConflict)
// and changes nothing. expectRev 0 is unconditional. The check is made by
// the FSM, so it is atomic with the update on every node.
func (s *Store) UpdateNVEIf(ctx context.Context, reqID string, nve model.NVE, expectRev uint64) (*model.NVE, error) {
	if err := precheckNVE(nve); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdUpdateNVE, cmdBody{ReqID: reqID, NVE: &nve, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	return res.NVE, nil
}

// DeleteNVE deletes an NVE that has no ports; it returns the raft index.
func (s *Store) DeleteNVE(ctx context.Context, reqID, name string) (uint64, error) {
	return s.del(ctx, cmdDeleteNVE, reqID, name)
}

// CreatePort attaches a port; its VN and NVE must exist.
func (s *Store) CreatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error) {
	if err := precheckPort(p); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdCreatePort, cmdBody{ReqID: reqID, Port: &p})
	if err != nil {
		return nil, err
	}
	return res.Port, nil
}

// UpdatePort replaces an existing port (by name).
func (s *Store) UpdatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error) {
	return s.UpdatePortIf(ctx, reqID, p, 0)
}

// UpdatePortIf is UpdatePort made conditional: it applies only if the
// stored object's Revision is still expectRev, and otherwise fails with a
// *model.Error of KindConflict on field "revision" (IsRevisionConflict)
// and changes nothing. expectRev 0 is unconditional. The check is made by
// the FSM, so it is atomic with the update on every node.
func (s *Store) UpdatePortIf(ctx context.Context, reqID string, p model.Port, expectRev uint64) (*model.Port, error) {
	if err := precheckPort(p); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, cmdUpdatePort, cmdBody{ReqID: reqID, Port: &p, ExpectRevision: expectRev})
	if err != nil {
		return nil, err
	}
	return res.Port, nil
}

// DeletePort deletes a port; it returns the raft index.
func (s *Store) DeletePort(ctx context.Context, reqID, name string) (uint64, error) {
	return s.del(ctx, cmdDeletePort, reqID, name)
}

func (s *Store) del(ctx context.Context, t cmdType, reqID, name string) (uint64, error) {
	if name == "" {
		return 0, model.Errorf(model.KindInvalid, "name", "name is required")
	}
	res, err := s.write(ctx, t, cmdBody{ReqID: reqID, Name: name})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// precheckVN, precheckNVE and precheckPort run the stateless validation on
// a copy before anything is proposed, so bad input costs no log entry. The
// FSM checks again, with the state.
func precheckVN(v model.VN) error {
	v.Defaults()
	return v.Validate()
}

func precheckNVE(n model.NVE) error {
	n.UnderlayIPs = append([]string(nil), n.UnderlayIPs...)
	n.Defaults()
	return n.Validate()
}

func precheckPort(p model.Port) error {
	p.IPs = append([]string(nil), p.IPs...)
	p.Defaults()
	return p.Validate()
}

func ptr[T any](v T) *T { return &v }
