// Package licence keeps software licence entitlements and computes licence
// compliance from discovered installs.
//
// Entitlements live under lic/ent/<id>, each mirrored by a CI of class
// licence with the same id so that the graph shows them. A Normalizer maps
// discovered package names and publishers to titles (a shipped catalog plus
// site rules), so that one entitlement covers every variant of a product.
//
// Compliance is computed by a Compliance value held in memory: Full builds
// it from every host's software record (sw/), and Follower keeps it up to
// date from the change feed (each event carries the previous record, so a
// host whose licensed installs did not change costs a decode and nothing
// more). The follower persists the current Report under lic/report, so any
// collector of a cluster can serve it.
package licence
