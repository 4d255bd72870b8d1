package spool

import "errors"

// ErrEmpty is returned by Peek when nothing is spooled.
var ErrEmpty = errors.New("spool is empty")

// ErrTooLarge means one report is bigger than the whole spool may be.
var ErrTooLarge = errors.New("report larger than the spool cap")
