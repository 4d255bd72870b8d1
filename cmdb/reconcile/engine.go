package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// PrefixAgent holds one record per agent: the host it reports, the last
// applied (boot, sequence) and when it was last heard from.
const PrefixAgent = "ag/"

// PrefixEvent holds the current state of every health condition an agent
// reported, one key per host, kind and subject; the incident module follows
// it through the change feed.
const PrefixEvent = "ev/"

// AgentRecord is the collector's memory of one agent.
type AgentRecord struct {
	AgentID  string    `cbor:"1,keyasint" json:"agent_id"`
	HostID   string    `cbor:"2,keyasint" json:"host_id"`
	BootID   string    `cbor:"3,keyasint" json:"boot_id"`
	Seq      uint64    `cbor:"4,keyasint" json:"seq"`
	LastSeen time.Time `cbor:"5,keyasint" json:"last_seen"`
	// Collected is the agent-side time of the last applied report.
	Collected time.Time `cbor:"6,keyasint" json:"collected"`
	Version   string    `cbor:"7,keyasint,omitempty" json:"version,omitempty"`
	// Boots remembers the last sequence of recent earlier boots, so a
	// replay from before a restart is recognised.
	Boots map[string]uint64 `cbor:"8,keyasint,omitempty" json:"-"`
	// Errors are the gatherers that failed in the last report.
	Errors map[string]string `cbor:"9,keyasint,omitempty" json:"errors,omitempty"`
	// Software is the agent's hash of the software list the host's record
	// holds ("" when unknown): package changes apply only on top of it.
	Software string `cbor:"10,keyasint,omitempty" json:"-"`
	// SocketsSettled says the host's sockets record (hs/) has no work left
	// from an earlier report: a report without sockets skips it.
	SocketsSettled bool `cbor:"11,keyasint,omitempty" json:"-"`
}

// EventRecord is the last report of one health condition on a host.
type EventRecord struct {
	Host    string    `cbor:"1,keyasint" json:"host"`
	Kind    string    `cbor:"2,keyasint" json:"kind"`
	Subject string    `cbor:"3,keyasint" json:"subject"`
	OK      bool      `cbor:"4,keyasint" json:"ok"`
	Message string    `cbor:"5,keyasint,omitempty" json:"message,omitempty"`
	Value   float64   `cbor:"6,keyasint,omitempty" json:"value,omitempty"`
	At      time.Time `cbor:"7,keyasint" json:"at"`
	// Count is how many times the condition was reported while not OK.
	Count int64 `cbor:"8,keyasint" json:"count"`
}

// AgentKey is the store key of an agent's record.
func AgentKey(agentID string) []byte { return []byte(PrefixAgent + agentID) }

// Config tunes an Engine.
type Config struct {
	// Rules is the identification order (DefaultRules when empty).
	Rules []string
	// Precedence decides which source may overwrite an attribute
	// (DefaultPrecedence when nil).
	Precedence *Precedence
	// Title maps a package name and publisher to its normalized software
	// title (cmdb.NormalizeTitle of the name when nil).
	Title func(name, publisher string) string
	// NewID makes ids for new CIs (cmdb.NewID when nil). Every id must be
	// new: a new host's keys are written without reading them first.
	NewID func() string
	// OnApplied runs inside the ingest transaction after a report was
	// applied (audit, module hooks). An error aborts the whole report.
	OnApplied func(tx *cmdb.Tx, r *Report, res *Result) error
	Logger    *slog.Logger
	// LiveWindow is how recently an agent must have reported to count as
	// live when deciding whether a shared UUID or machine id is a clone
	// (default 7 days, the default staleness).
	LiveWindow time.Duration
	// MaxNewDeps caps the depends_on relationships one report may create
	// (default 20); the rest follow on the host's next reports.
	MaxNewDeps int
	// SightingEvery is how often a depends_on relationship seen again and
	// again is rewritten with its observation count and last sighting
	// (default DefaultSightingEvery); the sightings between are counted in
	// the client host's sockets record. Negative writes every sighting.
	SightingEvery time.Duration
	// NoGroupCommit applies every report in a transaction of its own.
	// By default reports arriving while a commit is in flight are applied
	// together in the next transaction (within the store's limits), so
	// that many small deltas share one commit and one fsync.
	NoGroupCommit bool
	// WriteBudget is the most writes one report's transaction may make
	// (default store.MaxTxnOps minus a margin for OnApplied). Dependency
	// mapping stops, to resume on the next report, before it is exceeded.
	WriteBudget int
}

