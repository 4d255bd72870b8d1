package gather

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"howett.net/plist"

	parcv1 "parc/proto/parc/v1"
)

// macAppDirs are where application bundles are installed.
var macAppDirs = []string{"/Applications", "/Applications/Utilities", "/System/Applications", "/System/Applications/Utilities"}

var copyrightNoise = regexp.MustCompile(`(?i)copyright|©|\(c\)|all rights reserved\.?|\d{4}(\s*[-–]\s*\d{4})?|,`)

// macAppsGatherer lists application bundles (<dir>/*.app) from their
// Contents/Info.plist (XML or binary): name, short version, and the
// publisher taken from the copyright string. The install date is the
// bundle's modification time. Source is "app".
func macAppsGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	var items []*parcv1.Software
	var errs []error
	found := false
	for _, d := range macAppDirs {
		apps, _ := filepath.Glob(filepath.Join(env.Path(d), "*.app"))
		for _, app := range apps {
			found = true
			sw, err := readAppBundle(app)
			if err != nil {
				errs = append(errs, err)
			}
			if sw != nil {
				items = append(items, sw)
			}
		}
	}
	if !found {
		return nil, ErrNotPresent
	}
	return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, errors.Join(errs...)
}

func readAppBundle(app string) (*parcv1.Software, error) {
	sw := &parcv1.Software{Name: strings.TrimSuffix(filepath.Base(app), ".app"), Source: "app"}
	if st, err := os.Stat(app); err == nil {
		sw.InstallDate = st.ModTime().Unix()
	}
	b, err := os.ReadFile(filepath.Join(app, "Contents", "Info.plist"))
	if err != nil {
		return sw, fmt.Errorf("%s: %w", filepath.Base(app), err)
	}
	var info struct {
		Name         string `plist:"CFBundleName"`
		DisplayName  string `plist:"CFBundleDisplayName"`
		ShortVersion string `plist:"CFBundleShortVersionString"`
		Version      string `plist:"CFBundleVersion"`
		Copyright    string `plist:"NSHumanReadableCopyright"`
	}
	if _, err := plist.Unmarshal(b, &info); err != nil {
		return sw, fmt.Errorf("%s: Info.plist: %w: %w", filepath.Base(app), err, ErrMalformed)
	}
	if n := strings.TrimSpace(info.DisplayName); n != "" {
		sw.Name = n
	} else if n := strings.TrimSpace(info.Name); n != "" {
		sw.Name = n
	}
	sw.Version = info.ShortVersion
	if sw.Version == "" {
		sw.Version = info.Version
	}
	sw.Publisher = strings.Join(strings.Fields(copyrightNoise.ReplaceAllString(info.Copyright, " ")), " ")
	return sw, nil
}
