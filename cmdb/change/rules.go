package change

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"parc/cmdb"
	"parc/cmdb/store"
)

// Rule says which approvals a change of a type and risk level needs. The
// first rule whose Type and Risk match (empty matches any) applies.
type Rule struct {
	Name string `cbor:"1,keyasint" json:"name"`
	Type Type   `cbor:"2,keyasint,omitempty" json:"type,omitempty"`
	Risk string `cbor:"3,keyasint,omitempty" json:"risk,omitempty"`
	// Quorum approvals are needed from Approvers (N of M: the CAB), or from
	// anyone but the requester when Approvers is empty.
	Quorum    int      `cbor:"4,keyasint" json:"quorum"`
	Approvers []string `cbor:"5,keyasint,omitempty" json:"approvers,omitempty"`
	// Owners requires the owner (attribute "owner") of every affected
	// critical service to approve too.
	Owners bool `cbor:"6,keyasint,omitempty" json:"owners,omitempty"`
}

// Rules is the approval configuration.
type Rules struct {
	Rules []Rule `cbor:"1,keyasint" json:"rules"`
	// Critical lists the values of the attribute "criticality" that make a
	// service critical (default: critical, high).
	Critical []string `cbor:"2,keyasint,omitempty" json:"critical,omitempty"`
}

// DefaultRules: an emergency change needs one approver; a low-risk normal
// change one change manager; a medium-risk one a change manager and the
// owners of affected critical services; a high-risk one a CAB quorum of 2
// and the owners.
func DefaultRules() Rules {
	return Rules{
		Rules: []Rule{
			{Name: "standard-preapproved", Type: Standard, Quorum: 0},
			{Name: "emergency", Type: Emergency, Quorum: 1},
			{Name: "normal-low", Type: Normal, Risk: RiskLow, Quorum: 1},
			{Name: "normal-medium", Type: Normal, Risk: RiskMedium, Quorum: 1, Owners: true},
			{Name: "normal-high", Type: Normal, Risk: RiskHigh, Quorum: 2, Owners: true},
		},
		Critical: []string{"critical", "high"},
	}
}

// Validate checks the rules.
func (rs *Rules) Validate() error {
	if len(rs.Rules) == 0 {
		return fmt.Errorf("approval rules: at least one rule: %w", cmdb.ErrInvalid)
	}
	for i, r := range rs.Rules {
		if r.Name == "" {
			return fmt.Errorf("approval rule %d: name is required: %w", i+1, cmdb.ErrInvalid)
		}
		if r.Type != "" && !slices.Contains(Types, r.Type) {
			return fmt.Errorf("approval rule %s: type %q: want standard, normal or emergency: %w", r.Name, r.Type, cmdb.ErrInvalid)
		}
		if _, ok := riskRank[r.Risk]; !ok {
			return fmt.Errorf("approval rule %s: risk %q: want low, medium or high: %w", r.Name, r.Risk, cmdb.ErrInvalid)
		}
		if r.Quorum < 0 || (len(r.Approvers) > 0 && r.Quorum > len(r.Approvers)) {
			return fmt.Errorf("approval rule %s: quorum %d of %d approvers: %w", r.Name, r.Quorum, len(r.Approvers), cmdb.ErrInvalid)
		}
		if r.Type == Emergency && r.Quorum < 1 {
			return fmt.Errorf("approval rule %s: an emergency change needs at least one approver: %w", r.Name, cmdb.ErrInvalid)
		}
	}
	if len(rs.Critical) == 0 {
		rs.Critical = []string{"critical", "high"}
	}
	return nil
}

// Match returns the rule for a change type and risk level.
func (rs *Rules) Match(t Type, risk string) (Rule, bool) {
	for _, r := range rs.Rules {
		if (r.Type == "" || r.Type == t) && (r.Risk == "" || r.Risk == risk) {
			return r, true
		}
	}
	return Rule{}, false
}

// LoadRules returns the stored rules, or DefaultRules.
func LoadRules(ctx context.Context, r store.Reader) (Rules, error) {
	var rs Rules
	ok, err := get(ctx, r, keyRules, &rs)
	if err != nil {
		return rs, fmt.Errorf("load approval rules: %w", err)
	}
	if !ok {
		return DefaultRules(), nil
	}
	return rs, nil
}

// requirement builds what a change needs from the matched rule and the
// owners of the critical services its impact reaches.
func requirement(rs Rules, c *Change, imp *Impact) (*Requirement, error) {
	rule, ok := rs.Match(c.Type, c.RiskLevel)
	if !ok {
		return nil, fmt.Errorf("no approval rule matches a %s change of %s risk: %w", c.Type, c.RiskLevel, cmdb.ErrInvalid)
	}
	req := &Requirement{Rule: rule.Name, Quorum: rule.Quorum, Approvers: slices.Clone(rule.Approvers)}
	if rule.Owners && imp != nil {
		for _, s := range imp.Critical {
			if s.Owner != "" && !slices.Contains(req.Owners, s.Owner) {
				req.Owners = append(req.Owners, s.Owner)
			}
		}
		slices.Sort(req.Owners)
	}
	return req, nil
}

// capacities says as what who may approve under req ("cab" or "approver"
// and "owner"), or nil when who may not.
func capacities(req *Requirement, who string) []string {
	var as []string
	if len(req.Approvers) == 0 || slices.ContainsFunc(req.Approvers, samePerson(who)) {
		if len(req.Approvers) > 0 {
			as = append(as, "cab")
		} else {
			as = append(as, "approver")
		}
	}
	if slices.ContainsFunc(req.Owners, samePerson(who)) {
		as = append(as, "owner")
	}
	return as
}

// person folds a principal or a name as people write it: "user:Mike" and
// "mike" are the same person.
func person(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "user:"))
}

func samePerson(a string) func(string) bool {
	pa := person(a)
	return func(b string) bool { return person(b) == pa }
}

// satisfied reports whether approvals meet req, and what is missing.
func satisfied(req *Requirement, approvals []Approval) (bool, string) {
	if req == nil {
		return true, ""
	}
	n := 0
	owners := map[string]bool{}
	for _, a := range approvals {
		if a.Decision != "approved" {
			continue
		}
		if slices.Contains(a.As, "cab") || slices.Contains(a.As, "approver") {
			n++
		}
		if slices.Contains(a.As, "owner") {
			owners[person(a.By)] = true
		}
	}
	var missing []string
	if n < req.Quorum {
		missing = append(missing, fmt.Sprintf("%d of %d approvals", n, req.Quorum))
	}
	for _, o := range req.Owners {
		if !owners[person(o)] {
			missing = append(missing, "owner "+o)
		}
	}
	if len(missing) > 0 {
		return false, "missing " + joinComma(missing)
	}
	return true, ""
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
