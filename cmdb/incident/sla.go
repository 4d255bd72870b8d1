package incident

import (
	"fmt"
	"time"

	"parc/cmdb"
)

// calendar is a compiled Calendar.
type calendar struct {
	on         bool
	loc        *time.Location
	days       [7]bool
	start, end time.Duration // offsets from midnight
	holidays   map[string]bool
}

func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("time of day %q: want HH:MM: %w", s, cmdb.ErrInvalid)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

func (c Calendar) compile() (*calendar, error) {
	cal := &calendar{on: c.Enabled, loc: time.UTC, holidays: map[string]bool{}}
	if !c.Enabled {
		return cal, nil
	}
	if c.TZ != "" {
		loc, err := time.LoadLocation(c.TZ)
		if err != nil {
			return nil, fmt.Errorf("calendar time zone %q: %w", c.TZ, cmdb.ErrInvalid)
		}
		cal.loc = loc
	}
	for _, d := range c.Days {
		if d < 0 || d > 6 {
			return nil, fmt.Errorf("calendar day %d: want 0 (Sunday) to 6: %w", d, cmdb.ErrInvalid)
		}
		cal.days[d] = true
	}
	var err error
	if cal.start, err = parseClock(c.Start); err != nil {
		return nil, err
	}
	if cal.end, err = parseClock(c.End); err != nil {
		return nil, err
	}
	if cal.end <= cal.start {
		return nil, fmt.Errorf("calendar hours %s-%s: end must follow start: %w", c.Start, c.End, cmdb.ErrInvalid)
	}
	for _, h := range c.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			return nil, fmt.Errorf("holiday %q: want YYYY-MM-DD: %w", h, cmdb.ErrInvalid)
		}
		cal.holidays[h] = true
	}
	return cal, nil
}

// working returns the business time within [from, to).
func (c *calendar) working(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if !c.on {
		return to.Sub(from)
	}
	from, to = from.In(c.loc), to.In(c.loc)
	var total time.Duration
	day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, c.loc)
	for !day.After(to) {
		if c.days[day.Weekday()] && !c.holidays[day.Format(time.DateOnly)] {
			ws := day.Add(c.start)
			we := day.Add(c.end)
			if ws.Before(from) {
				ws = from
			}
			if we.After(to) {
				we = to
			}
			if we.After(ws) {
				total += we.Sub(ws)
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
	}
	return total
}

// SLAStatus is an incident's SLA clock at one instant.
type SLAStatus struct {
	Priority int       `json:"priority"`
	Target   SLATarget `json:"target"`
	// ResponseElapsed and ResolutionElapsed are business time on the clock
	// (pauses excluded).
	ResponseElapsed   Duration `json:"response_elapsed"`
	ResolutionElapsed Duration `json:"resolution_elapsed"`
	Responded         bool     `json:"responded"`
	// Running is false while paused (awaiting information, pending) or
	// stopped (resolved, closed, rejected).
	Running            bool `json:"running"`
	ResponseBreached   bool `json:"response_breached"`
	ResolutionBreached bool `json:"resolution_breached"`
	NearBreach         bool `json:"near_breach"`
}

// clockRuns reports whether the resolution clock runs in status.
func clockRuns(status string) bool { return IsOpen(status) && !paused(status) }

// elapsed returns the business time the clock ran in [in.Reported, until),
// following the status log.
func elapsed(in *Incident, cal *calendar, until time.Time) time.Duration {
	var total time.Duration
	for i, sc := range in.StatusLog {
		if !clockRuns(sc.Status) {
			continue
		}
		from := sc.At
		if from.Before(in.Reported) {
			from = in.Reported
		}
		end := until
		if i+1 < len(in.StatusLog) && in.StatusLog[i+1].At.Before(end) {
			end = in.StatusLog[i+1].At
		}
		total += cal.working(from, end)
	}
	return total
}

// SLA computes the incident's SLA clock at instant at.
func SLA(in *Incident, cfg Config, at time.Time) (SLAStatus, error) {
	cfg = cfg.withDefaults()
	cal, err := cfg.Calendar.compile()
	if err != nil {
		return SLAStatus{}, err
	}
	return slaWith(in, cfg, cal, at), nil
}

func slaWith(in *Incident, cfg Config, cal *calendar, at time.Time) SLAStatus {
	t := cfg.Target(in.Priority)
	st := SLAStatus{Priority: in.Priority, Target: t, Running: clockRuns(in.Status)}
	resEnd := at
	if !IsOpen(in.Status) && !in.ResolvedAt.IsZero() && in.ResolvedAt.Before(at) {
		resEnd = in.ResolvedAt
	}
	re := elapsed(in, cal, resEnd)
	st.ResolutionElapsed = Duration(re)
	respEnd := at
	if !in.RespondedAt.IsZero() && in.RespondedAt.Before(at) {
		respEnd, st.Responded = in.RespondedAt, true
	}
	rs := elapsed(in, cal, respEnd)
	st.ResponseElapsed = Duration(rs)
	st.ResponseBreached = rs > time.Duration(t.Response)
	st.ResolutionBreached = re > time.Duration(t.Resolution)
	if IsOpen(in.Status) {
		near := func(e time.Duration, target Duration) bool {
			return float64(e) >= cfg.NearBreach*float64(target) && e <= time.Duration(target)
		}
		st.NearBreach = near(re, t.Resolution) || (!st.Responded && near(rs, t.Response))
	}
	return st
}

// stopClocks settles the SLA flags when an incident leaves the open
// statuses: breaches as they stand, no near breach.
func stopClocks(in *Incident, cfg Config, now time.Time) {
	if IsOpen(in.Status) {
		return
	}
	cal, err := cfg.Calendar.compile()
	if err != nil {
		return
	}
	st := slaWith(in, cfg, cal, now)
	in.SLA = SLAFlags{ResponseBreached: st.ResponseBreached, ResolutionBreached: st.ResolutionBreached, Checked: now}
}
