package store

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestPolicyCommands: create, update and delete of policy rules through the
// FSM, their admission against the domain's VNs and rules, their events,
// the snapshot view, and snapshot/restore.
func TestPolicyCommands(t *testing.T) {
	h := newHarness(t)
	sn := func(c, g string) []model.Subnet { return []model.Subnet{{CIDR: c, Gateway: g}} }
	h.ok(&createVN{Obj: model.VN{Name: "a1", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.0.1.0/24", "10.0.1.1")}})
	h.ok(&createVN{Obj: model.VN{Name: "a2", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.0.2.0/24", "10.0.2.1")}})
	h.ok(&createVN{Obj: model.VN{Name: "b1", Service: model.ServiceL3, Tenant: "beta", L3Domain: "prod", Subnets: sn("10.0.1.0/24", "10.0.1.1")}})
	rule := model.PolicyRule{Name: "r1", Tenant: "acme", L3Domain: "prod", Priority: 10,
		Source: model.PolicyEndpoint{VN: "a1"}, Dest: model.PolicyEndpoint{VN: "a2"}, Protocol: model.ProtoICMP}
	mk := func(edit func(*model.PolicyRule)) *createCmd[model.PolicyRule, policyKind] {
		r := rule
		edit(&r)
		c := &createCmd[model.PolicyRule, policyKind]{Obj: r}
		if err := c.prepare(); err != nil {
			t.Fatalf("prepare: %v", err)
		}
		return c
	}
	res := h.ok(mk(func(*model.PolicyRule) {}))
	if res.Policy == nil || res.Policy.Action != model.PolicyAllow || res.Policy.Revision != res.Index {
		t.Fatalf("create result %+v", res.Policy)
	}
	for name, c := range map[string]struct {
		edit  func(*model.PolicyRule)
		field string
	}{
		"duplicate name":     {func(r *model.PolicyRule) { r.Priority = 11 }, "name"},
		"duplicate priority": {func(r *model.PolicyRule) { r.Name = "r2" }, "priority"},
		"other tenant's vn":  {func(r *model.PolicyRule) { r.Name, r.Priority, r.Dest.VN = "r2", 11, "b1" }, "destination.vn"},
		"vn of no such name": {func(r *model.PolicyRule) { r.Name, r.Priority, r.Source.VN = "r2", 11, "zz" }, "source.vn"},
	} {
		e := h.fail(mk(c.edit))
		if e.Field != c.field {
			t.Errorf("%s: error %v, want field %s", name, e, c.field)
		}
	}
	// beta may use the same priority in its own domain of the same name.
	h.ok(mk(func(r *model.PolicyRule) {
		r.Name, r.Tenant, r.Source, r.Dest = "b-any", "beta", model.PolicyEndpoint{}, model.PolicyEndpoint{CIDR: "10.0.1.0/24"}
	}))
	up := rule
	up.Action, up.Protocol = model.PolicyDeny, model.ProtoAny
	h.ok(&updateCmd[model.PolicyRule, policyKind]{Obj: up})
	snap := h.f.snapshot()
	if got := snap.Policies["r1"]; got == nil || got.Action != model.PolicyDeny {
		t.Fatalf("snapshot rule r1 = %+v", got)
	}
	if rs := snap.DomainRules("acme/prod"); len(rs) != 1 || rs[0].Name != "r1" {
		t.Fatalf("domain rules %+v", rs)
	}

	data := persist(t, h.f)
	g := newFSM(nil, DedupPolicy{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.st.policies, h.f.st.policies) {
		t.Fatalf("restored rules differ:\nhave %+v\nwant %+v", g.st.policies.byName, h.f.st.policies.byName)
	}
	if again := persist(t, g); !bytes.Equal(again, data) {
		t.Fatal("restored state persists differently")
	}

	h.ok(&deleteCmd[model.PolicyRule, policyKind]{Name: "r1"})
	if h.f.snapshot().Policies["r1"] != nil {
		t.Fatal("r1 still in the snapshot after delete")
	}
	if e := h.fail(&deleteCmd[model.PolicyRule, policyKind]{Name: "r1"}); e.Kind != model.KindNotFound {
		t.Fatalf("second delete: %v", e)
	}
}

// TestPolicyCommandEncoding: the commands round-trip through the log
// encoding.
func TestPolicyCommandEncoding(t *testing.T) {
	r := model.PolicyRule{Name: "web", Tenant: "t", L3Domain: "d", Priority: 7, Action: model.PolicyAllow,
		Source: model.PolicyEndpoint{CIDR: "10.0.0.0/8"}, Dest: model.PolicyEndpoint{VN: "back"},
		Protocol: model.ProtoTCP, Ports: []model.PortRange{{From: 80, To: 443}}}
	for _, c := range []command{
		&createCmd[model.PolicyRule, policyKind]{ReqID: "x", Obj: r},
		&updateCmd[model.PolicyRule, policyKind]{ReqID: "y", Obj: r, ExpectRevision: 4},
		&deleteCmd[model.PolicyRule, policyKind]{ReqID: "z", Name: "web"},
	} {
		data, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeCommand(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.cmd, c) {
			t.Errorf("%s: decoded %+v, want %+v", c.cmdType(), d.cmd, c)
		}
	}
}

// fail applies one command that must be rejected, and returns why.
func (h *harness) fail(c command) *model.Error {
	h.t.Helper()
	r := h.do(c)
	if r.Err == nil {
		h.t.Fatalf("%s: applied, want an error", c.cmdType())
	}
	return r.Err
}
