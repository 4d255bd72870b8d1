package gather

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	parcv1 "parc/proto/parc/v1"
)

// dpkgGatherer lists installed Debian packages by parsing
// /var/lib/dpkg/status (no dpkg-query process). A package counts as
// installed when the third word of its Status is "installed", whatever the
// selection ("install", "hold"): this is dpkg-query's ${db:Status-Status}.
// The install date is the modification time of the package's file list in
// /var/lib/dpkg/info, which dpkg rewrites on each install or upgrade.
func dpkgGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	b, err := os.ReadFile(env.Path("/var/lib/dpkg/status"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotPresent
	}
	if err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	items, perr := parseDpkgStatus(b)
	info := env.Path("/var/lib/dpkg/info")
	for _, sw := range items {
		for _, name := range []string{sw.Name + ":" + sw.Arch + ".list", sw.Name + ".list"} {
			if st, err := os.Stat(filepath.Join(info, name)); err == nil {
				sw.InstallDate = st.ModTime().Unix()
				break
			}
		}
	}
	return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, perr
}

// parseDpkgStatus returns the installed packages of a dpkg status file.
// Stanzas without a Package or Status field, or installed ones without a
// Version, are counted and reported as malformed; the rest is kept.
func parseDpkgStatus(b []byte) ([]*parcv1.Software, error) {
	var items []*parcv1.Software
	var bad []string
	var cur struct{ name, version, arch, maintainer string }
	var status string
	line := 0
	start := 1
	flush := func() {
		defer func() { cur.name, cur.version, cur.arch, cur.maintainer, status = "", "", "", "", "" }()
		if cur.name == "" && status == "" && cur.version == "" {
			return // blank run
		}
		if cur.name == "" || status == "" {
			bad = append(bad, fmt.Sprintf("stanza at line %d has no Package or Status", start))
			return
		}
		f := bytes.Fields([]byte(status))
		if len(f) != 3 || string(f[2]) != "installed" {
			return
		}
		if cur.version == "" {
			bad = append(bad, fmt.Sprintf("package %s has no Version", cur.name))
		}
		items = append(items, &parcv1.Software{
			Name: cur.name, Version: cur.version, Arch: cur.arch, Publisher: cur.maintainer, Source: "dpkg",
		})
	}
	for len(b) > 0 {
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		line++
		l = bytes.TrimRight(l, "\r")
		if len(bytes.TrimSpace(l)) == 0 {
			flush()
			start = line + 1
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue // continuation of a multi-line field
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			bad = append(bad, fmt.Sprintf("line %d is not a field", line))
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "Package":
			cur.name = string(v)
		case "Status":
			status = string(v)
		case "Version":
			cur.version = string(v)
		case "Architecture":
			cur.arch = string(v)
		case "Maintainer":
			cur.maintainer = string(v)
		}
	}
	flush()
	if len(bad) > 0 {
		const max = 5
		more := ""
		if len(bad) > max {
			more = fmt.Sprintf(" (and %d more)", len(bad)-max)
			bad = bad[:max]
		}
		return items, fmt.Errorf("dpkg status: %s%s: %w", joinSemi(bad), more, ErrMalformed)
	}
	return items, nil
}

func joinSemi(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x)
	}
	return b.String()
}
