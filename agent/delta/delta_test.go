package delta

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

func inv(pkgs ...string) *parcv1.Inventory {
	l := &parcv1.SoftwareList{}
	for _, p := range pkgs {
		l.Items = append(l.Items, &parcv1.Software{Name: p, Version: "1"})
	}
	return &parcv1.Inventory{
		System:      &parcv1.System{Hostname: "h"},
		Software:    l,
		Filesystems: &parcv1.Filesystems{Items: []*parcv1.Filesystem{{MountPoint: "/", SizeBytes: 1000, UsedBytes: 400}}},
	}
}

// TestHashesAreStable pins the hash of a known section: it must not change
// between runs, builds or machines (the collector compares them).
func TestHashesAreStable(t *testing.T) {
	h := HashAll(inv("bash"))
	if h["system"] != "8841b54f092d2ee27568bd4159bccb40" {
		t.Errorf("system hash = %s: hashing changed", h["system"])
	}
	if h["firmware"] != "e3b0c44298fc1c149afbf4c8996fb924" {
		t.Errorf("empty section hash = %s, want sha256 of nothing", h["firmware"])
	}
	if len(h) != len(Sections()) || len(h) != 11 {
		t.Errorf("%d hashes for %d sections", len(h), len(Sections()))
	}
	again := HashAll(proto.Clone(inv("bash")).(*parcv1.Inventory))
	for k, v := range h {
		if again[k] != v {
			t.Errorf("%s: %s then %s", k, v, again[k])
		}
	}
}

func TestTrackerKinds(t *testing.T) {
	var tr Tracker
	if p := tr.Next(inv("a"), false); p.Kind != parcv1.Report_FULL || p.Inventory.GetSystem() == nil {
		t.Fatalf("first = %v", p.Kind)
	}
	grown := inv("a")
	grown.Filesystems.Items[0].UsedBytes = 409 // still 40 %
	if p := tr.Next(grown, false); p.Kind != parcv1.Report_HEARTBEAT || p.Inventory != nil {
		t.Fatalf("unchanged = %v %v", p.Kind, p.Inventory)
	}
	p := tr.Next(inv("a", "b"), false)
	if p.Kind != parcv1.Report_DELTA || len(p.Changed) != 1 || p.Changed[0] != "software" ||
		p.Inventory.GetSystem() != nil || len(p.Inventory.GetSoftware().GetItems()) != 2 {
		t.Fatalf("changed = %v %v %v", p.Kind, p.Changed, p.Inventory)
	}
	failed := inv("a", "b")
	failed.Software = nil // its gatherer failed: keep what we had
	if p := tr.Next(failed, false); p.Kind != parcv1.Report_HEARTBEAT {
		t.Fatalf("failed gatherer = %v %v", p.Kind, p.Changed)
	}
	emptied := inv()
	if p := tr.Next(emptied, false); p.Kind != parcv1.Report_DELTA || p.Inventory.Software == nil || len(p.Inventory.Software.Items) != 0 {
		t.Fatalf("emptied = %v %v", p.Kind, p.Inventory)
	}
	if p := tr.Next(inv(), true); p.Kind != parcv1.Report_FULL {
		t.Fatalf("forced = %v", p.Kind)
	}
}

func pkgNames(l []*parcv1.Software) (out []string) {
	for _, p := range l {
		out = append(out, p.Name+"@"+p.Version)
	}
	return out
}

// TestTrackerSoftwareChanges: with SoftwareChanges set, a changed list goes
// as the packages that changed, on top of the hash the collector was sent.
func TestTrackerSoftwareChanges(t *testing.T) {
	var tr Tracker
	first := tr.Next(inv("a", "b", "c", "d", "e", "g", "h"), false)
	next := inv("a", "b", "d", "e", "f", "g", "h")
	next.Software.Items[0].Version = "2" // a upgraded, c removed, f added
	tr.SoftwareChanges = true
	p := tr.Next(next, false)
	if p.Kind != parcv1.Report_DELTA || p.Inventory.Software != nil || p.SoftwareChanges == nil {
		t.Fatalf("payload: kind %v, section %v, changes %v", p.Kind, p.Inventory.GetSoftware(), p.SoftwareChanges)
	}
	c := p.SoftwareChanges
	if c.Base != first.Hashes["software"] || p.Hashes["software"] == c.Base {
		t.Errorf("base %s, want the previous hash %s", c.Base, first.Hashes["software"])
	}
	if got := fmt.Sprint(pkgNames(c.Set), pkgNames(c.Removed)); got != "[a@2 f@1] [c@]" {
		t.Errorf("changes = %s", got)
	}
	// Most of the list changed: whole is shorter.
	p = tr.Next(inv("v", "w", "x", "y", "z"), false)
	if p.SoftwareChanges != nil || len(p.Inventory.GetSoftware().GetItems()) != 5 {
		t.Errorf("a replaced list went as changes: %v", p.SoftwareChanges)
	}
	// Without the collector's support, the section goes whole.
	tr.SoftwareChanges = false
	if p := tr.Next(inv("v", "w", "x", "y"), false); p.SoftwareChanges != nil || p.Inventory.GetSoftware() == nil {
		t.Errorf("changes sent to a collector that does not apply them")
	}
}

func TestSoftwareDiffDeclinesDuplicates(t *testing.T) {
	twice := &parcv1.SoftwareList{Items: []*parcv1.Software{{Name: "kernel", Version: "1"}, {Name: "kernel", Version: "2"}, {Name: "a"}, {Name: "b"}, {Name: "c"}}}
	once := &parcv1.SoftwareList{Items: []*parcv1.Software{{Name: "kernel", Version: "2"}, {Name: "a"}, {Name: "b"}, {Name: "c"}}}
	if _, ok := SoftwareDiff(twice, once); ok {
		t.Error("diff from a list with a key twice")
	}
	if _, ok := SoftwareDiff(once, twice); ok {
		t.Error("diff to a list with a key twice")
	}
	// The same name from two sources, or for two architectures, is two packages.
	a := &parcv1.SoftwareList{Items: []*parcv1.Software{{Name: "x", Source: "dpkg"}, {Name: "x", Source: "snap"}, {Name: "x", Arch: "i386"}, {Name: "y"}}}
	b := proto.Clone(a).(*parcv1.SoftwareList)
	b.Items[1].Version = "2"
	c, ok := SoftwareDiff(a, b)
	if !ok || len(c.Set) != 1 || c.Set[0].Source != "snap" || len(c.Removed) != 0 {
		t.Errorf("diff = %v, %v", c, ok)
	}
}
