package integration

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/nva-project/nva/integration/lab"
)

// nvaBin is the nva binary the tests run: $NVA_E2E_NVA if set (e.g. the
// bin/nva that `make build` made), otherwise cmd/nva built once by TestMain
// when the machine can run labs ("" otherwise: the tests skip).
var nvaBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("NVA_E2E_NVA"); bin != "" && lab.Requirements() == "" {
		if _, err := os.Stat(bin); err != nil {
			fmt.Fprintln(os.Stderr, "integration: NVA_E2E_NVA:", err)
			return 1
		}
		nvaBin = bin
	} else if lab.Requirements() == "" {
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
