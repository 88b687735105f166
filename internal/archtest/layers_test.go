package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// The layers, bottom to top (DEVELOPERS.md, "Layout and layers"):
//
//	app/...                 the pure domain: standard library and app/... only
//	store, ofctl, ovsdb     build on app; never on each other
//	web                     builds on the three below (web/wire: app only)
//	cmd, integration        the composition root, binaries and end-to-end tests
//
// internal/... is test support (internal/ovstest, internal/archtest) or a
// tools file (internal/deps). A package's own subtree is always allowed.
const module = "github.com/nva-project/nva"

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func listPackages(t *testing.T, args ...string) []pkg {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rel returns the module-relative path of an nva package ("" for others).
func rel(path string) string {
	if path == module {
		return "."
	}
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return ""
}

func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// layer names the layer of an nva package and its rank (higher is above).
func layer(p string) (string, int) {
	switch {
	case under(p, "app"):
		return "app", 0
	case under(p, "store"):
		return "store", 1
	case under(p, "ofctl"):
		return "ofctl", 1
	case under(p, "ovsdb"):
		return "ovsdb", 1
	case under(p, "web/wire"):
		return "web/wire", 1 // a client may import it: app below it only
	case under(p, "web"):
		return "web", 2
	case under(p, "internal"):
		return "internal", -1 // test support, checked on its own
	default: // cmd, integration
		return strings.SplitN(p, "/", 2)[0], 3
	}
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// allowed reports why importing imp from p breaks the layering ("" if it
// does not).
func allowed(p, imp string, test bool) string {
	pl, pr := layer(p)
	r := rel(imp)
	if r == "" {
		if pl == "app" && !isStd(imp) {
			return "app/ imports only the standard library and app/..."
		}
		if pl == "web/wire" && !isStd(imp) {
			return "web/wire imports only the standard library and app/..."
		}
		return ""
	}
	il, ir := layer(r)
	switch {
	case il == pl:
		return ""
	case il == "internal":
		if test || pl == "internal" || pr == 3 {
			return ""
		}
		return "internal/ packages are test support"
	case pl == "internal":
		return "" // test support may use what it tests
	case ir > pr:
		return fmt.Sprintf("%s (%s) may not import the layer above it (%s)", p, pl, il)
	case ir == pr && !test && pr < 3: // the top (cmd, integration) may use each other
		return fmt.Sprintf("%s (%s) may not import its sibling layer %s", p, pl, il)
	}
	return ""
}

// TestLayers fails on any import that runs upward, or sideways between
// store, ofctl and ovsdb. Tests may use a sibling as a fixture (the
// southbound's real-OVS tests run the real store), never a layer above.
func TestLayers(t *testing.T) {
	var bad []string
	for _, p := range listPackages(t, "./...") {
		r := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if why := allowed(r, imp, false); why != "" {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", r, imp, why))
			}
		}
		for _, imp := range append(append([]string(nil), p.TestImports...), p.XTestImports...) {
			if why := allowed(r, imp, true); why != "" {
				bad = append(bad, fmt.Sprintf("%s (tests) import %s: %s", r, imp, why))
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// TestCLILinksNoServer keeps the CLI small: nvactl talks to the REST API
// through web/wire and links neither Raft, its log store, nor the router.
func TestCLILinksNoServer(t *testing.T) {
	for _, p := range listPackages(t, "-deps", "./cmd/nvactl") {
		for _, banned := range []string{"github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb", "github.com/gorilla/mux", "go.etcd.io/bbolt", "github.com/boltdb/bolt"} {
			if under(p.ImportPath, banned) {
				t.Errorf("cmd/nvactl links %s", p.ImportPath)
			}
		}
		if r := rel(p.ImportPath); r != "" && (under(r, "store") || r == "web") {
			t.Errorf("cmd/nvactl links nva's %s", r)
		}
	}
}

// The rule itself: a few imports it must refuse and allow.
func TestRule(t *testing.T) {
	for _, c := range []struct {
		p, imp string
		test   bool
		ok     bool
	}{
		{"app/compiler", module + "/app/model", false, true},
		{"app/compiler", module + "/store", false, false},
		{"app/model", "github.com/gorilla/mux", false, false},
		{"app/model", "net/netip", false, true},
		{"ofctl", module + "/store", false, false},
		{"ofctl", module + "/store", true, true},
		{"ofctl", module + "/web", true, false},
		{"ovsdb/nvesync", module + "/ofctl", false, false},
		{"store", module + "/web", false, false},
		{"web", module + "/store", false, true},
		{"web", module + "/cmd/nva/daemon", false, false},
		{"web/wire", module + "/app/model", false, true},
		{"web/wire", module + "/web", false, false},
		{"web/wire", "github.com/gorilla/mux", false, false},
		{"cmd/nva/daemon", module + "/web", false, true},
		{"ofctl", module + "/internal/ovstest", false, false},
		{"ofctl", module + "/internal/ovstest", true, true},
	} {
		if got := allowed(c.p, c.imp, c.test) == ""; got != c.ok {
			t.Errorf("%s -> %s (test %v): allowed %v, want %v", c.p, c.imp, c.test, got, c.ok)
		}
	}
}
