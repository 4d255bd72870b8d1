package change

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// FollowerActor is the actor of the follower's writes.
const FollowerActor = "system:change-follower"

// hardwareAttrs are the host attributes whose change is a hardware change.
var hardwareAttrs = []string{"memory_bytes", "memory_dimms", "cpu_model", "cpu_cores", "cpu_threads",
	"vendor", "model", "serial", "uuid", "board_vendor", "board_name", "board_serial", "bios_version"}

// softwareAttrs are the host attributes whose change is a software change.
var softwareAttrs = []string{"os_name", "os_version", "kernel"}

// volatileAttrs are component attributes that change without anyone
// touching the hardware (addresses, link speed, clock).
var volatileAttrs = []string{"addresses", "speed_mbps", "mhz"}

// componentClasses are the classes of a host's hardware components.
var componentClasses = []string{cmdb.ClassCPU, cmdb.ClassDisk, cmdb.ClassNIC, cmdb.ClassGPU}

// Follow runs the discovery follower until ctx ends: it reads the store's
// change feed from where it last stopped and, for every new inventory,
// verifies the implementing changes with expectations on the host and
// flags drift on change-controlled CIs. Run it as a singleton job.
func (s *Service) Follow(ctx context.Context) error {
	if s.cfg.OpenIncident != nil {
		pending, err := s.pendingIncidents(ctx)
		if err != nil {
			return err
		}
		s.openIncidents(ctx, pending)
	}
	for {
		var from int64
		if _, err := get(ctx, s.st, keyFollow, &from); err != nil {
			return err
		}
		err := s.follow(ctx, from)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrCompacted) {
			rev, rerr := s.st.Rev(ctx)
			if rerr != nil {
				return rerr
			}
			s.cfg.Logger.Warn("change feed compacted: discovery events were skipped", "from", from, "to", rev)
			if _, err := s.st.Update(ctx, func(tx store.Txn) error { return put(tx, keyFollow, rev) }); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

func (s *Service) follow(ctx context.Context, from int64) error {
	ch, err := s.st.Watch(ctx, nil, from)
	if err != nil {
		return err
	}
	var batch []store.Event
	saved, lastSave := from, time.Now()
	for ev := range ch {
		if ev.Err != nil {
			return ev.Err
		}
		if interesting(ev.Key) {
			batch = append(batch, ev)
		}
		if !ev.Last {
			continue
		}
		wrote, err := s.Handle(ctx, batch, ev.Rev)
		if err != nil {
			return err
		}
		s.followed.Store(ev.Rev)
		batch = batch[:0]
		if wrote {
			saved, lastSave = ev.Rev, time.Now()
		} else if ev.Rev-saved >= 1000 || (ev.Rev > saved && time.Since(lastSave) > 10*time.Second && len(ch) == 0) {
			// Remember progress now and then when nothing else is written,
			// so a restart replays little.
			if _, err := s.st.Update(ctx, func(tx store.Txn) error { return put(tx, keyFollow, ev.Rev) }); err != nil {
				return err
			}
			saved, lastSave = ev.Rev, time.Now()
		}
	}
	return ctx.Err()
}

// FollowedRev returns the last store revision the follower handled.
func (s *Service) FollowedRev() int64 { return s.followed.Load() }

func interesting(key []byte) bool {
	for _, p := range []string{cmdb.PrefixSoftware, cmdb.PrefixCI, cmdb.PrefixRelOut, reconcile.PrefixAgent} {
		if bytes.HasPrefix(key, []byte(p)) {
			return true
		}
	}
	return false
}

// discovered is one change discovery made to a CI.
type discovered struct {
	ci      string
	kind    string
	changes []cmdb.Change
}

// Handle processes the events of one store revision (already filtered to
// sw/, ci/, ro/ and ag/) in one transaction that also records rev as
// handled when it writes anything. It reports whether it wrote.
func (s *Service) Handle(ctx context.Context, evs []store.Event, rev int64) (bool, error) {
	if len(evs) == 0 {
		return false, nil
	}
	now := s.cfg.Now().UTC()
	wrote := false
	var pending []*Drift
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		wrote, pending = false, nil
		var found []discovered
		verify := map[string]bool{}
		// CIs created by these events: a component added to one is part
		// of its first inventory, no change.
		created := map[string]bool{}
		for _, ev := range evs {
			if ev.Type == store.EventPut && ev.Prev == nil && bytes.HasPrefix(ev.Key, []byte(cmdb.PrefixCI)) {
				created[string(ev.Key[len(cmdb.PrefixCI):])] = true
			}
		}
		for _, ev := range evs {
			d, host, err := classify(ctx, tx, ev, created)
			if err != nil {
				return err
			}
			found = append(found, d...)
			if host != "" {
				verify[host] = true
			}
		}
		// Verification concerns changes being implemented or reviewed:
		// when none is (most of the time), no host needs its changes read.
		if len(verify) > 0 {
			busy, err := verifying(ctx, tx)
			if err != nil {
				return err
			}
			if !busy {
				clear(verify)
			}
		}
		hosts := make([]string, 0, len(verify))
		for h := range verify {
			hosts = append(hosts, h)
		}
		slices.Sort(hosts)
		for _, h := range hosts {
			updated, err := verifyHost(ctx, tx, h, FollowerActor, now)
			if err != nil {
				return err
			}
			wrote = wrote || len(updated) > 0
		}
		for _, d := range found {
			flagged, err := s.drift(ctx, tx, d, rev, now, &pending)
			if err != nil {
				return err
			}
			wrote = wrote || flagged
		}
		if !wrote {
			return nil
		}
		return put(tx, keyFollow, rev)
	})
	if err != nil {
		return false, fmt.Errorf("change follower at revision %d: %w", rev, err)
	}
	s.openIncidents(ctx, pending)
	return wrote, nil
}

