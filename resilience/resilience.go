// Package resilience protects the gateway from a department system that is down, slow
// or answering garbage, and protects the department from the gateway's load. Wrap puts
// one decorator around any adapters.Source, whatever its protocol, so no adapter
// repeats timeouts, retries, a bulkhead or a circuit breaker.
//
// One call has one budget, min(Timeout, the caller's deadline), and everything it waits
// for is inside it: the bulkhead (at most Concurrency attempts in flight), the circuit
// breaker, checked once the slot is held so that a call queued behind a stalled
// department learns the breaker opened meanwhile (fail fast while the department is known
// to be failing), the attempt, and, for a department that was unavailable, a few retries
// after jittered backoff. A stalled department therefore holds a request for at most
// Timeout, never Timeout per retry plus the queue (docs/operators.md, departments[]).
package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// ErrOpen is wrapped, together with adapters.ErrUnavailable, by the error of a call the
// circuit breaker refused without reaching the department.
var ErrOpen = errors.New("circuit breaker open")

// Options configures Wrap. Zero fields take the defaults below.
type Options struct {
	// Department names the department in errors, logs and OnStateChange.
	Department string
	// Timeout bounds each call as a whole: the wait for a slot, every attempt and the
	// backoffs between them share it. The caller's own deadline bounds it further.
	Timeout time.Duration
	// Concurrency is the bulkhead: attempts in flight at once. A caller waits for a
	// slot within the call's Timeout, and not at all while the breaker is open. An attempt abandoned at its timeout keeps its slot
	// until the department actually answers, so a stalled department never sees more
	// than Concurrency calls.
	Concurrency int
	// Retries is how many extra attempts a call makes when the department is
	// unavailable (never when it answered garbage, never once the caller is gone).
	// Both operations are reads, so repeating them is safe. 0 means DefaultRetries; a
	// negative value turns retries off.
	Retries int
	// BackoffBase is the first backoff before a retry; each further retry doubles it,
	// up to BackoffMax. The actual wait is drawn uniformly from [0, that) ("full
	// jitter"), so callers that failed together do not retry together.
	BackoffBase time.Duration
	// BackoffMax caps the backoff ceiling.
	BackoffMax time.Duration
	// Breaker tunes the circuit breaker.
	Breaker BreakerOptions
	// OnStateChange, if set, is told every breaker transition, in order, before the
	// call that caused it returns. It may call State and Counts.
	OnStateChange func(dept string, from, to State)
	// Log receives breaker transitions, timeouts and retries. Default slog.Default().
	Log *slog.Logger
}

// Defaults for Options fields left zero that a binding cannot set; timeout, concurrency
// and retries default to the configuration's (config.Default…).
const (
	DefaultBackoffBase = 50 * time.Millisecond
	DefaultBackoffMax  = time.Second
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = config.DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = config.DefaultConcurrency
	}
	switch {
	case o.Retries == 0:
		o.Retries = config.DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	o.Breaker = o.Breaker.withDefaults()
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Counts are a Source's running totals since Wrap, for metrics.
type Counts struct {
	Calls    uint64 // Fetch and Page calls made to the Source
	Attempts uint64 // calls that reached the department, retries included
	Failures uint64 // attempts that counted against the department: unavailable, unreadable answer, timeout
	Retries  uint64 // attempts after the first within one call
	Rejected uint64 // attempts the breaker refused without reaching the department
	Timeouts uint64 // attempts cut off by Options.Timeout (not by the caller's deadline)
}

// Source is a department's adapter with the protections around it. It implements
// adapters.Source and adapters.Pager; Page fails with errors.ErrUnsupported when the
// wrapped source cannot list (see CanPage).
type Source struct {
	inner   adapters.Source
	opts    Options
	slots   chan struct{}
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	notes   *notifier

	calls, attempts, failures, retries, rejected, timeouts atomic.Uint64
}

var (
	_ adapters.Source = (*Source)(nil)
	_ adapters.Pager  = (*Source)(nil)
)

// Wrap puts the protections described by o around src.
func Wrap(src adapters.Source, o Options) *Source {
	o = o.withDefaults()
	s := &Source{inner: src, opts: o, slots: make(chan struct{}, o.Concurrency)}
	s.notes = &notifier{deliver: s.announce}
	s.breaker = newBreaker(o.Department, o.Breaker, s.notes)
	return s
}

// Inner returns the wrapped adapter, for operations that need its own API.
func (s *Source) Inner() adapters.Source { return s.inner }

// CanPage reports whether the wrapped adapter lists records page by page. Source always
// has a Page method, so a type assertion to adapters.Pager cannot tell.
func (s *Source) CanPage() bool {
	_, ok := s.inner.(adapters.Pager)
	return ok
}

// State is the breaker's current state. Reading it also moves an open breaker whose
// OpenFor has passed to half-open.
func (s *Source) State() State {
	st := fromGobreaker(s.breaker.State())
	s.notes.flush()
	return st
}

// Counts returns the running totals.
func (s *Source) Counts() Counts {
	return Counts{
		Calls:    s.calls.Load(),
		Attempts: s.attempts.Load(),
		Failures: s.failures.Load(),
		Retries:  s.retries.Load(),
		Rejected: s.rejected.Load(),
		Timeouts: s.timeouts.Load(),
	}
}

// Fetch implements adapters.Source with the protections.
func (s *Source) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	return run(ctx, s, op, func(ctx context.Context) (map[string][]adapters.Record, error) {
		return s.inner.Fetch(ctx, op, keys)
	})
}