// Engine reconciles agent reports into the graph.
type Engine struct {
	st  store.Store
	cfg Config

	limits     store.Limits // the store's, for batches
	gmu        sync.Mutex
	queue      []*pendingReport
	committers int
}

// New returns an Engine writing to st.
func New(st store.Store, cfg Config) *Engine {
	if len(cfg.Rules) == 0 {
		cfg.Rules = DefaultRules
	}
	if cfg.Precedence == nil {
		cfg.Precedence = DefaultPrecedence()
	}
	if cfg.Title == nil {
		cfg.Title = func(name, _ string) string { return cmdb.NormalizeTitle(name) }
	}
	if cfg.NewID == nil {
		cfg.NewID = cmdb.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LiveWindow <= 0 {
		cfg.LiveWindow = DefaultStaleAfter
	}
	if cfg.MaxNewDeps <= 0 {
		cfg.MaxNewDeps = 20
	}
	if cfg.SightingEvery == 0 {
		cfg.SightingEvery = DefaultSightingEvery
	}
	if cfg.WriteBudget <= 0 {
		cfg.WriteBudget = store.MaxTxnOps - 16
	}
	return &Engine{st: st, cfg: cfg, limits: store.LimitsOf(st)}
}

// Result says what applying a report did.
type Result struct {
	HostID string
	// Replayed is true when the (boot, sequence) was already applied or a
	// newer report superseded it: nothing was written.
	Replayed bool
	// Created is true when the report created the host CI.
	Created bool
	// Changed counts the CIs, relationships and records written.
	Changed int
	// Resync asks the agent for a full report: a delta arrived for a host
	// the collector has no full picture of.
	Resync bool
	// MatchedBy is the identification rule that found the host ("" when new).
	MatchedBy string
	// Rev is the store revision of the commit.
	Rev int64
	// Duplicate is true when the host shares a clonable identifier (SMBIOS
	// UUID or machine id) with another live machine: both are flagged
	// duplicate_identity and kept apart.
	Duplicate bool
	// Revived is true when the report cleared the host's stale flags.
	Revived bool
	// Writes is the number of store writes the transaction made.
	Writes int
}

// ErrBadReport wraps every validation failure of a report.
var ErrBadReport = errors.New("bad report")

// Validate checks a report before anything is written.
func Validate(r *Report) error {
	switch {
	case r.AgentID == "" || len(r.AgentID) > 128 || strings.ContainsAny(r.AgentID, "/\x00"):
		return fmt.Errorf("%w: agent id %q is empty, too long or has '/'", ErrBadReport, r.AgentID)
	case r.BootID == "" || len(r.BootID) > 128:
		return fmt.Errorf("%w: boot id is empty or too long", ErrBadReport)
	case r.Seq == 0:
		return fmt.Errorf("%w: sequence must start at 1", ErrBadReport)
	case r.Kind < Full || r.Kind > Heartbeat:
		return fmt.Errorf("%w: unknown report kind %d", ErrBadReport, r.Kind)
	case r.Kind == Full && !r.Has(SecSystem):
		return fmt.Errorf("%w: full report without a system section", ErrBadReport)
	case r.Has(SecSystem) && strings.TrimSpace(r.Inventory.System.Hostname) == "":
		return fmt.Errorf("%w: system section without a hostname", ErrBadReport)
	case len(r.SoftwareHash) > 128:
		return fmt.Errorf("%w: software hash too long", ErrBadReport)
	}
	if c := r.SoftwareChanges; c != nil {
		return validSoftwareChanges(r, c)
	}
	return nil
}

func validSoftwareChanges(r *Report, c *SoftwareChanges) error {
	switch {
	case r.Kind != Delta:
		return fmt.Errorf("%w: package changes outside a delta", ErrBadReport)
	case r.Has(SecSoftware):
		return fmt.Errorf("%w: package changes and a software section in one report", ErrBadReport)
	case c.Base == "" || len(c.Base) > 128 || r.SoftwareHash == "":
		return fmt.Errorf("%w: package changes without the hashes of their base and result", ErrBadReport)
	}
	set := make(map[pkgKey]bool, len(c.Set))
	for _, p := range c.Set {
		k := pkgKey{p.Name, p.Arch, p.Source}
		if strings.TrimSpace(p.Name) == "" || set[k] {
			return fmt.Errorf("%w: package change without a name, or twice for %q", ErrBadReport, p.Name)
		}
		set[k] = true
	}
	for _, p := range c.Removed {
		k := pkgKey{p.Name, p.Arch, p.Source}
		if strings.TrimSpace(p.Name) == "" || set[k] {
			return fmt.Errorf("%w: package removal without a name, or of %q also set or removed twice", ErrBadReport, p.Name)
		}
		set[k] = true
	}
	return nil
}

type pkgKey struct{ name, arch, source string }

// Apply reconciles one report in one transaction: identify the host,
// update its CI, components and software, and remember the agent's
// sequence. A replayed sequence writes nothing.
func (e *Engine) Apply(ctx context.Context, r *Report, now time.Time) (Result, error) {
	if err := Validate(r); err != nil {
		return Result{}, err
	}
	if !e.cfg.NoGroupCommit {
		return e.applyGrouped(ctx, r, now)
	}
	return e.applyOne(ctx, r, now)
}

func (e *Engine) applyOne(ctx context.Context, r *Report, now time.Time) (Result, error) {
	var res Result
	rev, err := e.st.Update(ctx, func(stx store.Txn) error {
		res = Result{}
		ct := &countingTxn{Txn: stx}
		tx := cmdb.NewTx(ctx, ct, "agent:"+r.AgentID, now)
		err := e.apply(ctx, tx, r, &res)
		res.Writes = ct.n
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("apply report %s/%s#%d: %w", r.AgentID, r.BootID, r.Seq, err)
	}
	res.Rev = rev
	return res, nil
}

func (e *Engine) apply(ctx context.Context, tx *cmdb.Tx, r *Report, res *Result) error {
	rec, err := loadAgent(ctx, tx.Store(), r.AgentID)
	if err != nil {
		return err
	}
	if rec != nil && isReplay(rec, r) {
		res.Replayed, res.HostID = true, rec.HostID
		return nil
	}
	if rec == nil {
		rec = &AgentRecord{AgentID: r.AgentID}
	}
	var host *cmdb.CI
	if rec.HostID != "" {
		if r.Kind != Full && !touchesHost(r) {
			// Most likely left as it is (see applyHost): its
			// attributes are read only if it changes after all.
			host, err = tx.CIHead(rec.HostID)
		} else {
			host, err = tx.CI(rec.HostID)
		}
		if err != nil && !errors.Is(err, cmdb.ErrNotFound) {
			return err
		}
	}
	// Package changes apply only to the list the host's record holds.
	patch := r.SoftwareChanges != nil && host != nil && rec.Software != "" && rec.Software == r.SoftwareChanges.Base
	if r.Kind != Heartbeat {
		if host == nil && !r.Has(SecSystem) {
			res.Resync = true
		} else if host, err = e.applyHost(ctx, tx, host, r, patch, res); err != nil {
			return err
		}
		switch {
		case r.Has(SecSoftware) || patch:
			rec.Software = r.SoftwareHash
		case r.SoftwareChanges != nil:
			// Changes to a list this collector does not hold: drop them
			// and ask for everything.
			rec.Software, res.Resync = "", true
		}
	} else if host == nil {
		res.Resync = true
	} else if host, err = e.revive(tx, host, res); err != nil {
		return err
	}
	if host != nil {
		res.HostID = host.ID
		events := r.Events
		if res.Revived {
			events = append(slices.Clip(events), HealthEvent{Kind: EventHostStale, Subject: "agent", OK: true,
				Message: "host reports again", At: tx.Now()})
		}
		if err := e.applyEvents(ctx, tx, host.ID, events, res); err != nil {
			return err
		}
		// A report without sockets has nothing to do there unless an
		// earlier one left work (or the agent moved to another host).
		if r.Has(SecSockets) || !rec.SocketsSettled || rec.HostID != host.ID {
			if rec.SocketsSettled, err = e.applySockets(ctx, tx, host, r, res); err != nil {
				return err
			}
		}
	}
	if rec.BootID != "" && rec.BootID != r.BootID {
		if rec.Boots == nil {
			rec.Boots = map[string]uint64{}
		}
		rec.Boots[rec.BootID] = rec.Seq
		trimBoots(rec.Boots, 8)
	}
	rec.HostID, rec.BootID, rec.Seq = res.HostID, r.BootID, r.Seq
	rec.LastSeen, rec.Collected, rec.Version = tx.Now(), r.CollectedAt, r.AgentVersion
	if r.Kind != Heartbeat {
		rec.Errors = r.Errors
	}
	v, err := cmdb.Encode(rec)
	if err != nil {
		return err
	}
	if err := tx.Store().Put(AgentKey(r.AgentID), v); err != nil {
		return err
	}
	if e.cfg.OnApplied != nil {
		return e.cfg.OnApplied(tx, r, res)
	}
	return nil
}

func isReplay(rec *AgentRecord, r *Report) bool {
	if rec.BootID == r.BootID {
		return r.Seq <= rec.Seq
	}
	if last, ok := rec.Boots[r.BootID]; ok && r.Seq <= last {
		return true
	}
	// A report older than the last applied one (a spooled report of an
	// earlier boot arriving late) must not roll the host back.
	return !r.CollectedAt.IsZero() && r.CollectedAt.Before(rec.Collected)
}

func trimBoots(b map[string]uint64, keep int) {
	for len(b) > keep {
		var min string
		for k := range b {
			if min == "" || b[k] < b[min] {
				min = k
			}
		}
		delete(b, min)
	}
}

func loadAgent(ctx context.Context, r store.Reader, agentID string) (*AgentRecord, error) {
	v, err := r.Get(ctx, AgentKey(agentID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := &AgentRecord{}
	return rec, cmdb.Decode(v, rec)
}

// LoadAgent returns the record of an agent, or cmdb.ErrNotFound.
func LoadAgent(ctx context.Context, r store.Reader, agentID string) (*AgentRecord, error) {
	rec, err := loadAgent(ctx, r, agentID)
	if err == nil && rec == nil {
		return nil, fmt.Errorf("agent %s: %w", agentID, cmdb.ErrNotFound)
	}
	return rec, err
}

// identify finds the host CI a report describes, trying the rules in order.
// A match on a clonable identifier (SMBIOS UUID, machine id) counts only
// when the matched CI is not held by another live agent whose machine
// differs in hostname and shares no physical MAC; such CIs are returned as
// duplicates instead, so the caller creates a new CI and flags them all.
func (e *Engine) identify(ctx context.Context, tx *cmdb.Tx, r *Report, ids map[string][]string) (*cmdb.CI, string, []*cmdb.CI, error) {
	var dups []*cmdb.CI
	for _, rule := range e.cfg.Rules {
		var kind string
		var values []string
		switch rule {
		case RuleAgent:
			kind, values = IDAgent, ids[IDAgent]
		case RuleSerial:
			kind, values = IDSerial, ids[IDSerial]
		case RuleUUID:
			kind, values = IDUUID, ids[IDUUID]
		case RuleMachineID:
			kind, values = IDMachineID, ids[IDMachineID]
		case RuleMACHost:
			ci, err := e.identifyMACHost(tx, ids)
			if err != nil || ci != nil {
				return ci, rule, nil, err
			}
			continue
		}
		for _, v := range values {
			found, err := tx.FindIdent(kind, v)
			if err != nil {
				return nil, "", nil, err
			}
			for _, id := range found {
				ci, err := tx.CI(id)
				if err != nil {
					return nil, "", nil, err
				}
				if ci.Class != cmdb.ClassComputer {
					continue
				}
				if rule == RuleUUID || rule == RuleMachineID {
					clone, err := e.isClone(ctx, tx, ci, r, ids)
					if err != nil {
						return nil, "", nil, err
					}
					if clone {
						if !slices.ContainsFunc(dups, func(d *cmdb.CI) bool { return d.ID == ci.ID }) {
							dups = append(dups, ci)
						}
						continue
					}
				}
				return ci, rule, nil, nil
			}
		}
	}
	return nil, "", dups, nil
}

// isClone reports whether ci, found through a clonable identifier, belongs
// to another live machine: it is held by another agent that reported
// within LiveWindow, and the report differs in hostname and shares no
// physical MAC with it.
func (e *Engine) isClone(ctx context.Context, tx *cmdb.Tx, ci *cmdb.CI, r *Report, ids map[string][]string) (bool, error) {
	if len(ids[IDHostname]) > 0 && slices.Contains(ci.Identifiers[IDHostname], ids[IDHostname][0]) {
		return false, nil
	}
	for _, m := range ids[IDMAC] {
		if slices.Contains(ci.Identifiers[IDMAC], m) {
			return false, nil
		}
	}
	for _, a := range ci.Identifiers[IDAgent] {
		if a == r.AgentID {
			continue
		}
		rec, err := loadAgent(ctx, tx.Store(), a)
		if err != nil {
			return false, err
		}
		if rec != nil && rec.HostID == ci.ID && tx.Now().Sub(rec.LastSeen) < e.cfg.LiveWindow {
			return true, nil
		}
	}
	return false, nil
}

// countingTxn counts the writes of a transaction, so that optional work
// (dependency mapping) can stop before the store's per-transaction limit.
type countingTxn struct {
	store.Txn
	n int
}

func (c *countingTxn) Put(k, v []byte) error { c.n++; return c.Txn.Put(k, v) }
func (c *countingTxn) PutNew(k, v []byte) error {
	c.n++
	return store.PutNew(c.Txn, k, v)
}
func (c *countingTxn) Delete(k []byte) error { c.n++; return c.Txn.Delete(k) }

// writes returns how many writes tx has made so far (0 when unknown).
func writes(tx *cmdb.Tx) int {
	if c, ok := tx.Store().(*countingTxn); ok {
		return c.n
	}
	return 0
}

// identifyMACHost matches a host with the same hostname that shares at
// least one physical MAC.
func (e *Engine) identifyMACHost(tx *cmdb.Tx, ids map[string][]string) (*cmdb.CI, error) {
	if len(ids[IDHostname]) == 0 || len(ids[IDMAC]) == 0 {
		return nil, nil
	}
	byName, err := tx.FindIdent(IDHostname, ids[IDHostname][0])
	if err != nil {
		return nil, err
	}
	for _, id := range byName {
		ci, err := tx.CI(id)
		if err != nil {
			return nil, err
		}
		for _, m := range ids[IDMAC] {
			if slices.Contains(ci.Identifiers[IDMAC], m) {
				return ci, nil
			}
		}
	}
	return nil, nil
}

func (e *Engine) applyHost(ctx context.Context, tx *cmdb.Tx, host *cmdb.CI, r *Report, patch bool, res *Result) (*cmdb.CI, error) {
	ids := identifiers(r)
	var err error
	var dups []*cmdb.CI
	if host == nil {
		host, res.MatchedBy, dups, err = e.identify(ctx, tx, r, ids)
		if err != nil {
			return nil, err
		}
	} else {
		res.MatchedBy = RuleAgent
	}
	var old *cmdb.CI
	next := &cmdb.CI{ID: e.cfg.NewID(), Class: cmdb.ClassComputer, State: "use"}
	if host != nil && settled(host) && !touchesHost(r) {
		// Most deltas (disk usage, sockets, services, packages) leave
		// the host CI as it is: no copy to build and compare.
		next = host
	} else if host != nil {
		if host, err = tx.Whole(host); err != nil {
			return nil, err
		}
		old = host
		next = cloneCI(host)
		if provisional(next.State) {
			next.State = "use"
		}
		res.Revived = next.Flags["stale"] || next.Flags["retirement_proposed"]
	} else {
		res.Created = true
	}
	if len(dups) > 0 {
		res.Duplicate = true
		next.Flags = map[string]bool{"duplicate_identity": true}
		for _, d := range dups {
			if d.Flags["duplicate_identity"] {
				continue
			}
			flagged := cloneCI(d)
			flagged.Flags["duplicate_identity"] = true
			if _, err := tx.PutCI(d, flagged); err != nil {
				return nil, err
			}
			res.Changed++
		}
	}
	if next != host {
		e.hostFacts(next, r, tx.Now())
		if r.Kind == Full || r.Has(SecSystem) {
			next.Identifiers = mergeIdentifiers(next.Identifiers, ids, r)
		}
	}
	changed := true
	switch {
	case next == host:
		changed = false
	case old == nil:
		err = tx.CreateCI(next) // next.ID is new
	default:
		changed, err = tx.PutCI(old, next)
	}
	if err != nil {
		return nil, err
	}
	if changed {
		res.Changed++
	}
	if err := e.applyComponents(tx, next, r, res); err != nil {
		return nil, err
	}
	var swChanged bool
	switch {
	case r.Has(SecSoftware):
		rec := e.softwareRecord(r.Inventory.Software)
		swChanged, err = tx.PutSoftware(next.ID, rec)
		releaseItems(rec.Items)
	case patch:
		set, gone := e.softwareRecord(r.SoftwareChanges.Set), e.softwareRecord(r.SoftwareChanges.Removed)
		swChanged, err = tx.PatchSoftware(next.ID, set.Items, gone.Items)
		releaseItems(set.Items)
		releaseItems(gone.Items)
	}
	if err != nil {
		return nil, err
	}
	if swChanged {
		res.Changed++
	}
	return next, nil
}

// hostSections are the sections that set the host CI's own attributes,
// name or identifiers (see sectionAttrs and hostFacts).
var hostSections = [...]string{SecSystem, SecFirmware, SecMemory, SecCPU, SecNICs}

// touchesHost reports whether r may change the host CI itself.
func touchesHost(r *Report) bool {
	if r.Kind == Full {
		return true
	}
	for _, s := range hostSections {
		if r.Has(s) {
			return true
		}
	}
	return false
}

// settled reports whether a report leaves host's state and flags as they
// are: it is in use (or past it) and not flagged stale.
func settled(host *cmdb.CI) bool {
	return !provisional(host.State) && !host.Flags["stale"] && !host.Flags["retirement_proposed"]
}

// provisional reports whether a host in state is not in use yet: its
// first report moves it to use.
func provisional(state string) bool {
	switch state {
	case "plan", "acquire", "deploy", "":
		return true
	}
	return false
}

// mergeIdentifiers replaces the discovered identifier kinds with what the
// report says, keeping kinds that discovery does not own (asset tags
// entered by hand stay unless the report carries one).
func mergeIdentifiers(have, reported map[string][]string, r *Report) map[string][]string {
	out := map[string][]string{}
	for k, v := range have {
		out[k] = v
	}
	for _, k := range []string{IDAgent, IDUUID, IDMachineID, IDHostname, IDFQDN, IDMAC, IDIP} {
		if k == IDMAC || k == IDIP {
			if !r.Has(SecNICs) {
				continue
			}
		}
		if k == IDAgent {
			out[k] = unionSorted(out[k], reported[k])
			continue
		}
		if len(reported[k]) == 0 {
			delete(out, k)
		} else {
			out[k] = reported[k]
		}
	}
	if r.Has(SecFirmware) {
		for _, k := range []string{IDSerial, IDAssetTag} {
			if len(reported[k]) > 0 {
				out[k] = unionSorted(out[k], reported[k])
			}
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func cloneCI(c *cmdb.CI) *cmdb.CI {
	n := *c
	n.Attrs = make(map[string]cmdb.Attr, len(c.Attrs))
	for k, v := range c.Attrs {
		n.Attrs[k] = v
	}
	n.Identifiers = make(map[string][]string, len(c.Identifiers))
	for k, v := range c.Identifiers {
		n.Identifiers[k] = append([]string(nil), v...)
	}
	n.Flags = make(map[string]bool, len(c.Flags))
	for k, v := range c.Flags {
		n.Flags[k] = v
	}
	n.Seen = make(map[string]cmdb.Seen, len(c.Seen))
	for k, v := range c.Seen {
		n.Seen[k] = v
	}
	return &n
}

// itemBufs recycles the package lists of software records: one is as
// long as the host's software, and its strings make the garbage collector
// scan it.
var itemBufs = sync.Pool{New: func() any { return new([]cmdb.Installed) }}

// releaseItems recycles a list softwareRecord made, once its record is
// written (cmdb copies what it keeps).
func releaseItems(items []cmdb.Installed) {
	if cap(items) == 0 || cap(items) > 1<<14 {
		return
	}
	clear(items[:cap(items)])
	items = items[:0]
	itemBufs.Put(&items)
}

// softwareRecord returns the record of pkgs; its list may be recycled
// with releaseItems once written.
func (e *Engine) softwareRecord(pkgs []Package) cmdb.SoftwareRecord {
	// Order the packages by position first (package managers mostly list
	// in order already: check before sorting), then build the items once,
	// in order: no second copy, no moving of large items.
	cmp := func(a, b *Package) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Arch, b.Arch); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	}
	idx := make([]int32, 0, len(pkgs))
	sorted := true
	for i := range pkgs {
		if strings.TrimSpace(pkgs[i].Name) == "" {
			continue
		}
		if n := len(idx); n > 0 && sorted {
			sorted = cmp(&pkgs[idx[n-1]], &pkgs[i]) <= 0
		}
		idx = append(idx, int32(i))
	}
	if !sorted {
		// Stable by position: pdqsort with the position as the last key
		// is several times faster than a stable sort.
		slices.SortFunc(idx, func(a, b int32) int {
			if c := cmp(&pkgs[a], &pkgs[b]); c != 0 {
				return c
			}
			return int(a - b)
		})
	}
	items := slices.Grow((*itemBufs.Get().(*[]cmdb.Installed))[:0], len(idx))
	if items == nil {
		items = []cmdb.Installed{} // an empty list, not none
	}
	for n, k := range idx {
		p := &pkgs[k]
		// One entry per (name, arch, source): a package database listing
		// a package twice is odd input, not two installs.
		if n > 0 && cmp(&pkgs[idx[n-1]], p) == 0 {
			continue
		}
		items = append(items, cmdb.Installed{
			Title: e.cfg.Title(p.Name, p.Publisher), Name: p.Name, Version: p.Version,
			Arch: p.Arch, Publisher: p.Publisher, Source: p.Source, Installed: p.InstallDate,
		})
	}
	return cmdb.SoftwareRecord{Items: items}
}
