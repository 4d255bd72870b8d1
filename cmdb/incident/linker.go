package incident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// LinkerActor is the actor the health-event linker records.
const LinkerActor = "system:incident-linker"

var keyEvProgress = []byte(PrefixIncident + "meta/evrev")

// Linker opens incidents from agent health conditions. It follows ev/
// through the change feed from a persisted position (stored in the same
// transaction as each change it makes, so a restart neither loses nor
// repeats an event) and keeps one open incident per CI and event kind:
// repeats go to its timeline, and with the kind's AutoResolve the incident
// resolves when every failing subject reports OK again. It is a singleton
// job.
type Linker struct {
	s   *Service
	log *slog.Logger
	now func() time.Time
}

// NewLinker returns a linker; now is the clock (time.Now when nil).
func NewLinker(s *Service, log *slog.Logger, now func() time.Time) *Linker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Linker{s: s, log: log.With("component", "incident-linker"), now: now}
}

type position struct {
	rev int64
	key []byte
}

func (p position) String() string { return strconv.FormatInt(p.rev, 10) + " " + string(p.key) }

func (p position) covers(rev int64, key []byte) bool {
	return rev < p.rev || rev == p.rev && bytes.Compare(key, p.key) <= 0
}

func (l *Linker) progress(ctx context.Context) (position, error) {
	v, err := l.s.st.Get(ctx, keyEvProgress)
	if errors.Is(err, store.ErrNotFound) {
		return position{}, nil
	}
	if err != nil {
		return position{}, err
	}
	rev, key, _ := strings.Cut(string(v), " ")
	n, err := strconv.ParseInt(rev, 10, 64)
	if err != nil {
		return position{}, fmt.Errorf("linker progress %q: %w", v, cmdb.ErrCorrupt)
	}
	return position{rev: n, key: []byte(key)}, nil
}

