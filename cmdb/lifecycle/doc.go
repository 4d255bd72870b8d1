// Package lifecycle follows assets from plan to retire: the lifecycle
// states and their transition table, assets entered before discovery,
// retirement and renewal, maintenance, finances (purchase, warranty,
// straight-line depreciation, contracts and SaaS subscriptions, total cost
// including incident support), reminders before expiry, reports, and CSV
// import and export of assets.
//
// The state is CI.State. Module records live under lc/: maintenance under
// lc/mt/<ci>/<start>, import progress under lc/imp/<kind>/<file id>, files
// staged in parts under lc/up/<file id>/<part>. Assets, contracts
// and their relationships are CIs of the graph, written through cmdb.Tx so
// that their history is kept; every mutation appends an audit record in
// the same transaction.
package lifecycle