// verifying reports whether any change is in implement or review: one
// read of the open-change index (chg/open/), which every state change
// keeps in step.
func verifying(ctx context.Context, r store.Reader) (bool, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(prefixOpen)})
	if err != nil {
		return false, err
	}
	for _, kv := range kvs {
		var e openEntry
		if err := cmdb.Decode(kv.Value, &e); err != nil {
			return true, nil // unreadable: verify as if it were
		}
		if e.State == Implement || e.State == Review {
			return true, nil
		}
	}
	return false, nil
}

// classify turns one feed event into discovered changes, and names the
// host whose inventory arrived (for verification).
func classify(ctx context.Context, r store.Reader, ev store.Event, created map[string]bool) ([]discovered, string, error) {
	key := string(ev.Key)
	switch {
	case strings.HasPrefix(key, reconcile.PrefixAgent):
		if ev.Type != store.EventPut {
			return nil, "", nil
		}
		var a reconcile.AgentRecord
		if err := cmdb.Decode(ev.Value, &a); err != nil {
			return nil, "", nil // not ours to judge
		}
		return nil, a.HostID, nil

	case strings.HasPrefix(key, cmdb.PrefixSoftware):
		host := strings.TrimPrefix(key, cmdb.PrefixSoftware)
		if ev.Prev == nil {
			return nil, host, nil // a first inventory is not a change
		}
		// Software records are large: compare them only for the hosts
		// whose drift counts.
		if ctl, err := controlled(ctx, r, host); err != nil || !ctl {
			return nil, host, err
		}
		var before, after cmdb.SoftwareRecord
		if err := cmdb.Decode(ev.Prev, &before); err != nil {
			return nil, "", err
		}
		if ev.Type == store.EventPut {
			if err := cmdb.Decode(ev.Value, &after); err != nil {
				return nil, "", err
			}
		}
		var out []discovered
		byKind := map[string][]cmdb.Change{}
		for _, ch := range cmdb.SoftwareChanges(before.Items, after.Items, 1<<30) {
			kind := DriftSoftwareUpgraded
			switch {
			case ch.Before == nil:
				kind = DriftSoftwareAdded
			case ch.After == nil:
				kind = DriftSoftwareRemoved
			}
			byKind[kind] = append(byKind[kind], ch)
		}
		for _, kind := range []string{DriftSoftwareAdded, DriftSoftwareRemoved, DriftSoftwareUpgraded} {
			if len(byKind[kind]) > 0 {
				out = append(out, discovered{ci: host, kind: kind, changes: capChanges(byKind[kind])})
			}
		}
		return out, host, nil

	case strings.HasPrefix(key, cmdb.PrefixCI):
		if ev.Type != store.EventPut || ev.Prev == nil {
			return nil, "", nil
		}
		var before, after cmdb.CI
		if err := cmdb.Decode(ev.Prev, &before); err != nil {
			return nil, "", err
		}
		if err := cmdb.Decode(ev.Value, &after); err != nil {
			return nil, "", err
		}
		if slices.Contains(componentClasses, after.Class) {
			chs := attrChanges(&before, &after, nil)
			chs = slices.DeleteFunc(chs, func(c cmdb.Change) bool { return slices.Contains(volatileAttrs, c.Field) })
			if len(chs) == 0 {
				return nil, "", nil
			}
			host, err := parentOf(ctx, r, after.ID)
			if err != nil || host == "" {
				return nil, "", err
			}
			for i := range chs {
				chs[i].Field = after.Class + ":" + after.Name + ":" + chs[i].Field
			}
			return []discovered{{ci: host, kind: DriftHardware, changes: chs}}, "", nil
		}
		if after.Class != cmdb.ClassComputer {
			// Other CIs: an attribute expectation may now hold.
			return nil, after.ID, nil
		}
		var out []discovered
		if chs := attrChanges(&before, &after, hardwareAttrs); len(chs) > 0 {
			out = append(out, discovered{ci: after.ID, kind: DriftHardware, changes: chs})
		}
		if chs := attrChanges(&before, &after, softwareAttrs); len(chs) > 0 {
			out = append(out, discovered{ci: after.ID, kind: DriftSoftwareUpgraded, changes: chs})
		}
		return out, after.ID, nil

	case strings.HasPrefix(key, cmdb.PrefixRelOut):
		parts := strings.Split(strings.TrimPrefix(key, cmdb.PrefixRelOut), "/")
		if len(parts) != 3 || parts[1] != cmdb.RelContains {
			return nil, "", nil
		}
		host, comp := parts[0], parts[2]
		switch {
		case ev.Type == store.EventPut && ev.Prev == nil:
			if created[host] {
				return nil, "", nil // the host's first inventory
			}
			ci, err := loadCI(ctx, r, comp)
			if err != nil || ci == nil || !slices.Contains(componentClasses, ci.Class) {
				return nil, "", err
			}
			if isFirstInventory(ctx, r, host, ci) {
				return nil, "", nil
			}
			return []discovered{{ci: host, kind: DriftHardware, changes: []cmdb.Change{{Field: ci.Class + ":" + ci.Name, After: "added"}}}}, "", nil
		case ev.Type == store.EventDelete:
			ci, err := loadCI(ctx, r, comp)
			if err != nil || ci == nil || !slices.Contains(componentClasses, ci.Class) {
				return nil, "", err
			}
			return []discovered{{ci: host, kind: DriftHardware, changes: []cmdb.Change{{Field: ci.Class + ":" + ci.Name, Before: "present"}}}}, "", nil
		}
	}
	return nil, "", nil
}

