package gather

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// snapGatherer lists snaps: every /snap/<name>/current link is an installed
// snap at its active revision, described by meta/snap.yaml inside it. The
// install date is the modification time of the revision's .snap file in
// /var/lib/snapd/snaps. snapd's state.json is not read: it is large and its
// format is internal.
func snapGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	links, err := filepath.Glob(env.Path("/snap/*/current"))
	if err != nil || len(links) == 0 {
		if !exists(env.Path("/var/lib/snapd/snaps")) {
			return nil, ErrNotPresent
		}
		return &parcv1.Inventory{Software: &parcv1.SoftwareList{}}, nil
	}
	var items []*parcv1.Software
	var errs []error
	for _, l := range links {
		name := filepath.Base(filepath.Dir(l))
		if name == "bin" {
			continue
		}
		rev, err := os.Readlink(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("snap %s: %w", name, err))
			continue
		}
		sw := &parcv1.Software{Name: name, Source: "snap"}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(l), filepath.Base(rev), "meta", "snap.yaml"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Not mounted (snapd stopped): name and revision only.
			sw.Version = "r" + filepath.Base(rev)
		case err != nil:
			errs = append(errs, fmt.Errorf("snap %s: %w", name, err))
		default:
			y := topLevelYAML(string(b))
			sw.Version = y["version"]
			sw.Arch = strings.Trim(y["architectures"], "[] ")
		}
		if st, err := os.Stat(env.Path(filepath.Join("/var/lib/snapd/snaps", name+"_"+filepath.Base(rev)+".snap"))); err == nil {
			sw.InstallDate = st.ModTime().Unix()
		}
		items = append(items, sw)
	}
	return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, errors.Join(errs...)
}

// topLevelYAML returns the unindented "key: value" pairs of a simple YAML
// document, with quotes removed. Nested values and lists are skipped.
func topLevelYAML(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' || line[0] == '-' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out[k] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out
}
