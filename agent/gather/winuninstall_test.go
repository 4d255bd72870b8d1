package gather

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	parcv1 "parc/proto/parc/v1"
)

// jsonRegistry is a RegistryReader over a JSON dump: key path → values.
type jsonRegistry map[string]map[string]string

func loadRegistry(t *testing.T, path string) jsonRegistry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonRegistry
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r jsonRegistry) SubKeys(path string) ([]string, error) {
	seen := map[string]bool{}
	for k := range r {
		if rest, ok := strings.CutPrefix(k, path+`\`); ok {
			seen[strings.Split(rest, `\`)[0]] = true
		}
	}
	if len(seen) == 0 {
		return nil, errors.New("the system cannot find the file specified")
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

func (r jsonRegistry) Values(path string) (map[string]string, error) {
	v, ok := r[path]
	if !ok {
		return nil, errors.New("the system cannot find the file specified")
	}
	return v, nil
}

func names(inv *parcv1.Inventory) string {
	Normalize(inv)
	var s []string
	for _, sw := range inv.GetSoftware().GetItems() {
		s = append(s, sw.Name+"|"+sw.Version+"|"+sw.Arch+"|"+sw.Publisher+"|"+sw.Source)
	}
	return strings.Join(s, "\n")
}

func TestWindowsUninstallKeys(t *testing.T) {
	g := windowsUninstall(loadRegistry(t, "testdata/windows/uninstall.json"))
	inv, err := g.Gather(context.Background(), &Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"7-Zip 23.01 (x64)|23.01|x64|Igor Pavlov|msi",
		"Microsoft Office Professional Plus 2016|16.0.4266.1001|x64|Microsoft Corporation|msi",
		"Notepad++ (32-bit x86)|8.6.2|x86|Notepad++ Team|msi",
		"Zoom|5.17.5||Zoom Video Communications, Inc.|msi",
	}, "\n")
	if got := names(inv); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, sw := range inv.Software.Items {
		if strings.HasPrefix(sw.Name, "Microsoft Office") && sw.InstallDate != 1673740800 {
			t.Errorf("office install date %d, want 2023-01-15", sw.InstallDate)
		}
		if strings.HasPrefix(sw.Name, "7-Zip") && sw.InstallDate != 0 {
			t.Errorf("a malformed InstallDate gave %d", sw.InstallDate)
		}
	}
}

func TestWindowsUninstallUnreadable(t *testing.T) {
	_, err := windowsUninstall(jsonRegistry{}).Gather(context.Background(), &Env{})
	if err == nil || errors.Is(err, ErrNotPresent) {
		t.Fatalf("err = %v, want a recorded failure", err)
	}
}

func TestMacApplicationBundles(t *testing.T) {
	inv, err := macAppsGatherer(context.Background(), &Env{Root: "testdata/darwin"})
	if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "NoPlist.app") {
		t.Errorf("err = %v, want the broken and the plist-less bundle reported", err)
	}
	want := strings.Join([]string{
		"Broken|||||app",
		"Firefox|123.0||Firefox and Mozilla Developers; available under the MPL 2 license.|app",
		"NoPlist|||||app",
		"Terminal|453||Apple Inc.|app",
	}, "\n")
	want = strings.ReplaceAll(want, "|||||app", "||||app")
	if got := names(inv); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := macAppsGatherer(context.Background(), &Env{Root: t.TempDir()}); !errors.Is(err, ErrNotPresent) {
		t.Errorf("no /Applications: err = %v, want ErrNotPresent", err)
	}
}
