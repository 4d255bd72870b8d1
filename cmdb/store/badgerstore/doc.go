// Package badgerstore is the embedded store backend on Badger.
//
// Conflict detection is Badger's own: every key a transaction reads (or
// finds absent), and every key it writes, is in Badger's read set, so a
// commit fails when another transaction wrote one of them first; Update then
// retries. Keys a Scan skipped over are not in the read set, so inserts into
// a scanned range do not conflict (no phantom protection).
//
// Revisions are a persistent int64 counter. Commits take a short critical
// section in which the revision is assigned and the Badger transaction
// commits, so revisions follow commit order without gaps. Each revision's
// changes (keys, new and previous values) are stored as one feed record
// under the reserved 0x00 key range; Watch replays the feed and then follows
// new records as they commit. The feed keeps the last Options.FeedRetention
// revisions. Every stored value carries an 8-byte header with the revision
// that wrote it (KV.ModRev).
package badgerstore
