package lifecycle

import (
	"fmt"
	"slices"

	"parc/cmdb"
)

// Lifecycle states, in order.
const (
	Plan     = "plan"
	Acquire  = "acquire"
	Deploy   = "deploy"
	Use      = "use"
	Maintain = "maintain"
	Retire   = "retire"
)

// States lists the states in lifecycle order.
var States = []string{Plan, Acquire, Deploy, Use, Maintain, Retire}

// transitions is the table of allowed moves. Retire is final: a retired CI
// is kept with its history, and renewal plans a new CI instead. Discovery
// moves a planned, acquired or deployed CI to use by itself (reconcile).
var transitions = map[string][]string{
	Plan:     {Acquire, Retire},
	Acquire:  {Deploy, Use, Retire},
	Deploy:   {Use, Retire},
	Use:      {Maintain, Retire},
	Maintain: {Use, Retire},
	Retire:   {},
}

// ValidState reports whether s is a lifecycle state.
func ValidState(s string) bool { return slices.Contains(States, s) }

// current returns a CI's state, counting a CI discovered before states
// existed ("") as in use.
func current(ci *cmdb.CI) string {
	if ci.State == "" {
		return Use
	}
	return ci.State
}

// CanTransition returns nil when the table allows from → to, else an error
// wrapping cmdb.ErrInvalid (unknown state) or cmdb.ErrForbidden.
func CanTransition(from, to string) error {
	if from == "" {
		from = Use
	}
	if !ValidState(from) || !ValidState(to) {
		return fmt.Errorf("state %q → %q: states are %v: %w", from, to, States, cmdb.ErrInvalid)
	}
	if from == to {
		return fmt.Errorf("already in state %s: %w", to, cmdb.ErrForbidden)
	}
	if !slices.Contains(transitions[from], to) {
		return fmt.Errorf("%s → %s is not allowed (from %s: %v): %w", from, to, from, transitions[from], cmdb.ErrForbidden)
	}
	return nil
}

// Next returns the states reachable from s.
func Next(s string) []string {
	if s == "" {
		s = Use
	}
	return slices.Clone(transitions[s])
}
