package reconcile

import (
	"slices"
	"testing"
)

func TestSoftwareRecordOrder(t *testing.T) {
	e := New(nil, Config{})
	pkgs := []Package{
		{Name: "zlib", Version: "1", Arch: "amd64", Source: "dpkg"},
		{Name: " ", Version: "blank name"},
		{Name: "bash", Version: "5", Arch: "amd64", Source: "dpkg"},
		{Name: "zlib", Version: "2", Arch: "amd64", Source: "dpkg"}, // listed twice: the first wins
		{Name: "bash", Version: "5", Arch: "i386", Source: "dpkg"},
		{Name: "Bash", Version: "4", Arch: "amd64", Source: "rpm"},
		{Name: "bash", Version: "6", Arch: "amd64", Source: "snap"},
	}
	var got []string
	for _, it := range e.softwareRecord(pkgs).Items {
		got = append(got, it.Name+"/"+it.Arch+"/"+it.Source+"@"+it.Version+"="+it.Title)
	}
	want := []string{"Bash/amd64/rpm@4=bash", "bash/amd64/dpkg@5=bash", "bash/amd64/snap@6=bash", "bash/i386/dpkg@5=bash", "zlib/amd64/dpkg@1=zlib"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	sorted := e.softwareRecord([]Package{{Name: "a", Version: "1"}, {Name: "b", Version: "1"}, {Name: "b", Version: "2"}})
	if len(sorted.Items) != 2 || sorted.Items[1].Version != "1" {
		t.Fatalf("sorted input with a duplicate: %+v", sorted.Items)
	}
}
