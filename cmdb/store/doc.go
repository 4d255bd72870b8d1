// Package store is the small key-value interface under the whole CMDB:
// ordered keys, point reads, range scans with a cursor, multi-key optimistic
// transactions and a change feed (Watch from a revision).
//
// Backends live in sub-packages (badgerstore, etcdstore) and all pass the
// conformance suite in storetest. The limits declared here are etcd's
// defaults and are enforced by every backend, so that code written and
// tested on the embedded store keeps working on a cluster. Keys starting
// with 0x00 are reserved for backends' internal use.
package store
