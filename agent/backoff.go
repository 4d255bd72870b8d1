package agent

import (
	"math/rand/v2"
	"time"
)

// backoff returns the wait before retry number attempt (0-based):
// exponential from base, capped at max, with full jitter (uniform in
// [d/2, d]) so a fleet that lost its collector does not reconnect in step.
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// jittered spreads d uniformly by ±frac.
func jittered(d time.Duration, frac float64) time.Duration {
	if frac <= 0 {
		return d
	}
	delta := float64(d) * frac
	return time.Duration(float64(d) - delta + rand.Float64()*2*delta)
}
