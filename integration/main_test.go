package integration

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/nva-project/nva/integration/lab"
)

// nvaBin is the nva binary the tests run, built once by TestMain when the
// machine can run labs ("" otherwise: the tests skip).
var nvaBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if lab.Requirements() == "" {
		dir, err := os.MkdirTemp("", "nva-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		nvaBin, err = lab.BuildNVA(context.Background(), dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
	}
	return m.Run()
}

// requireLab skips a test that needs a lab on a machine that cannot run
// one.
func requireLab(t *testing.T) {
	t.Helper()
	if reason := lab.Requirements(); reason != "" {
		t.Skip("lab: " + reason)
	}
}
