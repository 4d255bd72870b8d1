package lifecycle

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// BookValue is the straight-line depreciated value of cost bought on
// purchase, over years, at now: cost × (1 − elapsed/years), never below
// zero. Without a purchase date the asset is worth its cost.
func BookValue(cost float64, purchase time.Time, years int, now time.Time) float64 {
	if purchase.IsZero() || years <= 0 || cost <= 0 {
		return cost
	}
	elapsed := now.Sub(purchase).Hours() / 24 / 365.25
	if elapsed <= 0 {
		return cost
	}
	v := cost * (1 - elapsed/float64(years))
	return math.Max(0, math.Round(v*100)/100)
}

func attrFloat(ci *cmdb.CI, name string) float64 {
	switch v := cmdb.Canon(ci.Attr(name)).(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

func attrDate(ci *cmdb.CI, name string) time.Time {
	t, _ := time.Parse(DateLayout, ci.AttrString(name))
	return t
}

func (s *Service) years(ci *cmdb.CI) int {
	if y, ok := cmdb.Canon(ci.Attr("depreciation_years")).(int64); ok && y > 0 {
		return int(y)
	}
	return s.cfg.DepreciationYears
}

// bookValue of an asset at now; a retired asset is worth nothing.
func (s *Service) bookValue(ci *cmdb.CI, now time.Time) float64 {
	if ci.State == Retire {
		return 0
	}
	return BookValue(attrFloat(ci, "cost"), attrDate(ci, "purchase_date"), s.years(ci), now)
}

// Contract kinds.
var ContractKinds = []string{"support", "lease", "maintenance", "warranty", "saas"}

// ContractInput describes a contract or SaaS subscription: a CI of class
// contract covering assets.
type ContractInput struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Supplier string `json:"supplier,omitempty"`
	Start    string `json:"start,omitempty"`
	// Renewal is the date the contract ends or renews (YYYY-MM-DD).
	Renewal string `json:"renewal"`
	// Cost is the cost of one term.
	Cost float64 `json:"cost,omitempty"`
	// Seats of a SaaS subscription.
	Seats int64 `json:"seats,omitempty"`
	// Assets are references of the CIs it covers.
	Assets []string `json:"assets,omitempty"`
}

// CreateContract records a contract or subscription and links it to the
// assets it covers.
func (s *Service) CreateContract(ctx context.Context, in ContractInput, actor string, now time.Time, id string) (*cmdb.CI, error) {
	in.Name, in.Kind = strings.TrimSpace(in.Name), strings.ToLower(strings.TrimSpace(in.Kind))
	var bad []string
	if in.Name == "" {
		bad = append(bad, "name is required")
	}
	if !slices.Contains(ContractKinds, in.Kind) {
		bad = append(bad, fmt.Sprintf("kind %q: want one of %s", in.Kind, strings.Join(ContractKinds, ", ")))
	}
	if _, err := time.Parse(DateLayout, in.Renewal); err != nil {
		bad = append(bad, fmt.Sprintf("renewal %q: want YYYY-MM-DD", in.Renewal))
	}
	if in.Start != "" {
		if _, err := time.Parse(DateLayout, in.Start); err != nil {
			bad = append(bad, fmt.Sprintf("start %q: want YYYY-MM-DD", in.Start))
		}
	}
	if in.Cost < 0 || math.IsNaN(in.Cost) || in.Seats < 0 {
		bad = append(bad, "cost and seats must not be negative")
	}
	if len(in.Assets) > 100 {
		bad = append(bad, "at most 100 assets per call: link the others with contract link")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(bad, "; "), cmdb.ErrInvalid)
	}
	ids := make([]string, 0, len(in.Assets))
	for _, ref := range in.Assets {
		id, err := s.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	var ci *cmdb.CI
	_, err := s.st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, actor, now)
		ci = &cmdb.CI{ID: id, Class: cmdb.ClassContract, Subclass: in.Kind, Name: in.Name, State: Use}
		p := reconcile.DefaultPrecedence()
		for k, v := range map[string]any{"kind": in.Kind, "supplier": in.Supplier, "start_date": in.Start, "renewal_date": in.Renewal, "cost": in.Cost, "seats": in.Seats} {
			reconcile.SetAttr(p, ci, k, v, cmdb.SourceManual, tx.Now())
		}
		if _, err := tx.PutCI(nil, ci); err != nil {
			return err
		}
		for _, a := range ids {
			if err := s.link(tx, id, a); err != nil {
				return err
			}
		}
		return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: "contract.create", Object: "ci/" + id, After: in})
	})
	if err != nil {
		return nil, err
	}
	return ci, nil
}

func (s *Service) link(tx *cmdb.Tx, contract, asset string) error {
	c, err := tx.CI(contract)
	if err != nil {
		return err
	}
	if c.Class != cmdb.ClassContract {
		return fmt.Errorf("%s is a %s, not a contract: %w", c.Name, c.Class, cmdb.ErrInvalid)
	}
	if _, err := tx.CI(asset); err != nil {
		return err
	}
	return tx.PutRel(cmdb.Relationship{From: contract, To: asset, Type: RelCovers, Source: cmdb.SourceManual})
}

