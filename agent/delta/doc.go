// Package delta decides what a report carries. It hashes every section of an
// inventory (deterministic protobuf marshaling of the normalized section),
// remembers what the collector was last sent, and turns the next inventory
// into a FULL, DELTA or HEARTBEAT payload.
package delta