// Page implements adapters.Pager with the same protections. If the wrapped adapter
// cannot list, it fails with an error wrapping errors.ErrUnsupported, without touching
// the department or the breaker.
func (s *Source) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	p, ok := s.inner.(adapters.Pager)
	if !ok {
		return adapters.Page{}, fmt.Errorf("department %s cannot list records page by page: %w", s.opts.Department, errors.ErrUnsupported)
	}
	return run(ctx, s, op, func(ctx context.Context) (adapters.Page, error) {
		return p.Page(ctx, op, key, offset, limit)
	})
}

// verdict is what one attempt means for the breaker and for retrying.
type verdict int

const (
	verdictOK          verdict = iota
	verdictUnavailable         // counts against the department; worth retrying
	verdictUnreadable          // counts against the department; retrying would get the same garbage
	verdictUncounted           // says nothing about the department: caller gone, refused, not a department error
)

// run makes the call with retries: only after an unavailable department, at most
// Retries extra times, and only if the backoff ends before the call's budget does. The
// budget (Timeout, or the caller's earlier deadline) covers the whole call, so a retry
// gets what its predecessors left of it, never a Timeout of its own.
func run[T any](ctx context.Context, s *Source, op string, call func(context.Context) (T, error)) (T, error) {
	s.calls.Add(1)
	budget, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	for n := 0; ; n++ {
		if n > 0 {
			s.retries.Add(1)
			s.opts.Log.DebugContext(ctx, "retrying department call", "department", s.opts.Department, "op", op, "attempt", n+1)
		}
		v, vd, err := attempt(ctx, budget, s, op, call)
		if vd == verdictOK {
			return v, nil
		}
		if vd != verdictUnavailable || n >= s.opts.Retries || !s.backoff(budget, n) {
			var zero T
			return zero, err
		}
	}
}

// backoff waits before retry n+1 and reports whether to make it. It does not wait at
// all when the wait would reach the caller's deadline, since no attempt could follow.
func (s *Source) backoff(ctx context.Context, n int) bool {
	ceiling := s.opts.BackoffMax
	if n < 30 { // beyond that the shift overflows; the cap applies long before
		ceiling = min(s.opts.BackoffBase<<n, s.opts.BackoffMax)
	}
	wait := rand.N(ceiling) // full jitter; ceiling > 0 after withDefaults
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type result[T any] struct {
	v   T
	err error
}

// attempt makes one attempt through the bulkhead and the breaker, within budget (the
// call's context with its Timeout; ctx is the caller's, to tell its leaving from the
// budget running out). It reports the verdict to the breaker exactly once, or a
// half-open breaker would wait forever for its probe.
func attempt[T any](ctx, budget context.Context, s *Source, op string, call func(context.Context) (T, error)) (_ T, vd verdict, err error) {
	done, err := s.admit(ctx, budget)
	if err != nil {
		var zero T
		return zero, verdictUncounted, err
	}
	// The slot passes to whichever side sees the answer: this attempt frees it, the
	// goroutine if the attempt was abandoned. Either way only after the breaker has
	// heard this attempt's verdict, so a call queued for the slot sees a breaker
	// already opened by this failure.
	var release func()
	vd = verdictUncounted
	defer func() {
		switch vd {
		case verdictOK:
			done(nil)
		case verdictUnavailable, verdictUnreadable:
			s.failures.Add(1)
			done(err)
		default:
			done(notCounted{})
		}
		s.notes.flush()
		release()
	}()
	s.attempts.Add(1)

	var r result[T]
	r, release = callWithin(budget, s, op, call)
	return judge(ctx, budget, s, op, r)
}

// admit lets a call through to the department: the caller is still there, the
// breaker is not open, a connection slot is free within budget, and the
// breaker, asked last, allows it. On success the caller holds a slot and must
// report to done exactly once.
func (s *Source) admit(ctx, budget context.Context) (done func(error), err error) {
	dept := s.opts.Department
	if ctx.Err() != nil {
		// Checked first: a select on a free slot and a done context picks either, and
		// a caller who has left should neither reach the department nor take a probe.
		return nil, callerGone(ctx, dept)
	}
	// An open breaker refuses before the queue: waiting for a slot held by calls to a
	// stalled department would only spend the budget on a refusal.
	if fromGobreaker(s.breaker.State()) == StateOpen {
		s.notes.flush()
		return nil, s.refused(gobreaker.ErrOpenState)
	}
	s.notes.flush()

	select {
	case s.slots <- struct{}{}:
		if budget.Err() != nil {
			// The slot and the end of the budget came together, and select picked the
			// slot: too late to call.
			<-s.slots
			return nil, fmt.Errorf("%w: department %s: the call's %s ran out as a connection came free: %w",
				adapters.ErrUnavailable, dept, s.opts.Timeout, budget.Err())
		}
	case <-budget.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: department %s: the request ended while waiting for one of its %d connections: %w",
				adapters.ErrUnavailable, dept, cap(s.slots), ctx.Err())
		}
		// Not counted against the department: the calls holding the slots are, when
		// they time out.
		return nil, fmt.Errorf("%w: department %s: all %d of its connections stayed busy for the call's %s: %w",
			adapters.ErrUnavailable, dept, cap(s.slots), s.opts.Timeout, context.DeadlineExceeded)
	}
	// The breaker is asked only now: while this call queued, the calls ahead of it may
	// have opened it.
	done, err = s.breaker.Allow()
	s.notes.flush()
	if err != nil {
		<-s.slots
		return nil, s.refused(err)
	}
	return done, nil
}