// LinkContract makes a contract cover an asset (unlink removes it).
func (s *Service) LinkContract(ctx context.Context, contractRef, assetRef string, unlink bool, actor string, now time.Time) error {
	cid, err := s.resolve(ctx, contractRef)
	if err != nil {
		return err
	}
	aid, err := s.resolve(ctx, assetRef)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, actor, now)
		action := "contract.link"
		if unlink {
			action = "contract.unlink"
			if err := tx.DeleteRel(cid, RelCovers, aid); err != nil {
				return err
			}
		} else if err := s.link(tx, cid, aid); err != nil {
			return err
		}
		return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: action, Object: "ci/" + cid, After: aid})
	})
	return err
}

// ContractShare is a contract's part in an asset's cost.
type ContractShare struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Kind    string  `json:"kind"`
	Renewal string  `json:"renewal"`
	Cost    float64 `json:"cost"`
	// Assets is the number of assets the contract covers; Share is
	// Cost/Assets, the part counted in this asset's total.
	Assets int     `json:"assets"`
	Share  float64 `json:"share"`
}

// Finance is the financial view of an asset.
type Finance struct {
	CI                string          `json:"ci"`
	Name              string          `json:"name"`
	State             string          `json:"state"`
	Cost              float64         `json:"cost"`
	PurchaseDate      string          `json:"purchase_date,omitempty"`
	Supplier          string          `json:"supplier,omitempty"`
	OrderNumber       string          `json:"order_number,omitempty"`
	WarrantyEnd       string          `json:"warranty_end,omitempty"`
	DepreciationYears int             `json:"depreciation_years"`
	BookValue         float64         `json:"book_value"`
	Depreciated       float64         `json:"depreciated"`
	Contracts         []ContractShare `json:"contracts"`
	ContractCost      float64         `json:"contract_cost"`
	// SupportCost is the support cost recorded on the asset's incidents.
	SupportCost float64 `json:"support_cost"`
	// TotalCost is Cost + ContractCost + SupportCost.
	TotalCost float64 `json:"total_cost"`
}

// Finance returns the finances of an asset at now.
func (s *Service) Finance(ctx context.Context, ref string, now time.Time) (*Finance, error) {
	id, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	var f *Finance
	err = s.st.View(ctx, func(r store.Reader) error {
		ci, err := s.g.CI(ctx, id)
		if err != nil {
			return err
		}
		f = &Finance{CI: ci.ID, Name: ci.Name, State: current(ci), Cost: attrFloat(ci, "cost"),
			PurchaseDate: ci.AttrString("purchase_date"), Supplier: ci.AttrString("supplier"),
			OrderNumber: ci.AttrString("order_number"), WarrantyEnd: ci.AttrString("warranty_end"),
			DepreciationYears: s.years(ci), BookValue: s.bookValue(ci, now), Contracts: []ContractShare{}}
		f.Depreciated = math.Round((f.Cost-f.BookValue)*100) / 100
		if f.Contracts, err = contractsOf(ctx, r, id); err != nil {
			return err
		}
		for _, c := range f.Contracts {
			f.ContractCost += c.Share
		}
		if f.SupportCost, err = s.cfg.SupportCost(ctx, r, id); err != nil {
			return err
		}
		f.TotalCost = math.Round((f.Cost+f.ContractCost+f.SupportCost)*100) / 100
		return nil
	})
	return f, err
}

// contractsOf returns the contracts covering an asset with its share of
// each.
func contractsOf(ctx context.Context, r store.Reader, asset string) ([]ContractShare, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(cmdb.PrefixRelIn + asset + "/" + RelCovers + "/")})
	if err != nil {
		return nil, err
	}
	out := []ContractShare{}
	for _, kv := range kvs {
		cid := string(kv.Key[strings.LastIndexByte(string(kv.Key), '/')+1:])
		c, err := loadCI(ctx, r, cid)
		if err != nil {
			return nil, err
		}
		covered, err := r.Scan(ctx, store.Range{Prefix: []byte(cmdb.PrefixRelOut + cid + "/" + RelCovers + "/")})
		if err != nil {
			return nil, err
		}
		cs := ContractShare{ID: cid, Name: c.Name, Kind: c.AttrString("kind"), Renewal: c.AttrString("renewal_date"),
			Cost: attrFloat(c, "cost"), Assets: max(1, len(covered))}
		cs.Share = math.Round(cs.Cost/float64(cs.Assets)*100) / 100
		out = append(out, cs)
	}
	return out, nil
}

func loadCI(ctx context.Context, r store.Reader, id string) (*cmdb.CI, error) {
	v, err := r.Get(ctx, []byte(cmdb.PrefixCI+id))
	if err != nil {
		return nil, fmt.Errorf("CI %s: %w", id, err)
	}
	ci := &cmdb.CI{}
	return ci, cmdb.Decode(v, ci)
}