// controlled reports whether CI id is change-controlled.
func controlled(ctx context.Context, r store.Reader, id string) (bool, error) {
	ci, err := loadCI(ctx, r, id)
	if err != nil || ci == nil {
		return false, err
	}
	ctl, err := controlOf(ctx, r, ci)
	return ctl != nil, err
}

// isFirstInventory reports whether a component appeared together with its
// host (the host's first report): not a change.
func isFirstInventory(ctx context.Context, r store.Reader, host string, comp *cmdb.CI) bool {
	h, err := loadCI(ctx, r, host)
	return err == nil && h != nil && !h.Created.Before(comp.Created)
}

func loadCI(ctx context.Context, r store.Reader, id string) (*cmdb.CI, error) {
	ci := &cmdb.CI{}
	ok, err := get(ctx, r, []byte(cmdb.PrefixCI+id), ci)
	if err != nil || !ok {
		return nil, err
	}
	return ci, nil
}

// parentOf returns the host that contains a component ("" when none).
func parentOf(ctx context.Context, r store.Reader, comp string) (string, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(cmdb.PrefixRelIn + comp + "/" + cmdb.RelContains + "/"), Limit: 1})
	if err != nil || len(kvs) == 0 {
		return "", err
	}
	return lastSegment(kvs[0].Key), nil
}

// attrChanges lists the attribute changes from a to b, of the named
// attributes only (all when names is nil).
func attrChanges(a, b *cmdb.CI, names []string) []cmdb.Change {
	var out []cmdb.Change
	keys := map[string]bool{}
	for k := range a.Attrs {
		keys[k] = true
	}
	for k := range b.Attrs {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		if names == nil || slices.Contains(names, k) {
			sorted = append(sorted, k)
		}
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		av, bv := cmdb.Canon(a.Attr(k)), cmdb.Canon(b.Attr(k))
		if fmt.Sprint(av) != fmt.Sprint(bv) {
			out = append(out, cmdb.Change{Field: k, Before: av, After: bv})
		}
	}
	return out
}

func capChanges(chs []cmdb.Change) []cmdb.Change {
	if len(chs) > 50 {
		return append(chs[:50:50], cmdb.Change{Field: "more", After: int64(len(chs) - 50)})
	}
	return chs
}

