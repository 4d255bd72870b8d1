// Package reconcile turns agent reports into the CI graph.
//
// Identification tries the configured rules strongest first (enrolled
// agent id; hardware serial + vendor; SMBIOS UUID; OS machine id; physical
// MAC + hostname). Junk values never identify. UUIDs and machine ids are
// clonable: a match on them counts only when the CI is not held by another
// live agent whose machine differs in hostname and shares no physical MAC;
// otherwise a new CI is made and both are flagged duplicate_identity. A
// serial match merges into a hand-entered asset and moves it to use.
//
// Attributes follow a precedence table by source (agent, plugin, import,
// manual): discovery never overwrites a manual owner, location or cost.
// Every change goes through cmdb.Tx, so it is in the CI's history.
//
// Dependency mapping keeps a listener index (lsn/<proto>/<ip>/<port>) from
// the sockets agents report and turns established connections to a known
// listener on another host into a service CI (runs_on the server) and a
// depends_on from the client, with observation counts and last sightings.
// A relationship seen again within Config.SightingEvery (an hour) is not
// read or written: the sighting is counted in sk/<host> and written with
// the next write, or when a sockets report no longer shows the connection.
// A report's transaction stays under the store's write limit: at most
// Config.MaxNewDeps new dependencies per report, and whatever does not fit
// the write budget is kept in sk/<host> and continued on the host's next
// report of any kind. DependencyAger removes depends_on not seen for its
// MaxAge; Sweeper marks hosts stale and proposes retirement, never
// deleting anything.
//
// Ingest is idempotent: an agent's (boot, sequence) already applied, or
// older than the last applied report, writes nothing. Reports that arrive
// while a commit is in flight are applied together in one transaction
// (group commit) within the store's limits, each falling back to a
// transaction of its own if the batch fails.
package reconcile
