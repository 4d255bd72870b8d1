package incident

import (
	"fmt"
	"strings"

	"parc/cmdb"
)

// Transitions is the status transition table: from → the statuses it may
// move to. Anything not listed is refused. Reopened is reachable only from
// resolved or closed; rejected is final.
var Transitions = map[string][]string{
	StatusNew:          {StatusAssigned, StatusInProgress, StatusAwaitingInfo, StatusPending, StatusResolved, StatusRejected},
	StatusAssigned:     {StatusInProgress, StatusAwaitingInfo, StatusPending, StatusResolved, StatusRejected},
	StatusInProgress:   {StatusAssigned, StatusAwaitingInfo, StatusPending, StatusResolved},
	StatusAwaitingInfo: {StatusAssigned, StatusInProgress, StatusResolved, StatusRejected},
	StatusPending:      {StatusAssigned, StatusInProgress, StatusResolved},
	StatusResolved:     {StatusClosed, StatusReopened},
	StatusClosed:       {StatusReopened},
	StatusRejected:     {},
	StatusReopened:     {StatusAssigned, StatusInProgress, StatusAwaitingInfo, StatusPending, StatusResolved},
}

// CanTransition reports whether the table allows from → to.
func CanTransition(from, to string) bool {
	for _, s := range Transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// ValidStatus reports whether s is one of the nine statuses.
func ValidStatus(s string) bool {
	_, ok := Transitions[s]
	return ok
}

// checkTransition validates moving in to status to with reason, beyond
// the table: in progress needs an assignee, rejected a reason, assigned an
// assignee or a group.
func checkTransition(in *Incident, to, reason string) error {
	if !ValidStatus(to) {
		return fmt.Errorf("status %q: want one of %s: %w", to, strings.Join(Statuses, ", "), cmdb.ErrInvalid)
	}
	if !CanTransition(in.Status, to) {
		allowed := strings.Join(Transitions[in.Status], ", ")
		if allowed == "" {
			allowed = "none"
		}
		return fmt.Errorf("%s: cannot go from %s to %s (allowed: %s): %w", in.Number, in.Status, to, allowed, cmdb.ErrForbidden)
	}
	switch to {
	case StatusInProgress:
		if in.Assignee == "" {
			return fmt.Errorf("%s: in progress needs an assignee: %w", in.Number, cmdb.ErrInvalid)
		}
	case StatusAssigned:
		if in.Assignee == "" && in.Group == "" {
			return fmt.Errorf("%s: assigned needs an assignee or a group: %w", in.Number, cmdb.ErrInvalid)
		}
	case StatusRejected:
		if strings.TrimSpace(reason) == "" {
			return fmt.Errorf("%s: rejecting needs a reason: %w", in.Number, cmdb.ErrInvalid)
		}
	}
	return nil
}
