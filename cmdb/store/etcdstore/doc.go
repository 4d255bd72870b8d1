// Package etcdstore is the store backend on an etcd cluster.
//
// All keys live under Config.Prefix, so several stores (and tests) can share
// one cluster. Revisions are etcd's own: they are cluster-wide, so they grow
// by more than one per commit when other prefixes are written.
//
// Transactions read at one snapshot revision (the first read's) and record a
// read set; the commit is one etcd Txn whose compares check that set:
//
//   - a key read with Get: ModRevision(key) == the revision read (0 when it
//     was absent), which catches updates, creations and deletions;
//   - a range read with Scan: the keys it returned count as read with Get,
//     and ModRevision over the range (up to the last key fetched when the
//     scan was cut by its limit) < snapshot+1 catches insertions;
//   - when there are more than MaxCompares of these, they are folded, in key
//     order, into at most MaxCompares range compares of the second kind, so
//     the commit still fits etcd's --max-txn-ops (which bounds compares and
//     operations separately) at the cost of false conflicts and of missing
//     deletions of read keys.
//
// Writes are buffered in the transaction (reads see them) and sent in key
// order. Deleting an absent key sends a delete that etcd treats as no
// change. Previous values for Watch come from etcd's prev_kv.
//
// Campaign elects leaders with etcd's concurrency.Election. An Update whose
// context is fenced by a leadership (store.WithFence) adds one compare:
// the election key's CreateRevision equals Leadership.Rev(). When it fails
// the commit returns store.ErrFenced: a leader that stalled past its lease
// cannot write once its key is gone or a successor holds the election.
package etcdstore
