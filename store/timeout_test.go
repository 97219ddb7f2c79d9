package store

import (
	"context"
	"testing"
	"time"
)

// TestWithinBoundsByTheSoonerDeadline: f's context ends at the sooner of d and the
// caller's own deadline, whichever adds the bound.
func TestWithinBoundsByTheSoonerDeadline(t *testing.T) {
	deadline := func(ctx context.Context, d time.Duration) time.Duration {
		got, _ := Within(ctx, d, func(ctx context.Context) (time.Duration, error) {
			dl, ok := ctx.Deadline()
			if !ok {
				return -1, nil
			}
			return time.Until(dl), nil
		})
		return got
	}
	soon, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, c := range []struct {
		name     string
		ctx      context.Context
		d        time.Duration
		min, max time.Duration
	}{
		{"no deadline, no bound", context.Background(), 0, -1, -1},
		{"no deadline, a bound", context.Background(), time.Minute, 59 * time.Second, time.Minute},
		{"a sooner deadline stands", soon, time.Minute, 0, time.Second},
		{"a sooner bound wins", soon, 10 * time.Millisecond, 0, 10 * time.Millisecond},
	} {
		if got := deadline(c.ctx, c.d); got < c.min || got > c.max {
			t.Errorf("%s: f's deadline in %s, want %s to %s", c.name, got, c.min, c.max)
		}
	}
}
