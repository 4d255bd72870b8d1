package change

import (
	"context"
	"fmt"
	"slices"
	"time"

	"parc/cmdb/store"
)

// ReviewReport is what the review step shows: the outcome, the
// verification by discovery, and the incidents on the affected CIs during
// and after the window, with those linked to the change as caused by it.
type ReviewReport struct {
	Change  string         `json:"change"`
	State   State          `json:"state"`
	Outcome string         `json:"outcome,omitempty"`
	Window  Window         `json:"window"`
	Actual  Window         `json:"actual"`
	Verify  []Verification `json:"verify"`
	// Verified is true when every CI with expectations is verified.
	Verified bool           `json:"verified"`
	During   []IncidentInfo `json:"incidents_during"`
	After    []IncidentInfo `json:"incidents_after"`
	// CausedBy are the incidents linked to the change (by the change's
	// link or the incident's caused_by_change).
	CausedBy  []string   `json:"caused_by"`
	Approvals []Approval `json:"approvals"`
	Log       []LogEntry `json:"log"`
}

// Review returns the review report of a change. Incidents opened from the
// start of the window (or of implementation, whichever is earlier) to its
// end are "during"; those opened later, up to now, "after".
func (s *Service) ReviewReport(ctx context.Context, num string, now time.Time) (*ReviewReport, error) {
	c, err := s.Get(ctx, num)
	if err != nil {
		return nil, err
	}
	rep := &ReviewReport{Change: c.Number, State: c.State, Outcome: c.Outcome, Window: c.Window, Actual: c.Actual,
		Verify: c.Verify, CausedBy: slices.Clone(c.Incidents), Approvals: c.Approvals, Log: c.Log}
	rep.Verified = len(c.Verify) > 0
	for _, v := range c.Verify {
		rep.Verified = rep.Verified && v.Status == VerifyVerified
	}
	start, end := c.Window.Start, c.Window.End
	if !c.Actual.Start.IsZero() && (start.IsZero() || c.Actual.Start.Before(start)) {
		start = c.Actual.Start
	}
	if c.Actual.End.After(end) {
		end = c.Actual.End
	}
	if s.cfg.Incidents == nil || start.IsZero() {
		return rep, nil
	}
	seen := map[string]bool{}
	err = s.st.View(ctx, func(r store.Reader) error {
		for _, ci := range c.CIs {
			incs, err := s.cfg.Incidents(ctx, r, ci)
			if err != nil {
				return fmt.Errorf("incidents on %s: %w", ci, err)
			}
			for _, in := range incs {
				if seen[in.Number] {
					continue
				}
				seen[in.Number] = true
				if in.CausedBy == c.Number && !slices.Contains(rep.CausedBy, in.Number) {
					rep.CausedBy = append(rep.CausedBy, in.Number)
				}
				switch {
				case in.Opened.Before(start):
				case end.IsZero() || in.Opened.Before(end):
					rep.During = append(rep.During, in)
				case !in.Opened.After(now):
					rep.After = append(rep.After, in)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("review of %s: %w", c.Number, err)
	}
	slices.Sort(rep.CausedBy)
	return rep, nil
}
