package uplink

import "errors"

// ErrUnexpectedAck means the collector acknowledged a (boot_id, sequence)
// that was not the one in flight: the stream is out of step and must be
// reopened.
var ErrUnexpectedAck = errors.New("unexpected ack")

// ErrNoTarget means Config.Target is empty.
var ErrNoTarget = errors.New("no collector address")