// drift records d when its CI is change-controlled and no implementing
// change covers it now.
func (s *Service) drift(ctx context.Context, tx store.Txn, d discovered, rev int64, now time.Time, pending *[]*Drift) (bool, error) {
	ci, err := loadCI(ctx, tx, d.ci)
	if err != nil || ci == nil {
		return false, err
	}
	ctl, err := controlOf(ctx, tx, ci)
	if err != nil || ctl == nil {
		return false, err
	}
	cs, err := changesOnCI(ctx, tx, d.ci)
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.Covers(d.ci, now) {
			return false, nil
		}
	}
	dr := &Drift{ID: cmdb.NewID(), CI: d.ci, CIName: ci.Name, At: now, Kind: d.kind, Changes: d.changes, Rev: rev,
		WantIncident: ctl.OpenIncident && s.cfg.OpenIncident != nil}
	if err := put(tx, driftKey(dr.ID), dr); err != nil {
		return false, err
	}
	if dr.WantIncident {
		*pending = append(*pending, dr)
	}
	return true, audit.Record(tx, audit.Entry{At: now, Actor: FollowerActor, Action: "change.drift", Object: "ci/" + d.ci,
		After: map[string]any{"drift": dr.ID, "kind": dr.Kind}, Detail: "no implementing change covers this discovered change"})
}

// openIncidents opens the incidents the drifts ask for and records their
// numbers. A failure is logged and retried when the follower restarts.
func (s *Service) openIncidents(ctx context.Context, drifts []*Drift) {
	for _, d := range drifts {
		num, err := s.cfg.OpenIncident(ctx, d, FollowerActor, s.cfg.Now())
		if err != nil {
			s.cfg.Logger.Warn("cannot open an incident for drift", "drift", d.ID, "ci", d.CI, "err", err)
			continue
		}
		now := s.cfg.Now().UTC()
		_, err = s.st.Update(ctx, func(tx store.Txn) error {
			cur := &Drift{}
			if ok, err := get(ctx, tx, driftKey(d.ID), cur); err != nil || !ok {
				return err
			}
			cur.Incident = num
			if err := put(tx, driftKey(d.ID), cur); err != nil {
				return err
			}
			return audit.Record(tx, audit.Entry{At: now, Actor: FollowerActor, Action: "change.drift.incident", Object: "ci/" + d.CI,
				After: map[string]any{"drift": d.ID, "incident": num}})
		})
		if err != nil {
			s.cfg.Logger.Warn("cannot record the incident of a drift", "drift", d.ID, "incident", num, "err", err)
		}
	}
}

// pendingIncidents returns the drifts still waiting for their incident.
func (s *Service) pendingIncidents(ctx context.Context) ([]*Drift, error) {
	ds, err := s.Drifts(ctx, DriftOptions{Limit: 1000})
	if err != nil {
		return nil, err
	}
	var out []*Drift
	for i := range ds {
		if ds[i].WantIncident && ds[i].Incident == "" {
			out = append(out, &ds[i])
		}
	}
	return out, nil
}

func recordAudit(tx store.Txn, now time.Time, actor, action, num string, before, after any, detail string) error {
	return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: action, Object: "change/" + num, Before: before, After: after, Detail: detail})
}

// DriftOptions selects drift records.
type DriftOptions struct {
	CI string
	// All includes resolved records.
	All   bool
	Limit int
}

// Drifts lists unauthorized changes, newest first.
func (s *Service) Drifts(ctx context.Context, o DriftOptions) ([]Drift, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	var out []Drift
	rg := store.Range{Prefix: []byte(prefixDrift), Reverse: true, Limit: 500}
	for {
		kvs, err := s.st.Scan(ctx, rg)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			var d Drift
			if err := cmdb.Decode(kv.Value, &d); err != nil {
				return nil, err
			}
			if (o.CI == "" || d.CI == o.CI) && (o.All || d.ResolvedBy == "") {
				out = append(out, d)
				if len(out) == o.Limit {
					return out, nil
				}
			}
		}
		if len(kvs) < rg.Limit {
			return out, nil
		}
		rg.End = kvs[len(kvs)-1].Key
		rg.Prefix = nil
		rg.Start = []byte(prefixDrift)
	}
}

// ResolveDrift marks a drift record as accepted by actor with a note (for
// example the change that should have covered it).
func (s *Service) ResolveDrift(ctx context.Context, id, actor, note string, now time.Time) (*Drift, error) {
	if !validSegment(id) {
		return nil, invalid("drift id %q", id)
	}
	if strings.TrimSpace(note) == "" {
		return nil, invalid("resolving drift needs a note")
	}
	var d *Drift
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		d = &Drift{} // fresh on every attempt: a retry must not see the last one's changes
		ok, err := get(ctx, tx, driftKey(id), d)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("drift %s: %w", id, cmdb.ErrNotFound)
		}
		if d.ResolvedBy != "" {
			return fmt.Errorf("drift %s was resolved by %s: %w", id, d.ResolvedBy, cmdb.ErrConflict)
		}
		d.ResolvedBy, d.Note = actor, note
		if err := put(tx, driftKey(id), d); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.drift.resolve", Object: "ci/" + d.CI, Detail: note})
	})
	if err != nil {
		return nil, fmt.Errorf("resolve drift %s: %w", id, err)
	}
	return d, nil
}
