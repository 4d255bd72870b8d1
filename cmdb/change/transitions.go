package change

import "slices"

// Transitions is, per change type, every state a change may move to from
// each state. It is data: the tests walk it as a from×to table.
//
//   - normal: draft → assess → authorize → scheduled → implement → review →
//     closed; rejected from assess or authorize; cancelled before
//     implementation.
//   - standard (from a pre-approved template): skips authorize, and may
//     close straight from implement.
//   - emergency: needs one approval, may implement straight from authorize,
//     and must pass review.
var Transitions = map[Type]map[State][]State{
	Normal: {
		Draft:     {Assess, Cancelled},
		Assess:    {Authorize, Draft, Rejected, Cancelled},
		Authorize: {Scheduled, Draft, Rejected, Cancelled},
		Scheduled: {Implement, Cancelled},
		Implement: {Review},
		Review:    {Closed},
	},
	Standard: {
		Draft:     {Assess, Cancelled},
		Assess:    {Scheduled, Draft, Cancelled},
		Scheduled: {Implement, Cancelled},
		Implement: {Review, Closed},
		Review:    {Closed},
	},
	Emergency: {
		Draft:     {Assess, Cancelled},
		Assess:    {Authorize, Rejected, Cancelled},
		Authorize: {Scheduled, Implement, Rejected, Cancelled},
		Scheduled: {Implement, Cancelled},
		Implement: {Review},
		Review:    {Closed},
	},
}

// CanMove reports whether a change of type t may move from one state to
// another.
func CanMove(t Type, from, to State) bool {
	return slices.Contains(Transitions[t][from], to)
}

// States lists every state in life order.
var States = []State{Draft, Assess, Authorize, Scheduled, Implement, Review, Closed, Rejected, Cancelled}

// Types lists every change type.
var Types = []Type{Standard, Normal, Emergency}
