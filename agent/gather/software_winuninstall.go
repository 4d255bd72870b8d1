package gather

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	parcv1 "parc/proto/parc/v1"
)

// RegistryReader reads the Windows registry. The real one is in
// winreg_windows.go; tests read a JSON dump, so the parsing below is tested
// on Linux.
type RegistryReader interface {
	// SubKeys returns the names of the subkeys of path (e.g.
	// `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`).
	SubKeys(path string) ([]string, error)
	// Values returns the string and integer values of path, integers in
	// decimal.
	Values(path string) (map[string]string, error)
}

// uninstallRoots are the machine-wide uninstall keys: native and 32-bit
// (WOW6432Node) applications.
var uninstallRoots = []struct{ path, arch string }{
	{`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`, "x64"},
	{`HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall`, "x86"},
}

// windowsUninstall returns a gatherer that lists installed programs the way
// "Apps & features" does: every uninstall key with a DisplayName, machine
// wide and for each loaded user hive (HKU\<SID>), except system
// components and updates (SystemComponent=1, ParentKeyName, ReleaseType
// Update/Hotfix). Source is "msi".
func windowsUninstall(reg RegistryReader) Gatherer {
	return Func(func(_ context.Context, _ *Env) (*parcv1.Inventory, error) {
		if reg == nil {
			return nil, ErrNotPresent
		}
		roots := append([]struct{ path, arch string }(nil), uninstallRoots...)
		if sids, err := reg.SubKeys(`HKU`); err == nil {
			for _, sid := range sids {
				if strings.HasPrefix(sid, "S-1-5-21-") && !strings.HasSuffix(sid, "_Classes") {
					roots = append(roots, struct{ path, arch string }{`HKU\` + sid + `\Software\Microsoft\Windows\CurrentVersion\Uninstall`, ""})
				}
			}
		}
		var items []*parcv1.Software
		var errs []error
		seen := map[string]bool{}
		read := 0
		for _, root := range roots {
			keys, err := reg.SubKeys(root.path)
			if err != nil {
				continue // no such hive or view (32-bit Windows)
			}
			read++
			for _, k := range keys {
				v, err := reg.Values(root.path + `\` + k)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", k, err))
					continue
				}
				sw := uninstallEntry(v, root.arch)
				if sw == nil {
					continue
				}
				id := sw.Name + "\x00" + sw.Version + "\x00" + sw.Arch
				if !seen[id] {
					seen[id] = true
					items = append(items, sw)
				}
			}
		}
		if read == 0 {
			return nil, errors.Join(append(errs, errors.New("no uninstall key readable"))...)
		}
		return &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}, errors.Join(errs...)
	})
}

func uninstallEntry(v map[string]string, arch string) *parcv1.Software {
	name := strings.TrimSpace(v["DisplayName"])
	if name == "" || v["SystemComponent"] == "1" || v["ParentKeyName"] != "" {
		return nil
	}
	switch v["ReleaseType"] {
	case "Update", "Hotfix", "Security Update", "Service Pack":
		return nil
	}
	sw := &parcv1.Software{Name: name, Version: strings.TrimSpace(v["DisplayVersion"]),
		Publisher: strings.TrimSpace(v["Publisher"]), Arch: arch, Source: "msi"}
	if d := strings.TrimSpace(v["InstallDate"]); len(d) == 8 {
		if t, err := time.Parse("20060102", d); err == nil {
			sw.InstallDate = t.Unix()
		}
	}
	return sw
}
