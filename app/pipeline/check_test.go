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
