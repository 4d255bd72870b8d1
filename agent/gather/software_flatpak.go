package gather

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	parcv1 "parc/proto/parc/v1"
)

var (
	metainfoRelease   = regexp.MustCompile(`<release[^>]*\bversion="([^"]+)"`)
	metainfoDeveloper = regexp.MustCompile(`<developer_name[^>]*>([^<]+)</developer_name>|<developer[^>]*>\s*<name[^>]*>([^<]+)</name>`)
)

// flatpakGatherer lists system-wide flatpak applications and runtimes from
// /var/lib/flatpak/{app,runtime}/<id>/<arch>/<branch>/active. The version
// is the newest release in the app's AppStream metainfo when it ships one,
// else the branch; per-user installations (~/.local/share/flatpak) are not
// read.
func flatpakGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	base := env.Path("/var/lib/flatpak")
	if !exists(base) {
		return nil, ErrNotPresent
	}
	var items []*parcv1.Software
	var errs []error
	for _, kind := range []string{"app", "runtime"} {
		actives, err := filepath.Glob(filepath.Join(base, kind, "*", "*", "*", "active"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, active := range actives {
			branchDir := filepath.Dir(active)
			archDir := filepath.Dir(branchDir)
			id := filepath.Base(filepath.Dir(archDir))
			sw := &parcv1.Software{Name: id, Arch: filepath.Base(archDir), Version: filepath.Base(branchDir), Source: "flatpak"}
			st, err := os.Stat(active)
			if err != nil {
				errs = append(errs, fmt.Errorf("flatpak %s: %w", id, err))
				continue
			}
			sw.InstallDate = st.ModTime().Unix()
			for _, name := range []string{"metainfo/" + id + ".metainfo.xml", "appdata/" + id + ".appdata.xml"} {
				b, err := os.ReadFile(filepath.Join(active, "files", "share", name))
				if err != nil {
					continue
				}
				if m := metainfoRelease.FindSubmatch(b); m != nil {
					sw.Version = string(m[1])
				}
				if m := metainfoDeveloper.FindSubmatch(b); m != nil {
					sw.Publisher = string(append(m[1], m[2]...))
				}
				break
			}
			items = append(items, sw)
		}
	}
	return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, errors.Join(errs...)
}
