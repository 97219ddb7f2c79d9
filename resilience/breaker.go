package resilience

import (
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"pudong.gov.cn/gateway/config"
)

// State is where a department's circuit breaker stands. Its String form ("closed",
// "half-open", "open") is what /readyz and the metrics show.
type State int

// The breaker states. Closed lets every call through; open refuses calls without
// reaching the department; half-open lets a few probes through to find out whether the
// department is back. The numeric values (0, 1, 2) are stable: metrics export them as
// a gauge.
const (
	StateClosed State = iota
	StateHalfOpen
	StateOpen
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	case gobreaker.StateOpen:
		return StateOpen
	default:
		return StateClosed
	}
}

// BreakerOptions tunes the circuit breaker. Zero fields take the defaults.
type BreakerOptions struct {
	// Failures is how many consecutive failing attempts (unavailable, unreadable
	// answer, timeout) open the breaker. Default 5.
	Failures int
	// OpenFor is how long the breaker refuses calls before it lets a probe through.
	// Default 10s.
	OpenFor time.Duration
	// Probes is how many calls the half-open breaker lets through at once; that many
	// successes close it, any failure opens it again. Default 1.
	Probes int
}

// DefaultBreakerProbes is the half-open breaker's probes when unset; failures and the
// open time default to the configuration's (config.DefaultBreaker…).
const DefaultBreakerProbes = 1

func (b BreakerOptions) withDefaults() BreakerOptions {
	if b.Failures <= 0 {
		b.Failures = config.DefaultBreakerFailures
	}
	if b.OpenFor <= 0 {
		b.OpenFor = config.DefaultBreakerOpenFor
	}
	if b.Probes <= 0 {
		b.Probes = DefaultBreakerProbes
	}
	return b
}

// notCounted is what an attempt reports to the breaker when its outcome says nothing
// about the department's health: the caller went away, or the error is not a
// department failure (an operation the binding lacks, a page the source cannot list).
type notCounted struct{}

func (notCounted) Error() string { return "outcome not counted by the breaker" }

func newBreaker(dept string, b BreakerOptions, notes *notifier) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        dept,
		MaxRequests: uint32(b.Probes),
		Timeout:     b.OpenFor,
		// Interval 0: counts in the closed state are never cleared on a clock; a
		// success resets the consecutive-failure count, which is all ReadyToTrip reads.
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(b.Failures)
		},
		IsExcluded: func(err error) bool {
			_, ok := err.(notCounted)
			return ok
		},
		// gobreaker calls this while holding its own lock, so it only queues the
		// transition; notifier.flush delivers it after the lock is released, which
		// lets the callback call State or Counts without deadlocking.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			notes.push(transition{from: fromGobreaker(from), to: fromGobreaker(to)})
		},
	})
}

type transition struct{ from, to State }

// notifier delivers breaker transitions in the order they happened, outside the
// breaker's lock, on the goroutine whose call caused them (so a transition is reported
// before that call returns).
type notifier struct {
	deliver func(transition)

	mu         sync.Mutex
	pending    []transition
	delivering bool
}

func (n *notifier) push(t transition) {
	n.mu.Lock()
	n.pending = append(n.pending, t)
	n.mu.Unlock()
}

// flush delivers every queued transition. If another goroutine (or a callback calling
// back into the Source) is already delivering, it leaves the queue to that one, which
// keeps the order and avoids reentrancy.
func (n *notifier) flush() {
	n.mu.Lock()
	if n.delivering || len(n.pending) == 0 {
		n.mu.Unlock()
		return
	}
	n.delivering = true
	n.mu.Unlock()
	finished := false
	defer func() {
		// A panicking callback must not leave the flag set, or no transition would
		// ever be delivered again.
		if !finished {
			n.mu.Lock()
			n.delivering = false
			n.mu.Unlock()
		}
	}()
	for {
		n.mu.Lock()
		if len(n.pending) == 0 {
			// Cleared under the same lock as the emptiness check, so a transition
			// pushed concurrently is either seen here or flushed by its pusher.
			n.delivering = false
			n.mu.Unlock()
			finished = true
			return
		}
		batch := n.pending
		n.pending = nil
		n.mu.Unlock()
		for _, t := range batch {
			n.deliver(t)
		}
	}
}
