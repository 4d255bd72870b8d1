package e2e

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// goList returns, for every package matching pattern, its imports (or its
// transitive dependencies with deps).
func goList(t *testing.T, deps bool, pattern string) map[string][]string {
	t.Helper()
	field := "Imports"
	args := []string{"list", "-f", "{{.ImportPath}} {{join ." + field + " \" \"}}"}
	if deps {
		args = []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	}
	cmd := exec.Command("go", append(args, pattern)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	res := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if deps {
			res[pattern] = append(res[pattern], f[0])
		} else {
			res[f[0]] = f[1:]
		}
	}
	return res
}

func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

// TestDependencyDirection keeps the dependency rules of DESIGN.md true.
func TestDependencyDirection(t *testing.T) {
	rules := []struct {
		from      string
		forbidden []string
		why       string
	}{
		{"parc/cmdb", []string{"parc/collector", "parc/proto", "parc/agent", "google.golang.org/grpc", "net/http"}, "cmdb is the domain: no transport, no collector"},
		{"parc/agent", []string{"parc/cmdb", "parc/collector", "github.com/dgraph-io/badger", "go.etcd.io/etcd"}, "the agent carries no server code"},
		{"parc/collector", []string{"parc/agent"}, "the collector does not import the agent"},
		{"parc/proto", []string{"parc/cmdb", "parc/collector", "parc/agent"}, "proto is generated code only"},
	}
	// The etcd backend adapts etcd's client, which speaks gRPC: it may map
	// gRPC statuses and probe etcd's HTTP health endpoint. The domain
	// (cmdb, its modules, the store interface) still may not.
	exempt := map[string]bool{"google.golang.org/grpc": true, "net/http": true}
	for pkg, imports := range goList(t, false, "./...") {
		for _, r := range rules {
			if !under(pkg, r.from) {
				continue
			}
			backend := under(pkg, "parc/cmdb/store/etcdstore")
			for _, imp := range imports {
				for _, bad := range r.forbidden {
					if under(imp, bad) && !(backend && exempt[bad]) {
						t.Errorf("%s imports %s: %s", pkg, imp, r.why)
					}
				}
			}
		}
	}
}

// TestMainsAreThin allows the mains to import only the runtime packages
// and the standard library.
func TestMainsAreThin(t *testing.T) {
	for pkg, imports := range goList(t, false, "./cmd/...") {
		if under(pkg, "parc/cmd/e2e") {
			continue
		}
		for _, imp := range imports {
			if !strings.Contains(strings.Split(imp, "/")[0], ".") && !strings.HasPrefix(imp, "parc/") {
				continue // standard library
			}
			if !under(imp, "parc/agent") && !under(imp, "parc/collector") {
				t.Errorf("%s imports %s: a main only parses flags and calls agent or collector", pkg, imp)
			}
		}
	}
}

// TestAgentBinaryHasNoServerLibraries checks the whole dependency tree of
// the agent binary.
func TestAgentBinaryHasNoServerLibraries(t *testing.T) {
	for _, dep := range goList(t, true, "./cmd/parc-agent")["./cmd/parc-agent"] {
		for _, bad := range []string{"github.com/dgraph-io/badger", "go.etcd.io/etcd", "parc/cmdb", "parc/collector", "github.com/prometheus/client_golang"} {
			if under(dep, bad) || strings.HasPrefix(dep, bad) {
				t.Errorf("parc-agent depends on %s", dep)
			}
		}
	}
}