// callWithin runs call on its own goroutine so that an adapter which ignores
// its context still cannot hold the caller past the budget. The caller calls
// release once the breaker has heard the verdict: it frees the slot at once when the
// answer came in time; otherwise it lets the goroutine free it when the adapter
// returns, as the department is still busy with that call.
func callWithin[T any](budget context.Context, s *Source, op string, call func(context.Context) (T, error)) (r result[T], release func()) {
	ch := make(chan result[T])
	abandoned := make(chan struct{})
	go func() {
		var r result[T]
		defer func() {
			// A panic here could not be recovered by anyone above (it is not their
			// goroutine) and would end the process; an adapter panics on input it did
			// not expect, so it is an unreadable answer.
			if p := recover(); p != nil {
				s.opts.Log.Error("department adapter panicked", "department", s.opts.Department, "op", op, "panic", p, "stack", string(debug.Stack()))
				r = result[T]{err: fmt.Errorf("%w: department %s: the adapter panicked: %v", adapters.ErrBadResponse, s.opts.Department, p)}
			}
			select {
			case ch <- r:
			case <-abandoned:
				<-s.slots
			}
		}()
		r.v, r.err = call(budget)
	}()

	owned := func() { <-s.slots }
	select {
	case r = <-ch:
		return r, owned
	case <-budget.Done():
		select {
		case r = <-ch: // answered just in time: prefer the answer
			return r, owned
		default:
			return result[T]{err: budget.Err()}, func() { close(abandoned) }
		}
	}
}

// judge turns an attempt's result into its answer and the verdict the breaker
// hears: the caller leaving is not the department's fault, running out of
// budget is.
func judge[T any](ctx, budget context.Context, s *Source, op string, r result[T]) (T, verdict, error) {
	var zero T
	dept := s.opts.Department
	switch {
	case r.err == nil:
		return r.v, verdictOK, nil
	case ctx.Err() != nil:
		// The caller cancelled or ran out of its own time: not the department's fault.
		return zero, verdictUncounted, callerGone(ctx, dept)
	case errors.Is(budget.Err(), context.DeadlineExceeded):
		s.timeouts.Add(1)
		s.opts.Log.WarnContext(ctx, "department call timed out", "department", dept, "op", op, "timeout", s.opts.Timeout)
		return zero, verdictUnavailable, fmt.Errorf("%w: department %s did not answer within %s: %w",
			adapters.ErrUnavailable, dept, s.opts.Timeout, context.DeadlineExceeded)
	case errors.Is(r.err, adapters.ErrBadResponse):
		return zero, verdictUnreadable, r.err
	case errors.Is(r.err, adapters.ErrUnavailable):
		return zero, verdictUnavailable, r.err
	}
	return zero, verdictUncounted, r.err
}

// refused is the error of a call the breaker did not let through, counted as rejected.
func (s *Source) refused(err error) error {
	s.rejected.Add(1)
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("%w: %w: department %s failed repeatedly and a probe is checking whether it is back",
			adapters.ErrUnavailable, ErrOpen, s.opts.Department)
	}
	return fmt.Errorf("%w: %w: department %s failed repeatedly, so calls are refused for up to %s before a probe is let through",
		adapters.ErrUnavailable, ErrOpen, s.opts.Department, s.opts.Breaker.OpenFor)
}

// callerGone is the error for a call whose caller cancelled or ran out of its own time.
func callerGone(ctx context.Context, dept string) error {
	return fmt.Errorf("%w: department %s: the request ended before the department answered: %w",
		adapters.ErrUnavailable, dept, ctx.Err())
}

// announce logs a breaker transition and passes it on to OnStateChange.
func (s *Source) announce(t transition) {
	level := slog.LevelInfo
	if t.to == StateOpen {
		level = slog.LevelWarn
	}
	s.opts.Log.Log(context.Background(), level, "department circuit breaker changed state",
		"department", s.opts.Department, "from", t.from.String(), "to", t.to.String())
	if s.opts.OnStateChange != nil {
		s.opts.OnStateChange(s.opts.Department, t.from, t.to)
	}
}
