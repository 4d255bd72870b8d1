package licence_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"parc/cmdb/licence"
)

func TestNormalizerTitle(t *testing.T) {
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pkg, publisher, want string
	}{
		{"office pro plus", "Microsoft Office Professional Plus 2019", "Microsoft Corporation", "microsoft office"},
		{"office 365 locale", "Microsoft 365 Apps for enterprise - en-us", "Microsoft Corporation", "microsoft office"},
		{"office standard", "Microsoft Office Standard 2016", "Microsoft Corporation", "microsoft office"},
		{"firefox windows", "Mozilla Firefox 120.0 (x64 en-US)", "Mozilla", "mozilla firefox"},
		{"firefox esr deb", "firefox-esr", "", "mozilla firefox"},
		{"chrome deb", "google-chrome-stable", "", "google chrome"},
		{"chrome windows", "Google Chrome", "Google LLC", "google chrome"},
		{"vscode deb", "code", "Microsoft Corporation", "visual studio code"},
		{"visual studio edition group", "Microsoft Visual Studio Enterprise 2022", "Microsoft Corporation", "microsoft visual studio enterprise"},
		{"sql server edition", "Microsoft SQL Server 2019 Enterprise Edition", "Microsoft Corporation", "microsoft sql server enterprise"},
		{"acrobat", "Adobe Acrobat DC (64-bit)", "Adobe Inc.", "adobe acrobat"},
		{"7zip", "7-Zip 23.01 (x64)", "Igor Pavlov", "7-zip"},
		{"java needs oracle", "Java 8 Update 381", "Oracle Corporation", "oracle java"},
		{"openjdk", "openjdk-17-jre-headless", "", "openjdk"},
		{"python windows", "Python 3.11.4 (64-bit)", "Python Software Foundation", "python"},
		{"unknown keeps cleaned name", "Acme Widget Studio 4.2", "Acme", "acme widget studio"},
		{"first word stays", "2048", "", "2048"},
		{"plain deb", "libc6", "", "libc6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.Title(tt.pkg, tt.publisher); got != tt.want {
				t.Errorf("Title(%q, %q) = %q, want %q", tt.pkg, tt.publisher, got, tt.want)
			}
			if got := n.Title(tt.pkg, tt.publisher); got != tt.want { // cached answer
				t.Errorf("cached Title(%q) = %q, want %q", tt.pkg, got, tt.want)
			}
		})
	}
}

func TestSiteRulesWin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	rules := `{"publishers": {"acme corp": "acme"}, "rules": [{"match": "^acme widget", "publisher": "^acme", "title": "acme widgets"}, {"match": "^google chrome$", "title": "browser"}]}`
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := licence.DefaultNormalizer(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Title("Acme Widget Pro 3", "ACME Corp"); got != "acme widgets" {
		t.Errorf("site rule: got %q", got)
	}
	if got := n.Title("Google Chrome", ""); got != "browser" {
		t.Errorf("site rule before shipped: got %q", got)
	}
	if got := n.Publisher("ACME  Corp"); got != "acme" {
		t.Errorf("publisher alias: got %q", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"rules": [{"match": "(", "title": "x"}]}`), 0o600)
	if _, err := licence.DefaultNormalizer(bad); err == nil {
		t.Error("bad regexp accepted")
	}
}

func TestVersionRange(t *testing.T) {
	tests := []struct {
		rng, v string
		want   bool
	}{
		{"", "1.0", true},
		{"16", "16.0.4", true},
		{"16", "16", true},
		{"16", "160.1", false},
		{"16.*", "16.2", true},
		{">=16, <17", "16.9.1", true},
		{">=16, <17", "17.0", false},
		{">=16 <17", "15.99", false},
		{"<=2019", "2019", true},
		{">2.10", "2.9", false},
		{">2.9", "2.10", true},
		{"=1.2.3", "1.2.3", true},
		{">=1.0", "1:1.2-3ubuntu1", true},
	}
	for _, tt := range tests {
		t.Run(tt.rng+"~"+tt.v, func(t *testing.T) {
			vr, err := licence.ParseVersionRange(tt.rng)
			if err != nil {
				t.Fatal(err)
			}
			if got := vr.Match(tt.v); got != tt.want {
				t.Errorf("%q.Match(%q) = %v, want %v", tt.rng, tt.v, got, tt.want)
			}
		})
	}
	if _, err := licence.ParseVersionRange(">="); err == nil {
		t.Error("operator without version accepted")
	}
}

// The cache keeps copies, never the caller's strings: those may view a
// whole report (the agent port decodes packages in place), which the
// cache must not keep alive.
func TestNormalizerCacheDoesNotPin(t *testing.T) {
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	freed := make(chan struct{})
	func() {
		report := new([4096]byte)
		name := "firefox-esr"
		copy(report[100:], name)
		view := unsafe.String(&report[100], len(name))
		runtime.SetFinalizer(report, func(*[4096]byte) { close(freed) })
		if got := n.Title(view, unsafe.String(&report[100], 7)); got != "mozilla firefox" {
			t.Fatalf("Title = %q", got)
		}
	}()
	defer runtime.KeepAlive(n) // and its cache
	for range 50 {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Error("the title cache keeps the caller's buffer alive")
}

// TestNormalizerCacheAnswersAsRules asks many names from several goroutines
// at once, each several times (run with -race): the cached answers, before
// and after new ones are published to the lock-free map, are the rules'
// answers, which another normalizer asked each name once gives.
func TestNormalizerCacheAnswersAsRules(t *testing.T) {
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"Mozilla Firefox %d (x64 en-US)", "libreoffice-calc-%d", "python3.%d-minimal", "Microsoft Office Professional Plus 20%d"}
	const count = 3000
	once, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, count)
	for i := range want {
		want[i] = once.Title(fmt.Sprintf(names[i%len(names)], i), "Publisher")
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				for k := range count {
					i := (k*7 + g*997 + round*31) % count
					if got := n.Title(fmt.Sprintf(names[i%len(names)], i), "Publisher"); got != want[i] {
						errs <- fmt.Sprintf("name %d: Title = %q, want %q", i, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
