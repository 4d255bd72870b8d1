// Package badgerstore is the embedded store backend on Badger.
//
// Conflict detection is Badger's own: every key a transaction reads (or
// finds absent), and every key it writes, is in Badger's read set, so a
// commit fails when another transaction wrote one of them first; Update then
// retries. Keys a Scan skipped over are not in the read set, so inserts into
// a scanned range do not conflict (no phantom protection).
//
// Revisions are a persistent int64 counter. A commit takes a short critical
// section in which its revision is assigned and it is queued to Badger, so
// revisions follow commit order; several commits can be queued at once and
// share one write and fsync. A revision is published (Rev, watchers) once
// it and every earlier one are applied; a commit that fails after taking a
// revision leaves an empty feed record, so the feed has no gaps. Each revision's
// changes (keys, new and previous values) are stored as one feed record
// under the reserved 0x00 key range; Watch replays the feed and then follows
// new records as they commit. The feed keeps the last Options.FeedRetention
// revisions, and those a running watcher has yet to read (up to
// Options.MaxFeedRetention). Every stored value carries an 8-byte header with the revision
// that wrote it (KV.ModRev).
//
// A background goroutine compacts the feed, runs value-log GC every
// Options.GCInterval and, on Linux, pages out every 2 s the value-log files
// Badger no longer writes, so that the pages written through Badger's
// mapping do not stay in the process's resident set (trim_linux.go).
package badgerstore
