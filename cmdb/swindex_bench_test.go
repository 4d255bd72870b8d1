package cmdb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// benchSoftware returns host i's software record: 800 packages of which
// 480 are a base shared by every host, the rest drawn from a pool of 3000
// with versions varying by host. Some names are capitalised (their title
// differs from the name, and titles are then out of order) and some come
// in two architectures (a title twice in the record).
func benchSoftware(i int) SoftwareRecord {
	rnd := rand.New(rand.NewPCG(uint64(i), 1))
	var rec SoftwareRecord
	add := func(name, version string) {
		rec.Items = append(rec.Items, Installed{Title: NormalizeTitle(name), Name: name, Version: version, Arch: "amd64",
			Publisher: "Debian", Source: "dpkg", Installed: 1_700_000_000})
		if len(name)%17 == 0 {
			rec.Items = append(rec.Items, Installed{Title: NormalizeTitle(name), Name: name, Version: version, Arch: "i386",
				Publisher: "Debian", Source: "dpkg", Installed: 1_700_000_000})
		}
	}
	name := func(p int) string {
		if p%23 == 0 {
			return fmt.Sprintf("Vendor Tool %04d", p)
		}
		return fmt.Sprintf("lib-package-%04d", p)
	}
	for p := range 480 {
		add(name(p), fmt.Sprintf("1.%d.%d-1", p%7, p%13))
	}
	for _, p := range rnd.Perm(3000)[:320] {
		p += 480
		add(name(p), fmt.Sprintf("2.%d.%d-%d", p%5, p%11, rnd.IntN(3)))
	}
	slices.SortFunc(rec.Items, func(a, b Installed) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Arch, b.Arch); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
	return rec
}

// benchUpgrade returns rec with 1 to 4 packages at another version.
func benchUpgrade(rec SoftwareRecord, rnd *rand.Rand) SoftwareRecord {
	out := SoftwareRecord{Items: slices.Clone(rec.Items)}
	for range 1 + rnd.IntN(4) {
		it := &out.Items[rnd.IntN(len(out.Items))]
		it.Version += "+u1"
	}
	return out
}

func mustEncode(b *testing.B, v any) []byte {
	b.Helper()
	p, err := Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkTitleIndexApply reports the indexer's work per software change
// event, fed straight into it: a host's first record (insert), and a
// report changing a few packages' versions (upgrade).
func BenchmarkTitleIndexApply(b *testing.B) {
	const hosts = 200
	recs := make([][]byte, hosts)
	ups := make([][]byte, hosts)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range hosts {
		rec := benchSoftware(i)
		recs[i] = mustEncode(b, rec)
		ups[i] = mustEncode(b, benchUpgrade(rec, rnd))
	}
	b.Run("insert", func(b *testing.B) {
		x := NewTitleIndexer(nil, nil)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := x.fold(fmt.Sprintf("host-%06d", i), nil, recs[i%hosts]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("upgrade", func(b *testing.B) {
		x := NewTitleIndexer(nil, nil)
		names := make([]string, hosts)
		for i := range hosts {
			names[i] = fmt.Sprintf("host-%06d", i)
			if err := x.fold(names[i], nil, recs[i]); err != nil {
				b.Fatal(err)
			}
		}
		cur := make([]int, hosts) // 0: recs[i] is the host's record, 1: ups[i]
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := i % hosts
			from, to := recs[h], ups[h]
			if cur[h] == 1 {
				from, to = to, from
			}
			cur[h] ^= 1
			if err := x.fold(names[h], from, to); err != nil {
				b.Fatal(err)
			}
		}
	})
}
