package gather

import "errors"

// ErrNotPresent means the thing a gatherer reads does not exist on this
// machine (no dpkg database, systemd not running, …). It is not a failure:
// Run skips the gatherer without recording an error.
var ErrNotPresent = errors.New("not present on this machine")

// ErrMalformed marks input that could not be parsed: an odd package database
// stanza, a truncated /proc line. Gatherers wrap it with where it was found.
var ErrMalformed = errors.New("malformed input")
