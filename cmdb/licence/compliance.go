package licence

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"parc/cmdb"
)

// Install is one discovered install as compliance sees it.
type Install struct {
	Title     string `cbor:"1,keyasint"`
	Version   string `cbor:"3,keyasint"`
	Publisher string `cbor:"5,keyasint"`
}

// HostFacts are the host attributes that licence metrics count.
type HostFacts struct {
	Name string
	// Cores counts for per-core licences (1 when unknown).
	Cores int64
	// User is who a per-user licence counts on this host (its owner, else
	// its first reported user; empty counts the host as its own user).
	User string
	// Retired hosts consume no licence, whatever their last inventory says.
	Retired bool
}

// LicenceStatus is the compliance of one entitlement.
type LicenceStatus struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Title  string `json:"title"`
	Metric string `json:"metric"`
	// Seats entitled (0 for a site licence: unlimited).
	Seats int64 `json:"seats"`
	// Used is the number of seats (devices, users or cores) consumed.
	Used int64 `json:"used"`
	// Unused is Seats-Used when positive.
	Unused int64 `json:"unused"`
	// OverDeployed counts units that matched this licence first but found
	// no free seat on any licence of the product.
	OverDeployed int64 `json:"over_deployed"`
	// Installs counts the installs this licence covers.
	Installs int       `json:"installs"`
	Expiry   time.Time `json:"expiry,omitzero"`
	Expired  bool      `json:"expired,omitempty"`
	Cost     float64   `json:"cost,omitempty"`
	// Status is compliant, over_deployed or expired.
	Status string `json:"status"`
}

// Unlicensed is an install of a licensed product that no seat covers.
type Unlicensed struct {
	Host     string `json:"host"`
	HostName string `json:"host_name"`
	Title    string `json:"title"`
	Version  string `json:"version"`
	Reason   string `json:"reason"`
}

// ProductStatus sums up one licensed product (title).
type ProductStatus struct {
	Title      string `json:"title"`
	Installs   int    `json:"installs"`
	Licensed   int    `json:"licensed"`
	Unlicensed int    `json:"unlicensed"`
}

// Summary totals a report.
type Summary struct {
	Licences     int     `json:"licences"`
	Compliant    int     `json:"compliant"`
	OverDeployed int     `json:"over_deployed"`
	Expired      int     `json:"expired"`
	UnusedSeats  int64   `json:"unused_seats"`
	Unlicensed   int     `json:"unlicensed_installs"`
	Cost         float64 `json:"cost"`
}

// Report is the compliance of every entitlement at one instant.
type Report struct {
	At       time.Time       `json:"at"`
	Rev      int64           `json:"rev"`
	Hosts    int             `json:"hosts"`
	Summary  Summary         `json:"summary"`
	Licences []LicenceStatus `json:"licences"`
	Products []ProductStatus `json:"products"`
	// Unlicensed lists installs not covered, ordered by title and host
	// name, at most the limit asked for (UnlicensedTruncated says so).
	Unlicensed          []Unlicensed `json:"unlicensed"`
	UnlicensedTruncated bool         `json:"unlicensed_truncated,omitempty"`
}

type hostInstall struct {
	title            string
	version, publish string
}

type hostState struct {
	facts HostFacts
	items []hostInstall // licensed titles only, one per title, sorted
}

type licUse struct {
	used, over int64
	installs   int
}

// titleEntry is one host's install of a product.
type titleEntry struct {
	host string
	it   hostInstall
	hs   *hostState
}

type titleState struct {
	entries []titleEntry // sorted by host
	dirty   bool
	// results of the last computation
	use        map[int]*licUse
	unlicensed []Unlicensed
	licensed   int
}

// Compliance holds the licensed installs of every host and computes the
// report, incrementally: a host update marks only its products for
// recomputation. It is safe for concurrent use.
type Compliance struct {
	mu      sync.Mutex
	ents    []Entitlement
	byTitle map[string][]int
	titles  map[string]*titleState
	hosts   map[string]*hostState
	day     time.Time
}

// NewCompliance returns an empty Compliance for the entitlements.
func NewCompliance(ents []Entitlement) *Compliance {
	ents = append([]Entitlement(nil), ents...)
	sort.Slice(ents, func(i, j int) bool { return ents[i].ID < ents[j].ID })
	c := &Compliance{ents: ents, byTitle: map[string][]int{}, titles: map[string]*titleState{}, hosts: map[string]*hostState{}}
	for i, e := range ents {
		c.byTitle[e.Title] = append(c.byTitle[e.Title], i)
	}
	for t := range c.byTitle {
		c.titles[t] = &titleState{dirty: true}
	}
	return c
}

// Licensed reports whether some entitlement names title.
func (c *Compliance) Licensed(title string) bool {
	_, ok := c.byTitle[title]
	return ok
}

