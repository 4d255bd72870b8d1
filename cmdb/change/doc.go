// Package change is Parc's change management: change records numbered
// CHG-000001 and up, a transition table per change type, standard-change
// templates, an impact analysis on the CI graph (dependants and upstream
// CIs with paths, open incidents and problems, colliding changes, freeze
// windows, a risk score with its reasons) stored as a snapshot when a change
// is submitted, approval rules (per type and risk, CAB quorum, owners of
// affected critical services), verification of expected results by
// discovery after implementation, and drift detection on change-controlled
// CIs.
//
// Every record lives under the prefix chg/:
//
//	chg/seq                    last change number (int64)
//	chg/c/<number>             change record
//	chg/snap/<number>          impact snapshot taken at submit (or recompute)
//	chg/byci/<ci>/<number>     affected CI → change index
//	chg/open/<number>          open changes: window, state and CIs (collisions)
//	chg/tpl/<name>             standard-change template
//	chg/frz/<id>               freeze (blackout) window
//	chg/cfg/rules              approval rules
//	chg/ctl/<ci>               change-controlled CI marker
//	chg/drift/<id>             unauthorized change found by discovery
//	chg/follow                 revision the discovery follower has handled
//
// Every mutation is one store transaction that validates first, writes the
// record and its indexes, and appends an audit entry. Callers pass the
// actor and the time in.
package change
