package lifecycle

import (
	"context"
	"math"
	"sort"
	"time"

	"parc/cmdb"
	"parc/cmdb/licence"
	"parc/cmdb/store"
)

// eachCI calls fn for every CI of the classes, in class then id order.
func eachCI(ctx context.Context, r store.Reader, classes []string, fn func(*cmdb.CI) error) error {
	for _, class := range classes {
		rg := store.Range{Prefix: []byte(cmdb.PrefixClass + class + "/"), Limit: 500}
		for {
			kvs, err := r.Scan(ctx, rg)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				id := string(kv.Key[len(rg.Prefix):])
				ci, err := loadCI(ctx, r, id)
				if err != nil {
					return err
				}
				if err := fn(ci); err != nil {
					return err
				}
			}
			if len(kvs) < rg.Limit {
				break
			}
			rg.After = kvs[len(kvs)-1].Key
		}
	}
	return nil
}

// Due kinds.
const (
	DueWarranty = "warranty"
	DueContract = "contract"
	DueLicence  = "licence"
)

// DueItem is something that expires soon.
type DueItem struct {
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Date     string `json:"date"`
	DaysLeft int    `json:"days_left"`
	// Detail says what expires (the contract kind, the licence title).
	Detail string `json:"detail,omitempty"`
}

// Due lists warranties of assets not retired, contracts and licences that
// end within days of now (from today on), soonest first.
func (s *Service) Due(ctx context.Context, now time.Time, days int) ([]DueItem, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	until := today.AddDate(0, 0, days+1)
	out := []DueItem{}
	add := func(kind, id, name, date, detail string) {
		t, err := time.Parse(DateLayout, date)
		if err != nil || t.Before(today) || !t.Before(until) {
			return
		}
		out = append(out, DueItem{Kind: kind, ID: id, Name: name, Date: date, DaysLeft: int(t.Sub(today).Hours() / 24), Detail: detail})
	}
	err := s.st.View(ctx, func(r store.Reader) error {
		err := eachCI(ctx, r, AssetClasses, func(ci *cmdb.CI) error {
			if ci.State != Retire {
				add(DueWarranty, ci.ID, ci.Name, ci.AttrString("warranty_end"), ci.AttrString("model"))
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = eachCI(ctx, r, []string{cmdb.ClassContract}, func(ci *cmdb.CI) error {
			if ci.State != Retire {
				add(DueContract, ci.ID, ci.Name, ci.AttrString("renewal_date"), ci.AttrString("kind"))
			}
			return nil
		})
		if err != nil {
			return err
		}
		ents, err := licence.Expiring(ctx, r, today, until)
		if err != nil {
			return err
		}
		for _, e := range ents {
			add(DueLicence, e.ID, e.Name, e.Expiry.Format(DateLayout), e.Title)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Date != out[j].Date {
			return out[i].Date < out[j].Date
		}
		return out[i].Name < out[j].Name
	})
	return out, err
}

// Count is one group of a report.
type Count struct {
	Key       string  `json:"key"`
	Assets    int     `json:"assets"`
	Cost      float64 `json:"cost"`
	BookValue float64 `json:"book_value"`
}

// Totals sums up the estate's value.
type Totals struct {
	Assets      int     `json:"assets"`
	Cost        float64 `json:"cost"`
	BookValue   float64 `json:"book_value"`
	Depreciated float64 `json:"depreciated"`
}

// Report is the asset manager's overview.
type Report struct {
	At         time.Time `json:"at"`
	ByState    []Count   `json:"by_state"`
	ByClass    []Count   `json:"by_class"`
	ByLocation []Count   `json:"by_location"`
	ByOwner    []Count   `json:"by_owner"`
	// Warranties are the warranties ending within the report's horizon.
	Warranties []DueItem `json:"warranties_expiring"`
	Totals     Totals    `json:"totals"`
	// Licences is the last licence compliance summary (nil when none was
	// computed yet).
	Licences *licence.Summary `json:"licences,omitempty"`
}

// Report builds the overview at now, with warranties ending within days.
func (s *Service) Report(ctx context.Context, now time.Time, days int) (*Report, error) {
	rep := &Report{At: now.UTC()}
	groups := map[string]map[string]*Count{"state": {}, "class": {}, "location": {}, "owner": {}}
	err := s.st.View(ctx, func(r store.Reader) error {
		return eachCI(ctx, r, AssetClasses, func(ci *cmdb.CI) error {
			cost, bv := attrFloat(ci, "cost"), s.bookValue(ci, now)
			class := ci.Class
			if ci.Subclass != "" {
				class += "/" + ci.Subclass
			}
			for g, key := range map[string]string{"state": current(ci), "class": class,
				"location": ci.AttrString("location"), "owner": ci.AttrString("owner")} {
				if key == "" {
					key = "(none)"
				}
				c := groups[g][key]
				if c == nil {
					c = &Count{Key: key}
					groups[g][key] = c
				}
				c.Assets++
				c.Cost += cost
				c.BookValue += bv
			}
			rep.Totals.Assets++
			rep.Totals.Cost += cost
			rep.Totals.BookValue += bv
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	flat := func(m map[string]*Count) []Count {
		out := make([]Count, 0, len(m))
		for _, c := range m {
			c.Cost, c.BookValue = round2(c.Cost), round2(c.BookValue)
			out = append(out, *c)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Assets != out[j].Assets {
				return out[i].Assets > out[j].Assets
			}
			return out[i].Key < out[j].Key
		})
		return out
	}
	rep.ByState, rep.ByClass = flat(groups["state"]), flat(groups["class"])
	rep.ByLocation, rep.ByOwner = flat(groups["location"]), flat(groups["owner"])
	rep.Totals.Cost, rep.Totals.BookValue = round2(rep.Totals.Cost), round2(rep.Totals.BookValue)
	rep.Totals.Depreciated = round2(rep.Totals.Cost - rep.Totals.BookValue)
	due, err := s.Due(ctx, now, days)
	if err != nil {
		return nil, err
	}
	rep.Warranties = []DueItem{}
	for _, d := range due {
		if d.Kind == DueWarranty {
			rep.Warranties = append(rep.Warranties, d)
		}
	}
	if lr, err := licence.LoadReport(ctx, s.st); err == nil {
		rep.Licences = &lr.Summary
	}
	return rep, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