// Filter returns the installs of licensed titles, one per title (the
// highest version when a host has several packages of one title), sorted
// by title.
func (c *Compliance) Filter(items []Install) []hostInstall {
	var out []hostInstall
	for i := range items {
		it := &items[i]
		if _, ok := c.byTitle[it.Title]; !ok {
			continue
		}
		out = append(out, hostInstall{title: it.Title, version: it.Version, publish: it.Publisher})
	}
	if len(out) < 2 {
		return out
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].title != out[j].title {
			return out[i].title < out[j].title
		}
		return CompareVersions(out[i].version, out[j].version) > 0
	})
	k := 1
	for i := 1; i < len(out); i++ {
		if out[i].title != out[k-1].title {
			out[k] = out[i]
			k++
		}
	}
	return out[:k]
}

// Unchanged reports whether the host's licensed installs equal items
// (already filtered), so an update can be skipped.
func (c *Compliance) Unchanged(host string, items []hostInstall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[host]
	if !ok {
		return len(items) == 0
	}
	if len(h.items) != len(items) {
		return false
	}
	for i := range items {
		if h.items[i] != items[i] {
			return false
		}
	}
	return true
}

// SetHost replaces what a host has installed. items are every install of
// the host (unlicensed titles are dropped); pass nil to remove the host.
func (c *Compliance) SetHost(host string, facts HostFacts, items []Install) {
	if facts.Retired {
		items = nil
	}
	c.setFiltered(host, facts, c.Filter(items))
}

func (c *Compliance) setFiltered(host string, facts HostFacts, items []hostInstall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := c.hosts[host]
	var oldItems []hostInstall
	factsChanged := false
	if hs != nil {
		oldItems = hs.items
		factsChanged = hs.facts != facts
	} else {
		hs = &hostState{}
	}
	// Drop the titles the host no longer has, then put the current ones
	// (put marks a product dirty only when its install changed).
	j := 0
	for _, o := range oldItems {
		for j < len(items) && items[j].title < o.title {
			j++
		}
		if j < len(items) && items[j].title == o.title {
			continue
		}
		if ts := c.titles[o.title]; ts != nil {
			ts.remove(host)
		}
	}
	hs.facts, hs.items = facts, items
	for _, it := range items {
		ts := c.titles[it.title]
		ts.put(host, it, hs)
		if factsChanged {
			ts.dirty = true
		}
	}
	if len(items) == 0 {
		delete(c.hosts, host)
		return
	}
	c.hosts[host] = hs
}

func (ts *titleState) find(host string) (int, bool) {
	i := sort.Search(len(ts.entries), func(i int) bool { return ts.entries[i].host >= host })
	return i, i < len(ts.entries) && ts.entries[i].host == host
}

func (ts *titleState) remove(host string) {
	if i, ok := ts.find(host); ok {
		ts.entries = slices.Delete(ts.entries, i, i+1)
		ts.dirty = true
	}
}

func (ts *titleState) put(host string, it hostInstall, hs *hostState) {
	i, ok := ts.find(host)
	if ok {
		if ts.entries[i].it != it {
			ts.entries[i].it = it
			ts.dirty = true
		}
		ts.entries[i].hs = hs
		return
	}
	ts.entries = slices.Insert(ts.entries, i, titleEntry{host: host, it: it, hs: hs})
	ts.dirty = true
}

// Hosts returns the number of hosts with a licensed install.
func (c *Compliance) Hosts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.hosts)
}

