// Package delta decides what a report carries. It hashes every section of an
// inventory (deterministic protobuf marshaling of the normalized section),
// remembers what the collector was last sent, and turns the next inventory
// into a FULL, DELTA or HEARTBEAT payload. A DELTA carries the changed
// sections, and, for a collector that applies them, a changed software list
// as the packages set or removed since the hash it was last sent.
package delta
