package codec

import (
	"fmt"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
)

// encodeActions converts IR actions to libOpenflow actions.
func (c *Codec) encodeActions(acts []flow.Action) ([]openflow13.Action, error) {
	out := make([]openflow13.Action, 0, len(acts))
	for i, a := range acts {
		oa, err := c.encodeAction(a)
		if err != nil {
			return nil, fmt.Errorf("action %d: %w", i, err)
		}
		out = append(out, oa)
	}
	return out, nil
}

func (c *Codec) encodeAction(a flow.Action) (openflow13.Action, error) {
	switch a := a.(type) {
	case flow.Output:
		o := openflow13.NewActionOutput(a.Port)
		o.MaxLen = 0
		if a.Port == flow.PortController {
			o.MaxLen = a.MaxLen
		}
		return o, nil
	case *flow.Output:
		return c.encodeAction(*a)
	case flow.SetField:
		s, err := c.spec(a.Field, "set_field")
		if err != nil {
			return nil, err
		}
		mf, err := oxmField(s, a.Value, nil)
		if err != nil {
			return nil, fmt.Errorf("set_field: %w", err)
		}
		return openflow13.NewActionSetField(mf), nil
	case *flow.SetField:
		return c.encodeAction(*a)
	case flow.Move:
		if !c.opts.AllowNicira {
			return nil, fmt.Errorf("move %s->%s: reg_move is a Nicira extension, not allowed by this profile", a.Src, a.Dst)
		}
		src, err := c.spec(a.Src, "move source")
		if err != nil {
			return nil, err
		}
		dst, err := c.spec(a.Dst, "move destination")
		if err != nil {
			return nil, err
		}
		if _, _, x := wireClass(src); x {
			return nil, fmt.Errorf("move %s->%s: reg_move of experimenter fields is not supported", a.Src, a.Dst)
		}
		if _, _, x := wireClass(dst); x {
			return nil, fmt.Errorf("move %s->%s: reg_move of experimenter fields is not supported", a.Src, a.Dst)
		}
		if a.Bits <= 0 || a.SrcOfs < 0 || a.DstOfs < 0 ||
			a.SrcOfs+a.Bits > src.Bits || a.DstOfs+a.Bits > dst.Bits {
			return nil, fmt.Errorf("move %s[%d..+%d]->%s[%d..]: bit range outside the fields (%d and %d bits)",
				a.Src, a.SrcOfs, a.Bits, a.Dst, a.DstOfs, src.Bits, dst.Bits)
		}
		return openflow13.NewNXActionRegMove(uint16(a.Bits), uint16(a.SrcOfs), uint16(a.DstOfs), headerOnly(src), headerOnly(dst)), nil
	case *flow.Move:
		return c.encodeAction(*a)
	case flow.PushVLAN:
		et := a.EtherType
		if et == 0 {
			et = flow.EthTypeVLAN
		}
		return openflow13.NewActionPushVlan(et), nil
	case *flow.PushVLAN:
		return c.encodeAction(*a)
	case flow.PopVLAN, *flow.PopVLAN:
		return openflow13.NewActionPopVlan(), nil
	case flow.DecTTL, *flow.DecTTL:
		return openflow13.NewActionDecNwTtl(), nil
	case flow.Group:
		return openflow13.NewActionGroup(a.ID), nil
	case *flow.Group:
		return c.encodeAction(*a)
	case nil:
		return nil, fmt.Errorf("nil action")
	default:
		return nil, fmt.Errorf("action type %T has no OpenFlow 1.3 encoding", a)
	}
}

// isCanonicalActions reports whether canonicalActions(acts) equals acts
// (so acts can stand for it).
func isCanonicalActions(acts []flow.Action) bool {
	if len(acts) == 0 {
		return acts == nil
	}
	for _, a := range acts {
		switch x := a.(type) {
		case *flow.Output, *flow.SetField, *flow.Move, *flow.PushVLAN, *flow.PopVLAN, *flow.Group, *flow.DecTTL:
			return false
		case flow.Output:
			if x.Port != flow.PortController && x.MaxLen != 0 {
				return false
			}
		case flow.SetField:
			if x.Value != nil && len(x.Value) == 0 {
				return false
			}
		case flow.PushVLAN:
			if x.EtherType == 0 {
				return false
			}
		}
	}
	return true
}

// canonicalActions returns canonical copies of actions (nil when empty).
func canonicalActions(acts []flow.Action) []flow.Action {
	if len(acts) == 0 {
		return nil
	}
	out := make([]flow.Action, 0, len(acts))
	for _, a := range acts {
		switch x := a.(type) {
		case *flow.Output:
			a = *x
		case *flow.SetField:
			a = *x
		case *flow.Move:
			a = *x
		case *flow.PushVLAN:
			a = *x
		case *flow.PopVLAN:
			a = *x
		case *flow.Group:
			a = *x
		case *flow.DecTTL:
			a = *x
		}
		switch x := a.(type) {
		case flow.Output:
			if x.Port != flow.PortController {
				x.MaxLen = 0
			}
			a = x
		case flow.SetField:
			a = flow.SetField{Field: x.Field, Value: append([]byte(nil), x.Value...)}
		case flow.PushVLAN:
			if x.EtherType == 0 {
				x.EtherType = flow.EthTypeVLAN
			}
			a = x
		}
		out = append(out, a)
	}
	return out
}

func allOnes(b []byte) bool {
	for _, x := range b {
		if x != 0xff {
			return false
		}
	}
	return true
}
