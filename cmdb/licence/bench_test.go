package licence_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/licence"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// The fleet of the targets: 10,000 hosts with 800 installs each,
// drawn from 4,000 titles through 64 host profiles; 50 entitlements
// (every metric) cover the first 50 titles.
const (
	benchHosts    = 10000
	benchInstalls = 800
	benchTitles   = 4000
	benchProfiles = 64
	benchLicences = 50
)

type fleet struct {
	ents     []licence.Entitlement
	profiles [][]licence.Install
	records  [][]byte // encoded cmdb.SoftwareRecord per profile
	facts    map[string][]byte
	hosts    []string
}

func newFleet(tb testing.TB, hosts int) *fleet {
	tb.Helper()
	f := &fleet{facts: map[string][]byte{}}
	metrics := []string{licence.MetricDevice, licence.MetricUser, licence.MetricCore, licence.MetricSite}
	for i := range benchLicences {
		f.ents = append(f.ents, licence.Entitlement{ID: fmt.Sprintf("01LIC%021d", i), Name: fmt.Sprintf("lic-%02d", i),
			Title: title(i), Metric: metrics[i%4], Seats: int64(1000 + 200*i)})
	}
	for p := range benchProfiles {
		var items []licence.Install
		var full []cmdb.Installed
		for k := range benchInstalls {
			t := (p*37 + k*5) % benchTitles
			v := fmt.Sprintf("%d.%d", 1+t%3, p%4)
			items = append(items, licence.Install{Title: title(t), Version: v, Publisher: "Acme"})
			full = append(full, cmdb.Installed{Title: title(t), Name: "pkg-" + title(t), Version: v, Arch: "amd64", Publisher: "Acme", Source: "dpkg"})
		}
		f.profiles = append(f.profiles, items)
		b, err := cmdb.Encode(cmdb.SoftwareRecord{Items: full})
		if err != nil {
			tb.Fatal(err)
		}
		f.records = append(f.records, b)
	}
	for i := range hosts {
		id := fmt.Sprintf("01HOST%020d", i)
		f.hosts = append(f.hosts, id)
		ci := cmdb.CI{ID: id, Class: cmdb.ClassComputer, Name: fmt.Sprintf("host-%05d", i), Attrs: map[string]cmdb.Attr{
			"cpu_cores": {Value: int64(2 + i%8)}, "owner": {Value: fmt.Sprintf("user-%04d", i%3000)}}}
		b, err := cmdb.Encode(ci)
		if err != nil {
			tb.Fatal(err)
		}
		f.facts[id] = b
	}
	return f
}

func title(i int) string { return fmt.Sprintf("title %04d", i) }

// factsReader serves host CIs from memory for the feed path.
type factsReader map[string][]byte

func (r factsReader) Get(_ context.Context, key []byte) ([]byte, error) {
	if v, ok := r[string(key[len(cmdb.PrefixCI):])]; ok {
		return v, nil
	}
	return nil, store.ErrNotFound
}
func (r factsReader) Scan(context.Context, store.Range) ([]store.KV, error) { return nil, nil }

func hostFacts(i int) licence.HostFacts {
	return licence.HostFacts{Name: fmt.Sprintf("host-%05d", i), Cores: int64(2 + i%8), User: fmt.Sprintf("user-%04d", i%3000)}
}

// BenchmarkComplianceFull is the first target (at most 2 s): the
// full compliance of 10,000 hosts × 800 installs from their (decoded)
// inventories, report included.
func BenchmarkComplianceFull(b *testing.B) {
	f := newFleet(b, benchHosts)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	runtime.GC()
	b.ResetTimer()
	var rep *licence.Report
	for b.Loop() {
		c := licence.NewCompliance(f.ents)
		for i, h := range f.hosts {
			c.SetHost(h, hostFacts(i), f.profiles[i%benchProfiles])
		}
		rep = c.Report(now, 1000)
	}
	b.ReportMetric(float64(benchHosts*benchInstalls), "installs/op")
	b.ReportMetric(float64(rep.Summary.Unlicensed), "unlicensed")
}

// BenchmarkComplianceFullDecoded is the same computation starting from the
// encoded software records (the store's form), CBOR decoding included.
func BenchmarkComplianceFullDecoded(b *testing.B) {
	f := newFleet(b, benchHosts)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	r := factsReader(f.facts)
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		c := licence.NewCompliance(f.ents)
		for i, h := range f.hosts {
			ev := store.Event{Type: store.EventPut, Key: []byte(cmdb.PrefixSoftware + h), Value: f.records[i%benchProfiles]}
			if err := c.ApplyEvent(ctx, r, ev); err != nil {
				b.Fatal(err)
			}
		}
		c.Report(now, 1000)
	}
	b.ReportMetric(float64(benchHosts*benchInstalls), "installs/op")
}

