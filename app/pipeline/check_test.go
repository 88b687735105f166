package pipeline

import (
	"testing"

	"github.com/nva-project/nva/app/flow"
)

func TestVIDPresent(t *testing.T) {
	if vidPresent != string(flow.U16(flow.VIDPresent)) {
		t.Fatalf("vidPresent %q", vidPresent)
	}
}

// TestPrereqFields: checkFlow skips prereq for the registry fields outside
// prereqFields, so exactly those must have no prerequisite.
func TestPrereqFields(t *testing.T) {
	var none knownFields
	for _, s := range flow.Specs() {
		o := flow.FieldOrder(s.Name)
		if o >= 64 {
			continue // checked by name
		}
		if got, want := prereq(s.Name, &none) != nil, prereqFields.hasOrder(o); got != want {
			t.Errorf("field %s: prerequisite %v, in prereqFields %v", s.Name, got, want)
		}
	}
}
