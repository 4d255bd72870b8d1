package agent

import "errors"

// ErrInvalidConfig wraps every configuration problem Validate finds.
var ErrInvalidConfig = errors.New("invalid configuration")

// ErrUnreachable means a --once run could not deliver its report before its
// deadline; the report stays in the spool for the next run.
var ErrUnreachable = errors.New("collector unreachable")
