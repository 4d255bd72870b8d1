package incident

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// KPIs are the service desk's measures over a period [From, To). Durations
// are wall-clock; SLA measures use the SLA clock (calendar, pauses). Rates
// are fractions in [0, 1], 0 when their population is empty; each rate's
// population size is given beside it.
type KPIs struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Opened counts incidents reported in the period.
	Opened int `json:"opened"`
	// MeanTimeToAssign is over the opened incidents assigned before To
	// (Assigned of them): first assignment minus reported.
	MeanTimeToAssign Duration `json:"mean_time_to_assign"`
	Assigned         int      `json:"assigned"`
	// Resolved counts incidents now resolved or closed whose last
	// resolution falls in the period; MeanTimeToResolve is over them:
	// last resolution minus reported.
	Resolved          int      `json:"resolved"`
	MeanTimeToResolve Duration `json:"mean_time_to_resolve"`
	// FirstContactRate is the share of Resolved resolved by whoever logged
	// them, never reassigned, never paused, never reopened.
	FirstContactRate float64 `json:"first_contact_rate"`
	// ReopenRate is the share of the incidents with a resolution in the
	// period (ResolvedOnce of them) that were reopened since.
	ReopenRate   float64 `json:"reopen_rate"`
	ResolvedOnce int     `json:"resolved_once"`
	// SLAComplianceRate is the share of Resolved resolved within their
	// priority's resolution target.
	SLAComplianceRate float64 `json:"sla_compliance_rate"`
	// FirstResponseRate is the share of the opened incidents whose first
	// response met the target, among those responded to or already late
	// at To (Responded of them).
	FirstResponseRate float64 `json:"first_response_rate"`
	Responded         int     `json:"responded"`
	// Backlog counts incidents open at To by priority ("P1" ...).
	Backlog map[string]int `json:"backlog"`
}

// statusAt returns in's status at instant at ("" before it was reported).
func statusAt(in *Incident, at time.Time) string {
	s := ""
	for _, sc := range in.StatusLog {
		if sc.At.After(at) {
			break
		}
		s = sc.Status
	}
	return s
}

// ComputeKPIs measures incidents over [from, to).
func (s *Service) ComputeKPIs(ctx context.Context, from, to time.Time) (*KPIs, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("KPI period %s to %s: to must follow from: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), cmdb.ErrInvalid)
	}
	from, to = from.UTC(), to.UTC()
	cfg, err := LoadConfig(ctx, s.st)
	if err != nil {
		return nil, err
	}
	cal, err := cfg.Calendar.compile()
	if err != nil {
		return nil, err
	}
	k := &KPIs{From: from, To: to, Backlog: map[string]int{}}
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(from) && t.Before(to) }
	var tta, ttr time.Duration
	var fcr, reopened, slaOK, respOK int
	prefix := []byte(PrefixIncident + "r/")
	rg := store.Range{Prefix: prefix, Limit: 500}
	for {
		kvs, err := s.st.Scan(ctx, rg)
		if err != nil {
			return nil, fmt.Errorf("KPIs: %w", err)
		}
		for _, kv := range kvs {
			var x Incident
			if err := cmdb.Decode(kv.Value, &x); err != nil {
				return nil, err
			}
			target := cfg.Target(x.Priority)
			if in(x.Reported) {
				k.Opened++
				if !x.AssignedAt.IsZero() && x.AssignedAt.Before(to) {
					k.Assigned++
					tta += x.AssignedAt.Sub(x.Reported)
				}
				end := to
				responded := !x.RespondedAt.IsZero() && x.RespondedAt.Before(to)
				if responded {
					end = x.RespondedAt
				}
				e := elapsed(&x, cal, end)
				switch {
				case responded && e <= time.Duration(target.Response):
					k.Responded++
					respOK++
				case responded || e > time.Duration(target.Response):
					k.Responded++
				}
			}
			if (x.Status == StatusResolved || x.Status == StatusClosed) && in(x.ResolvedAt) {
				k.Resolved++
				ttr += x.ResolvedAt.Sub(x.Reported)
				if x.ReopenCount == 0 && x.Assignments <= 1 && x.ResolvedBy == x.OpenedBy && !everPaused(&x) {
					fcr++
				}
				if elapsed(&x, cal, x.ResolvedAt) <= time.Duration(target.Resolution) {
					slaOK++
				}
			}
			for _, sc := range x.StatusLog {
				if sc.Status == StatusResolved && in(sc.At) {
					k.ResolvedOnce++
					if x.ReopenCount > 0 {
						reopened++
					}
					break
				}
			}
			if x.Reported.Before(to) {
				if st := statusAt(&x, to); st != "" && IsOpen(st) {
					k.Backlog["P"+strconv.Itoa(x.Priority)]++
				}
			}
		}
		if len(kvs) < rg.Limit {
			break
		}
		rg.After = kvs[len(kvs)-1].Key
	}
	rate := func(n, d int) float64 {
		if d == 0 {
			return 0
		}
		return float64(n) / float64(d)
	}
	if k.Assigned > 0 {
		k.MeanTimeToAssign = Duration(tta / time.Duration(k.Assigned))
	}
	if k.Resolved > 0 {
		k.MeanTimeToResolve = Duration(ttr / time.Duration(k.Resolved))
	}
	k.FirstContactRate = rate(fcr, k.Resolved)
	k.ReopenRate = rate(reopened, k.ResolvedOnce)
	k.SLAComplianceRate = rate(slaOK, k.Resolved)
	k.FirstResponseRate = rate(respOK, k.Responded)
	return k, nil
}

func everPaused(in *Incident) bool {
	for _, sc := range in.StatusLog {
		if paused(sc.Status) {
			return true
		}
	}
	return false
}
