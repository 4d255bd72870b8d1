package collector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/incident"
	"parc/cmdb/problem"
	"parc/cmdb/store"
)

// newChangeService wires change management to the incident and problem
// modules: open records in the impact analysis, incidents in the review
// report, and incidents opened for drift on change-controlled CIs.
func newChangeService(g *cmdb.Graph, incidents *incident.Service, log *slog.Logger) *change.Service {
	return change.New(g, change.Config{
		OpenIncidents: incident.OpenOnCI,
		OpenProblems:  problem.OpenOnCI,
		Incidents: func(ctx context.Context, _ store.Reader, ci string) ([]change.IncidentInfo, error) {
			sums, _, err := incidents.List(ctx, incident.Filter{CI: ci, Limit: 1000})
			if err != nil {
				return nil, err
			}
			out := make([]change.IncidentInfo, 0, len(sums))
			for _, s := range sums {
				info := change.IncidentInfo{Number: s.Number, Title: s.ShortDescription, Status: s.Status, Opened: s.Reported}
				if in, err := incidents.Get(ctx, s.Number); err == nil {
					info.CausedBy = in.CausedByChange
				}
				out = append(out, info)
			}
			return out, nil
		},
		OpenIncident: func(ctx context.Context, d *change.Drift, actor string, now time.Time) (string, error) {
			category := "software"
			if d.Kind == change.DriftHardware {
				category = "hardware"
			}
			var what []string
			for _, c := range d.Changes {
				what = append(what, fmt.Sprintf("%s: %v → %v", c.Field, c.Before, c.After))
			}
			in, err := incidents.Create(ctx, actor, now, incident.NewIncident{
				ShortDescription: fmt.Sprintf("Unauthorized change on %s: %s", d.CIName, strings.ReplaceAll(d.Kind, "_", " ")),
				Description:      "Discovery found a change on a change-controlled CI that no implementing change covers (drift " + d.ID + "):\n" + strings.Join(what, "\n"),
				Category:         category,
				CIs:              []string{d.CI},
			})
			if err != nil {
				return "", err
			}
			return in.Number, nil
		},
		Logger: log.With("component", "change"),
	})
}