// Run follows the health conditions until ctx ends.
func (l *Linker) Run(ctx context.Context) error {
	for {
		pos, err := l.progress(ctx)
		if err != nil {
			return err
		}
		err = l.follow(ctx, pos)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrCompacted) {
			l.log.Warn("event feed compacted; resynchronising incidents from the current conditions")
			if err := l.Resync(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

func (l *Linker) follow(ctx context.Context, pos position) error {
	from := max(pos.rev-1, 0)
	ch, err := l.s.st.Watch(ctx, []byte(reconcile.PrefixEvent), from)
	if err != nil {
		return err
	}
	for ev := range ch {
		if ev.Err != nil {
			return ev.Err
		}
		if pos.rev > 0 && pos.covers(ev.Rev, ev.Key) {
			continue
		}
		p := position{rev: ev.Rev, key: ev.Key}
		if ev.Type != store.EventPut {
			if err := l.advance(ctx, p); err != nil {
				return err
			}
			continue
		}
		var rec reconcile.EventRecord
		if err := cmdb.Decode(ev.Value, &rec); err != nil {
			l.log.Warn("skipping undecodable health event", "key", string(ev.Key), "err", err)
			if err := l.advance(ctx, p); err != nil {
				return err
			}
			continue
		}
		if err := l.Handle(ctx, rec, &p, false); err != nil {
			return fmt.Errorf("health event %s: %w", ev.Key, err)
		}
	}
	return ctx.Err()
}

func (l *Linker) advance(ctx context.Context, p position) error {
	_, err := l.s.st.Update(ctx, func(tx store.Txn) error { return tx.Put(keyEvProgress, []byte(p.String())) })
	return err
}

// Resync reconciles incidents with every current condition, after the
// feed was compacted past the linker's position: failing conditions get
// an incident if they have none, recovered ones may resolve theirs.
func (l *Linker) Resync(ctx context.Context) error {
	rev, err := l.s.st.Rev(ctx)
	if err != nil {
		return err
	}
	var after []byte
	for {
		kvs, err := l.s.st.Scan(ctx, store.Range{Prefix: []byte(reconcile.PrefixEvent), After: after, Limit: 256})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var rec reconcile.EventRecord
			if err := cmdb.Decode(kv.Value, &rec); err != nil {
				continue
			}
			if err := l.Handle(ctx, rec, nil, true); err != nil {
				return err
			}
		}
		if len(kvs) < 256 {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	return l.advance(ctx, position{rev: rev})
}

var kindTitle = map[string]string{
	reconcile.EventFilesystemFull: "Filesystem full",
	reconcile.EventServiceFailed:  "Service failed",
	reconcile.EventDiskFailure:    "Disk failure",
	reconcile.EventHostStale:      "Host stopped reporting",
}

// Handle applies one health condition: open or extend the CI's incident
// for the kind, or record a recovery. pos, when set, is stored in the same
// transaction. In a resync, a failing condition that already has an
// incident changes nothing.
func (l *Linker) Handle(ctx context.Context, rec reconcile.EventRecord, pos *position, resync bool) error {
	now := l.now().UTC()
	cfg, err := LoadConfig(ctx, l.s.st)
	if err != nil {
		return err
	}
	rule, watched := cfg.Events[rec.Kind]
	host, err := l.s.g.CI(ctx, rec.Host)
	if !watched || errors.Is(err, cmdb.ErrNotFound) {
		if pos != nil {
			return l.advance(ctx, *pos)
		}
		return nil
	}
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		var d *derivation
		if !rec.OK {
			_, err := l.s.st.Get(ctx, autoKey(rec.Host, rec.Kind))
			if errors.Is(err, store.ErrNotFound) {
				link := Link{CI: host.ID, Name: host.Name, Class: host.Class, Source: LinkEvent, Added: now}
				if d, err = l.s.derive(ctx, cfg, []Link{link}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		_, err = l.s.st.Update(ctx, func(tx store.Txn) error {
			if pos != nil {
				if err := tx.Put(keyEvProgress, []byte(pos.String())); err != nil {
					return err
				}
			}
			cfg, err := LoadConfig(ctx, tx)
			if err != nil {
				return err
			}
			cur, err := openAuto(ctx, tx, rec.Host, rec.Kind)
			if err != nil {
				return err
			}
			if cur == nil {
				if rec.OK {
					return nil
				}
				if d == nil {
					return errStale
				}
				return l.open(ctx, tx, cfg, rule, host, rec, d, now)
			}
			if resync && !rec.OK && slices.Contains(cur.Auto.Failing, rec.Subject) {
				return nil
			}
			return l.extend(tx, cfg, rule, cur, rec, now)
		})
		if errors.Is(err, errStale) && attempt < 8 {
			continue
		}
		return err
	}
}

func openAuto(ctx context.Context, r store.Reader, ci, kind string) (*Incident, error) {
	v, err := r.Get(ctx, autoKey(ci, kind))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seq, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("auto key of %s/%s: %w", ci, kind, cmdb.ErrCorrupt)
	}
	in, _, err := load(ctx, r, seq)
	return in, err
}

func eventText(rec reconcile.EventRecord) string {
	s := rec.Subject
	if rec.Message != "" {
		if s != "" {
			s += ": "
		}
		s += rec.Message
	}
	return s
}

func (l *Linker) open(ctx context.Context, tx store.Txn, cfg Config, rule EventRule, host *cmdb.CI, rec reconcile.EventRecord, d *derivation, now time.Time) error {
	title := kindTitle[rec.Kind]
	if title == "" {
		title = rec.Kind
	}
	short := title + " on " + host.Name
	if rec.Subject != "" {
		short += ": " + rec.Subject
	}
	if len(short) > maxShort {
		short = short[:maxShort]
	}
	occurred := rec.At.UTC()
	if occurred.IsZero() || occurred.After(now) {
		occurred = now
	}
	urgency := min(max(rule.Urgency, 1), cfg.UrgencyLevels())
	category := rule.Category
	if !cfg.CategoryAllowed(category) {
		category = "hardware"
	}
	in := &Incident{
		ShortDescription: short, Description: eventText(rec), Category: category, Status: StatusNew,
		Occurred: occurred, Reported: now, Urgency: urgency, OpenedBy: LinkerActor,
		CIs:  []Link{{CI: host.ID, Name: host.Name, Class: host.Class, Source: LinkEvent, Added: now}},
		Auto: &AutoSource{CI: host.ID, Kind: rec.Kind, Failing: []string{rec.Subject}},
		Timeline: []Entry{{At: now, Actor: LinkerActor, Kind: EntryCreated,
			Text: fmt.Sprintf("opened from agent event %s %s", rec.Kind, eventText(rec))}},
		StatusLog: []StatusChange{{At: now, Status: StatusNew}},
	}
	applyDerivation(in, d)
	in.Priority = cfg.Priority(in.Impact, in.Urgency)
	if err := insert(ctx, tx, in, now); err != nil {
		return err
	}
	return audit.Record(tx, audit.Entry{At: now, Actor: LinkerActor, Action: "incident.create", Object: "incident/" + in.Number,
		After: in.summary(), Detail: "health event " + rec.Kind + " on " + host.ID})
}

func (l *Linker) extend(tx store.Txn, cfg Config, rule EventRule, cur *Incident, rec reconcile.EventRecord, now time.Time) error {
	next := cur.clone()
	failing := slices.Contains(next.Auto.Failing, rec.Subject)
	action := "incident.event"
	switch {
	case !rec.OK:
		if !failing {
			next.Auto.Failing = append(next.Auto.Failing, rec.Subject)
		}
		next.Auto.Repeats++
		addEntry(next, Entry{At: now, Actor: LinkerActor, Kind: EntryEvent,
			Text: fmt.Sprintf("%s again (%d times): %s", rec.Kind, rec.Count, eventText(rec))})
	case failing:
		next.Auto.Failing = slices.DeleteFunc(next.Auto.Failing, func(s string) bool { return s == rec.Subject })
		addEntry(next, Entry{At: now, Actor: LinkerActor, Kind: EntryEvent, Text: "recovered: " + rec.Subject})
		if len(next.Auto.Failing) == 0 && rule.AutoResolve {
			if err := transition(next, LinkerActor, now, Transition{To: StatusResolved, Note: "auto-resolved: the agent reports the condition cleared"}); err != nil {
				return err
			}
			stopClocks(next, cfg, now)
			action = "incident.transition"
		}
	default:
		return nil // recovery of a subject this incident does not track
	}
	next.Updated = now
	if err := write(tx, cur, next); err != nil {
		return err
	}
	return audit.Record(tx, audit.Entry{At: now, Actor: LinkerActor, Action: action, Object: "incident/" + next.Number,
		Before: cur.summary(), After: next.summary(), Detail: rec.Kind + " " + rec.Subject})
}