// BenchmarkComplianceIncremental is the second target (at most
// 5 ms): one host's new inventory (800 installs, one licensed version
// changed) through the feed path, then the updated report, on a fleet of
// 10,000 hosts.
func BenchmarkComplianceIncremental(b *testing.B) {
	f := newFleet(b, benchHosts)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	r := factsReader(f.facts)
	c := licence.NewCompliance(f.ents)
	for i, h := range f.hosts {
		c.SetHost(h, hostFacts(i), f.profiles[i%benchProfiles])
	}
	c.Report(now, 1000)
	// Variants of each profile with one licensed install's version bumped.
	bumped := make([][]byte, benchProfiles)
	for p := range benchProfiles {
		var rec cmdb.SoftwareRecord
		if err := cmdb.Decode(f.records[p], &rec); err != nil {
			b.Fatal(err)
		}
		for k := range rec.Items {
			if c.Licensed(rec.Items[k].Title) {
				rec.Items[k].Version = "9.9"
				break
			}
		}
		bumped[p], _ = cmdb.Encode(rec)
	}
	// Warm up with one delta, and collect the setup's garbage, so that a
	// single timed iteration (make bench runs -benchtime 1x) is typical.
	warm := store.Event{Type: store.EventPut, Key: []byte(cmdb.PrefixSoftware + f.hosts[benchHosts-1]), Value: bumped[(benchHosts-1)%benchProfiles]}
	if err := c.ApplyEvent(ctx, r, warm); err != nil {
		b.Fatal(err)
	}
	c.Report(now, 1000)
	runtime.GC()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		i := n % benchHosts
		val := bumped[i%benchProfiles]
		if (n/benchHosts)%2 == 1 {
			val = f.records[i%benchProfiles]
		}
		n++
		ev := store.Event{Type: store.EventPut, Key: []byte(cmdb.PrefixSoftware + f.hosts[i]), Value: val}
		if err := c.ApplyEvent(ctx, r, ev); err != nil {
			b.Fatal(err)
		}
		c.Report(now, 1000)
	}
}

// BenchmarkComplianceFromStore measures Compute over a real store (1,000
// hosts × 800 installs, written at setup): scan, decode and report.
func BenchmarkComplianceFromStore(b *testing.B) {
	const hosts = 1000
	st := teststore.Open(b)
	ctx := context.Background()
	f := newFleet(b, hosts)
	_, err := st.Update(ctx, func(tx store.Txn) error {
		for _, e := range f.ents {
			v, _ := cmdb.Encode(e)
			if err := tx.Put([]byte(licence.PrefixEntitlement+e.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < hosts; i += 20 {
		_, err := st.Update(ctx, func(tx store.Txn) error {
			for j := i; j < min(i+20, hosts); j++ {
				h := f.hosts[j]
				if err := tx.Put([]byte(cmdb.PrefixCI+h), f.facts[h]); err != nil {
					return err
				}
				if err := tx.Put([]byte(cmdb.PrefixSoftware+h), f.records[j%benchProfiles]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		if _, err := licence.Compute(ctx, st, now, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(hosts*benchInstalls), "installs/op")
}

// BenchmarkNormalizerTitle measures a package name seen for the first time
// (rules tried in turn); names seen before are answered from a cache.
func BenchmarkNormalizerTitle(b *testing.B) {
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"Microsoft Office Professional Plus 2019", "Mozilla Firefox 120.0 (x64 en-US)", "libreoffice-calc",
		"Acme Widget Studio 4.2", "python3.11-minimal", "google-chrome-stable", "libc6", "openjdk-17-jre-headless"}
	i := 0
	for b.Loop() {
		n.Title(fmt.Sprintf("%s %d", names[i%len(names)], i), "Publisher")
		i++
	}
}

// BenchmarkNormalizerTitleCached measures names seen before (the cache), on
// every core at once as the committers ask.
func BenchmarkNormalizerTitleCached(b *testing.B) {
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 800)
	for i := range names {
		names[i] = fmt.Sprintf("libpackage-%d", i*7)
		n.Title(names[i], "Debian")
	}
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			n.Title(names[i%len(names)], "Debian")
		}
	})
}
