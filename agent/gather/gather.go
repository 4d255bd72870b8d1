package gather

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

// Gatherer fills part of an inventory.
type Gatherer interface {
	// Gather returns an inventory with only the sections (or list items) it
	// owns set. Run merges the results of all gatherers with proto.Merge, so
	// lists from several gatherers (dpkg and snap software) are appended.
	// It returns ErrNotPresent when what it reads does not exist here, and
	// may return partial data together with an error.
	Gather(ctx context.Context, env *Env) (*parcv1.Inventory, error)
}

// Func adapts a plain function to Gatherer.
type Func func(ctx context.Context, env *Env) (*parcv1.Inventory, error)

// Gather calls f.
func (f Func) Gather(ctx context.Context, env *Env) (*parcv1.Inventory, error) { return f(ctx, env) }

// Runner runs external commands. Gatherers use it only where no file can be
// parsed instead (systemctl, rpm, smartctl), and tests swap in a fake.
type Runner interface {
	// LookPath reports whether the named command is installed.
	LookPath(name string) (string, error)
	// Output runs the command and returns its standard output.
	Output(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner is the Runner of the live machine.
type ExecRunner struct{}

// LookPath calls exec.LookPath.
func (ExecRunner) LookPath(name string) (string, error) { return exec.LookPath(name) }

// Output runs name with args and returns its standard output.
func (ExecRunner) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.Output()
}

// Env is what a gatherer may read.
type Env struct {
	// Root is the filesystem root: "/" on the live machine, a fixture tree in
	// tests.
	Root   string
	Source Source
	Runner Runner
	Logger *slog.Logger
	// Statfs measures the filesystem mounted at path; nil is the real
	// statfs(2). Tests set it because fixture trees have no mounts.
	Statfs func(path string) (total, used uint64, err error)
}

// Path returns p (an absolute path on the machine) under env.Root.
func (e *Env) Path(p string) string {
	if e.Root == "" || e.Root == "/" {
		return p
	}
	return filepath.Join(e.Root, p)
}

// Live reports whether env reads the running machine rather than a tree.
func (e *Env) Live() bool { return e.Root == "" || e.Root == "/" }

// Result is one inventory run.
type Result struct {
	Inventory *parcv1.Inventory
	Errors    []*parcv1.GatherError
}

// Run runs the gatherers concurrently, merges what they return, sorts every
// list so that marshaling is stable, and records failures by gatherer name
// (sorted). It never fails as a whole.
func Run(ctx context.Context, env *Env, gatherers map[string]Gatherer) Result {
	type out struct {
		name string
		inv  *parcv1.Inventory
		err  error
	}
	outs := make([]out, 0, len(gatherers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, g := range gatherers {
		wg.Go(func() {
			start := time.Now()
			inv, err := safeGather(ctx, env, g)
			if env.Logger != nil {
				env.Logger.Debug("gatherer done", "gatherer", name, "took", time.Since(start), "err", err)
			}
			mu.Lock()
			outs = append(outs, out{name, inv, err})
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(outs, func(i, j int) bool { return outs[i].name < outs[j].name })

	res := Result{Inventory: &parcv1.Inventory{}}
	for _, o := range outs {
		if o.inv != nil {
			proto.Merge(res.Inventory, o.inv)
		}
		if o.err == nil {
			continue
		}
		for _, e := range flatten(o.err) {
			res.Errors = append(res.Errors, &parcv1.GatherError{Gatherer: o.name, Message: e.Error()})
		}
	}
	Normalize(res.Inventory)
	return res
}

func safeGather(ctx context.Context, env *Env, g Gatherer) (inv *parcv1.Inventory, err error) {
	defer func() {
		if r := recover(); r != nil {
			if env.Logger != nil {
				env.Logger.Error("gatherer panicked", "panic", r, "stack", string(debug.Stack()))
			}
			inv, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return g.Gather(ctx, env)
}

// flatten splits errors.Join results so each cause becomes its own
// GatherError.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []error
		for _, e := range j.Unwrap() {
			if e != nil {
				all = append(all, flatten(e)...)
			}
		}
		return all
	}
	if errors.Is(err, ErrNotPresent) {
		return nil
	}
	return []error{err}
}

// readString reads a small file and trims it; "" when unreadable.
func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return trimSpace(string(b))
}