// Report computes the compliance at now (expiry is judged against it),
// listing at most limit unlicensed installs (0: all). Only products changed
// since the last call are recomputed.
func (c *Compliance) Report(now time.Time, limit int) *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	day := now.UTC().Truncate(24 * time.Hour)
	if !day.Equal(c.day) {
		c.day = day
		for _, ts := range c.titles {
			ts.dirty = true
		}
	}
	titles := make([]string, 0, len(c.titles))
	for t, ts := range c.titles {
		titles = append(titles, t)
		if ts.dirty {
			c.compute(t, ts, now)
		}
	}
	sort.Strings(titles)
	rep := &Report{At: now.UTC(), Hosts: len(c.hosts), Licences: []LicenceStatus{}, Products: []ProductStatus{}, Unlicensed: []Unlicensed{}}
	statuses := make([]LicenceStatus, len(c.ents))
	for _, t := range titles {
		ts := c.titles[t]
		rep.Products = append(rep.Products, ProductStatus{Title: t, Installs: len(ts.entries), Licensed: ts.licensed, Unlicensed: len(ts.unlicensed)})
		rep.Summary.Unlicensed += len(ts.unlicensed)
		for _, u := range ts.unlicensed {
			if limit > 0 && len(rep.Unlicensed) >= limit {
				rep.UnlicensedTruncated = true
				break
			}
			rep.Unlicensed = append(rep.Unlicensed, u)
		}
		for _, i := range c.byTitle[t] {
			e := &c.ents[i]
			st := LicenceStatus{ID: e.ID, Name: e.Name, Title: e.Title, Metric: e.Metric, Seats: e.Seats,
				Expiry: e.Expiry, Expired: e.Expired(now), Cost: e.Cost, Status: "compliant"}
			if u := ts.use[i]; u != nil {
				st.Used, st.OverDeployed, st.Installs = u.used, u.over, u.installs
			}
			if e.Metric == MetricSite {
				st.Seats = 0
			} else if st.Seats > st.Used && !st.Expired {
				st.Unused = st.Seats - st.Used
			}
			switch {
			case st.Expired:
				st.Status = "expired"
			case st.OverDeployed > 0:
				st.Status = "over_deployed"
			}
			statuses[i] = st
		}
	}
	sort.SliceStable(statuses, func(i, j int) bool { return strings.ToLower(statuses[i].Name) < strings.ToLower(statuses[j].Name) })
	for _, st := range statuses {
		rep.Summary.Licences++
		switch st.Status {
		case "compliant":
			rep.Summary.Compliant++
		case "over_deployed":
			rep.Summary.OverDeployed++
		case "expired":
			rep.Summary.Expired++
		}
		rep.Summary.UnusedSeats += st.Unused
		rep.Summary.Cost += st.Cost
	}
	rep.Licences = statuses
	return rep
}

// compute allocates the product's installs to its licences, hosts in id
// order, each to the first licence (by id) that covers it and has a free
// seat. Installs with none are unlicensed; their units count as
// over-deployment of the first licence that covers them.
func (c *Compliance) compute(title string, ts *titleState, now time.Time) {
	idx := c.byTitle[title]
	ts.use = make(map[int]*licUse, len(idx))
	for _, i := range idx {
		ts.use[i] = &licUse{}
	}
	ts.unlicensed = ts.unlicensed[:0]
	ts.licensed = 0
	users := map[int]map[string]bool{} // per-user licences: users holding a seat
	var cands []int
	for _, en := range ts.entries {
		host, it, facts := en.host, en.it, en.hs.facts
		cands = cands[:0]
		expired := false
		for _, i := range idx {
			e := &c.ents[i]
			if !e.Covers(it.publish, it.version) {
				continue
			}
			if e.Expired(now) {
				expired = true
				continue
			}
			cands = append(cands, i)
		}
		if len(cands) == 0 {
			reason := "no licence covers version " + it.version
			if expired {
				reason = "licence expired"
			}
			ts.unlicensed = append(ts.unlicensed, Unlicensed{Host: host, HostName: facts.Name, Title: title, Version: it.version, Reason: reason})
			continue
		}
		units := int64(1)
		user := facts.User
		if user == "" {
			user = "host:" + host
		}
		allocated := false
		for _, i := range cands {
			e := &c.ents[i]
			u := ts.use[i]
			switch e.Metric {
			case MetricSite:
				allocated = true
				u.used++
			case MetricUser:
				if users[i] == nil {
					users[i] = map[string]bool{}
				}
				if users[i][user] {
					allocated = true
				} else if u.used+1 <= e.Seats {
					users[i][user] = true
					u.used++
					allocated = true
				}
			case MetricCore:
				units = max(1, facts.Cores)
				if u.used+units <= e.Seats {
					u.used += units
					allocated = true
				}
			default:
				if u.used+1 <= e.Seats {
					u.used++
					allocated = true
				}
			}
			if allocated {
				u.installs++
				break
			}
		}
		if allocated {
			ts.licensed++
			continue
		}
		first := ts.use[cands[0]]
		if c.ents[cands[0]].Metric == MetricCore {
			units = max(1, facts.Cores)
		}
		first.over += units
		first.installs++
		ts.unlicensed = append(ts.unlicensed, Unlicensed{Host: host, HostName: facts.Name, Title: title, Version: it.version, Reason: "over-deployed: no free seat"})
	}
	sort.SliceStable(ts.unlicensed, func(i, j int) bool { return ts.unlicensed[i].HostName < ts.unlicensed[j].HostName })
	ts.dirty = false
}

// FactsOf reads the licence-relevant facts of a host CI.
func FactsOf(ci *cmdb.CI) HostFacts {
	f := HostFacts{Name: ci.Name, Cores: 1, Retired: ci.State == "retire"}
	if n, ok := cmdb.Canon(ci.Attr("cpu_cores")).(int64); ok && n > 0 {
		f.Cores = n
	}
	f.User = ci.AttrString("owner")
	if f.User == "" {
		if us, ok := cmdb.Canon(ci.Attr("users")).([]string); ok && len(us) > 0 {
			f.User = us[0]
		}
	}
	return f
}
