// Package spool is the agent's bounded on-disk queue of reports not yet
// acknowledged by the collector.
//
// Each report is one file named by a growing 20-digit index, written to a
// temporary file, synced and renamed into place (and the directory synced),
// so a report Put returned for survives kill -9 and power loss, and a torn
// write leaves only a temporary file that Open discards. Reports are read
// back oldest first; Remove deletes one once its Ack arrived. When the spool
// would exceed its size cap, the oldest reports are dropped first and
// counted.
package spool
