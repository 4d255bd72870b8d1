package gather

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// rpmQueryFormat prints one tab-separated line per package. The epoch is
// printed only when set, like `rpm -q` does.
const rpmQueryFormat = `%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{VENDOR}\t%{INSTALLTIME}\n`

// rpmGatherer lists RPM packages with `rpm -qa --queryformat`. The rpm
// database is SQLite, Berkeley DB or NDB depending on the distribution and
// release; parsing all three is not worth it when rpm itself is there on
// every machine that has the database. gpg-pubkey entries are keys, not
// software, and are left out.
func rpmGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	if !exists(env.Path("/var/lib/rpm")) && !exists(env.Path("/usr/lib/sysimage/rpm")) {
		return nil, ErrNotPresent
	}
	if _, err := env.Runner.LookPath("rpm"); err != nil {
		return nil, fmt.Errorf("rpm database present but no rpm command: %w", err)
	}
	args := []string{"-qa", "--queryformat", rpmQueryFormat}
	if !env.Live() {
		args = append([]string{"--root", env.Root}, args...)
	}
	out, err := env.Runner.Output(ctx, "rpm", args...)
	if err != nil {
		return nil, fmt.Errorf("rpm -qa: %w", err)
	}
	items, perr := parseRPMQuery(string(out))
	return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, perr
}

func parseRPMQuery(s string) ([]*parcv1.Software, error) {
	var items []*parcv1.Software
	bad := 0
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 || f[0] == "" {
			bad++
			continue
		}
		if f[0] == "gpg-pubkey" {
			continue
		}
		sw := &parcv1.Software{Name: f[0], Version: f[1], Arch: none(f[2]), Publisher: none(f[3]), Source: "rpm"}
		if t, err := strconv.ParseInt(f[4], 10, 64); err == nil {
			sw.InstallDate = t
		}
		items = append(items, sw)
	}
	if bad > 0 {
		return items, fmt.Errorf("rpm: %d unparsable lines: %w", bad, ErrMalformed)
	}
	return items, nil
}

// none maps rpm's "(none)" to "".
func none(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
