// Package incident is incident management on the CI graph, following the
// ITIL model: numbered incidents (INC-000001) with the nine statuses and an
// explicit transition table, priority from a configurable impact × urgency
// matrix with impact derived from the graph (how many services and
// dependants sit downstream of the affected CIs) unless set by hand, SLA
// clocks per priority with an optional business-hours calendar and pauses,
// and KPIs over a period.
//
// Incidents link themselves to CIs: the Linker follows agent health
// conditions (ev/) through the change feed and keeps one open incident per
// CI and event kind, and hostnames, FQDNs, IPs, serials and asset tags in an
// incident's text link the matching CIs.
//
// Keyspace (every value is cmdb.Encode'd; the module writes only under inc/):
//
//	inc/seq                        last incident sequence (the counter)
//	inc/cfg                        Config (defaults when absent)
//	inc/r/<seq>                    Incident record (seq zero-padded)
//	inc/s/<seq>                    Summary (what lists and filters read)
//	inc/x/<field>/<value>/<seq>    filter indexes: status, priority, assignee,
//	                               group, category, ci, open, major, breached
//	inc/open/<ci>/<seq>            open incidents of a CI
//	inc/auto/<ci>/<kind>           the open auto-incident of a CI and event kind
//	inc/meta/evrev                 progress of the health-event linker
package incident
