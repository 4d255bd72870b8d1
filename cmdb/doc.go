// Package cmdb is Parc's domain: the graph of configuration items (CIs) and
// relationships kept in a store.Store, with per-CI history.
//
// Keyspace (every value is a format byte followed by CBOR, zstd-compressed
// when large):
//
//	ci/<id>                    CI record
//	cn/<class>/<id>            class index
//	nm/<lower name>/<id>       name index
//	ro/<from>/<type>/<to>      relationship, by its source
//	ri/<to>/<type>/<from>      reverse index, empty value
//	h/<ci>/<time>/<n>          history entries of a CI
//	id/<kind>/<value>/<ci>     identifier index (agent, serial, uuid, ...)
//	sw/<host>                  a host's installed software: one compact record
//	zd/current, zd/<id>        the dictionary software records are compressed
//	                           against (see swdict.go)
//
// A host's software is one record written with the host, so a first report
// fits in one transaction under etcd's limits; the graph still presents every
// install as an installed_on relationship (see Graph.Edges). Which hosts a
// title is on is kept in memory by each collector's TitleIndexer, from the
// records and the change feed.
// cmdb imports neither gRPC, net/http nor the collector: callers convert
// their wire types to the types here.
package cmdb
