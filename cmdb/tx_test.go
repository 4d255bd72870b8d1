package cmdb

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// softwareChangesRef is SoftwareChanges as it was before the sorted lists
// got a merge: two maps per call.
func softwareChangesRef(before, after []Installed, limit int) []Change {
	type key struct{ name, arch string }
	idx := func(items []Installed) map[key]Installed {
		m := make(map[key]Installed, len(items))
		for _, it := range items {
			m[key{it.Name, it.Arch}] = it
		}
		return m
	}
	if (len(before) == 0 && len(after) > limit) || (len(after) == 0 && len(before) > limit) {
		return []Change{{Field: "software", Before: int64(len(before)), After: int64(len(after))},
			{Field: "software.added", After: int64(len(after))},
			{Field: "software.removed", After: int64(len(before))},
			{Field: "software.changed", After: int64(0)}}
	}
	b, a := idx(before), idx(after)
	var changes []Change
	var added, removed, changed int
	field := func(k key) string {
		if k.arch == "" {
			return "software:" + k.name
		}
		return "software:" + k.name + ":" + k.arch
	}
	for k, ai := range a {
		bi, ok := b[k]
		switch {
		case !ok:
			added++
			changes = append(changes, Change{Field: field(k), After: ai.Version})
		case bi.Version != ai.Version:
			changed++
			changes = append(changes, Change{Field: field(k), Before: bi.Version, After: ai.Version})
		}
	}
	for k, bi := range b {
		if _, ok := a[k]; !ok {
			removed++
			changes = append(changes, Change{Field: field(k), Before: bi.Version})
		}
	}
	if len(changes) > limit {
		return []Change{{Field: "software", Before: int64(len(before)), After: int64(len(after))},
			{Field: "software.added", After: int64(added)},
			{Field: "software.removed", After: int64(removed)},
			{Field: "software.changed", After: int64(changed)}}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Field < changes[j].Field })
	return changes
}

// sameChanges reports whether got is want: equal, except that changes
// with the same field (name "a:b" and name "a" arch "b") may come in
// either order, as the reference leaves that order to map iteration.
func sameChanges(got, want []Change) bool {
	if reflect.DeepEqual(got, want) {
		return true
	}
	if !slices.IsSortedFunc(got, func(x, y Change) int { return strings.Compare(x.Field, y.Field) }) {
		return false
	}
	canon := func(cs []Change) []Change {
		cs = slices.Clone(cs)
		slices.SortFunc(cs, func(x, y Change) int {
			return cmp.Or(strings.Compare(x.Field, y.Field), strings.Compare(fmt.Sprint(x), fmt.Sprint(y)))
		})
		return cs
	}
	return reflect.DeepEqual(canon(got), canon(want))
}

func TestSoftwareChangesMatchesMaps(t *testing.T) {
	// Names around ':' and '-', which sort differently as names and as
	// fields, and arches that make fields collide.
	names := []string{"a", "a-b", "a.b", "a:b", "a:b:c", "ab", "b", "b+", "lib", "lib-dev", "lib2"}
	arches := []string{"", "", "amd64", "all", "b", "b:c"}
	versions := []string{"1", "1", "2", "2-1"}
	rng := rand.New(rand.NewPCG(5, 6))
	list := func() []Installed {
		n := rng.IntN(25)
		if n == 0 && rng.IntN(2) == 0 {
			return nil
		}
		items := make([]Installed, n)
		for k := range items {
			items[k] = Installed{Name: names[rng.IntN(len(names))], Arch: arches[rng.IntN(len(arches))],
				Version: versions[rng.IntN(len(versions))], Source: []string{"dpkg", "snap"}[rng.IntN(2)]}
		}
		switch rng.IntN(4) {
		case 0: // as the engine writes them, duplicates and all
			slices.SortStableFunc(items, func(a, b Installed) int {
				return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Arch, b.Arch), strings.Compare(a.Source, b.Source))
			})
		case 1, 2: // sorted by (Name, Arch) only
			slices.SortStableFunc(items, func(a, b Installed) int { return comparePackages(&a, &b) })
		}
		return items
	}
	var merged int
	for range 20000 {
		before, after := list(), list()
		if rng.IntN(3) == 0 { // mostly the same list, a few packages apart
			after = slices.Clone(before)
			for k := range after {
				if rng.IntN(8) == 0 {
					after[k].Version = versions[rng.IntN(len(versions))]
				}
			}
			if len(after) > 0 && rng.IntN(2) == 0 {
				lo := rng.IntN(len(after))
				after = slices.Delete(after, lo, min(len(after), lo+1+rng.IntN(3)))
			}
		}
		limit := []int{-1, 0, 1, 3, 8, 1000}[rng.IntN(6)]
		if sortedByPackage(before) && sortedByPackage(after) {
			merged++
		}
		got := SoftwareChanges(slices.Clone(before), slices.Clone(after), limit)
		if want := softwareChangesRef(before, after, limit); !sameChanges(got, want) {
			t.Fatalf("limit %d\nbefore %v\nafter  %v\n got %v\nwant %v", limit, before, after, got, want)
		}
	}
	if merged < 5000 {
		t.Errorf("only %d of the cases took the merge", merged)
	}
}

func TestSoftwareChangesDuplicates(t *testing.T) {
	before := []Installed{{Name: "a", Version: "1"}, {Name: "a", Version: "2"}, {Name: "b", Arch: "x", Version: "1"}}
	after := []Installed{{Name: "a", Version: "2"}, {Name: "b", Arch: "x", Version: "3"}, {Name: "b", Arch: "x", Version: "1"}}
	// The later entry counts: a is unchanged at 2, b:x unchanged at 1.
	if got := SoftwareChanges(before, after, 10); got != nil {
		t.Fatalf("got %v, want no changes", got)
	}
	after = append(after, Installed{Name: "c", Version: "1"})
	want := []Change{{Field: "software:c", After: "1"}}
	if got := SoftwareChanges(before, after, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// BenchmarkSoftwareChanges compares two inventories of 800 packages, five
// of them upgraded, with the merge and with the maps.
func BenchmarkSoftwareChanges(b *testing.B) {
	before := benchSoftwareRecord(800).Items
	slices.SortFunc(before, func(x, y Installed) int { return comparePackages(&x, &y) })
	after := slices.Clone(before)
	for k := 0; k < len(after); k += 160 {
		after[k].Version += "+b1"
	}
	for _, bc := range []struct {
		name string
		fn   func([]Installed, []Installed, int) []Change
	}{{"merge", SoftwareChanges}, {"maps", softwareChangesMap}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(bc.fn(before, after, 200)) != 5 {
					b.Fatal("want 5 changes")
				}
			}
		})
	}
}
