package gather

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// apkGatherer lists Alpine packages from /lib/apk/db/installed: stanzas of
// one-letter fields (P name, V version, A arch, m maintainer) separated by
// blank lines. The database records no install time (t: is the build
// time), so the install date stays unknown.
func apkGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	b, err := os.ReadFile(env.Path("/lib/apk/db/installed"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotPresent
	}
	if err != nil {
		return nil, fmt.Errorf("read apk database: %w", err)
	}
	items, perr := parseAPKInstalled(string(b))
	return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, perr
}

func parseAPKInstalled(s string) ([]*parcv1.Software, error) {
	var items []*parcv1.Software
	var cur *parcv1.Software
	bad := 0
	flush := func() {
		if cur != nil {
			if cur.Name == "" || cur.Version == "" {
				bad++
			} else {
				items = append(items, cur)
			}
		}
		cur = nil
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			bad++
			continue
		}
		if cur == nil {
			cur = &parcv1.Software{Source: "apk"}
		}
		v := line[2:]
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'm':
			cur.Publisher = v
		}
	}
	flush()
	if bad > 0 {
		return items, fmt.Errorf("apk database: %d malformed entries or lines: %w", bad, ErrMalformed)
	}
	return items, nil
}
