package gather

import (
	"context"
	"os"
	"strings"
	"time"

	parcv1 "parc/proto/parc/v1"
)

// systemGatherer fills the system section: the Source's host facts plus
// FQDN, domain and timezone read from files. The FQDN comes from /etc/hosts
// the way glibc's files backend resolves `hostname -f`; DNS is never asked,
// so a dead resolver cannot stall the inventory.
func systemGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	sys, err := env.Source.Host(ctx)
	if sys == nil {
		return nil, err
	}
	sys.Fqdn = fqdn(env, sys.Hostname)
	if i := strings.IndexByte(sys.Fqdn, '.'); i > 0 {
		sys.Domain = sys.Fqdn[i+1:]
	}
	sys.Timezone = timezone(env)
	return &parcv1.Inventory{System: sys}, err
}

func fqdn(env *Env, hostname string) string {
	if hostname == "" || strings.Contains(hostname, ".") {
		return hostname
	}
	b, err := os.ReadFile(env.Path("/etc/hosts"))
	if err != nil {
		return hostname
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		names := f[1:]
		found := false
		for _, n := range names {
			if n == hostname {
				found = true
			}
		}
		if !found {
			continue
		}
		// glibc returns the canonical (first) name of the matching line.
		if strings.HasPrefix(names[0], hostname+".") {
			return names[0]
		}
		for _, n := range names {
			if strings.HasPrefix(n, hostname+".") {
				return n
			}
		}
	}
	return hostname
}

// timezone returns the IANA zone: /etc/timezone (Debian), else the target
// of the /etc/localtime link, else the zone Go loaded.
func timezone(env *Env) string {
	if tz := readString(env.Path("/etc/timezone")); tz != "" {
		return tz
	}
	if l, err := os.Readlink(env.Path("/etc/localtime")); err == nil {
		if i := strings.Index(l, "zoneinfo/"); i >= 0 {
			return l[i+len("zoneinfo/"):]
		}
	}
	if env.Live() {
		if name := time.Local.String(); name != "Local" {
			return name
		}
		z, _ := time.Now().Zone()
		return z
	}
	return ""
}
