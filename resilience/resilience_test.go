package resilience

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
)

// margin is how late a call may return after its bound, for a loaded CI machine
// running with -race; it is still far below any stall being tested.
const margin = 250 * time.Millisecond

var keys = []string{"310115199001011234"}

func TestFetchPassesAnswerThrough(t *testing.T) {
	f := newFake(t, succeed)
	s := Wrap(f, testOptions(t))
	got, err := s.Fetch(t.Context(), "person", keys)
	if err != nil {
		t.Fatal(err)
	}
	if got[keys[0]][0]["idNumber"] != keys[0] {
		t.Fatalf("Fetch = %v, want the department's record", got)
	}
	if c := s.Counts(); c != (Counts{Calls: 1, Attempts: 1}) {
		t.Fatalf("Counts = %+v", c)
	}
}

func TestBreakerOpensAfterConsecutiveFailuresAndRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure behaviour
		want    error
	}{
		{"unavailable", unavailable, adapters.ErrUnavailable},
		{"unreadable answers", garbage, adapters.ErrBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.failure)
			o := testOptions(t)
			o.Breaker.Failures = 3
			s := Wrap(f, o)
			for i := range 3 {
				if s.State() != StateClosed {
					t.Fatalf("breaker %s after %d failures, want closed", s.State(), i)
				}
				if _, err := s.Fetch(t.Context(), "person", keys); !errors.Is(err, tc.want) {
					t.Fatalf("Fetch error = %v, want %v", err, tc.want)
				}
			}
			if s.State() != StateOpen {
				t.Fatalf("breaker %s after 3 consecutive failures, want open", s.State())
			}

			_, err := s.Fetch(t.Context(), "person", keys)
			if !errors.Is(err, adapters.ErrUnavailable) || !errors.Is(err, ErrOpen) {
				t.Fatalf("Fetch on open breaker: %v, want ErrUnavailable and ErrOpen", err)
			}
			if !strings.Contains(err.Error(), "circuit breaker open") || !strings.Contains(err.Error(), "psb") {
				t.Fatalf("error %q should say the breaker for psb is open", err)
			}
			if n := f.calls.Load(); n != 3 {
				t.Fatalf("department called %d times, want 3: an open breaker must not call it", n)
			}
			if c := s.Counts(); c != (Counts{Calls: 4, Attempts: 3, Failures: 3, Rejected: 1}) {
				t.Fatalf("Counts = %+v", c)
			}
		})
	}
}

func TestBreakerSuccessResetsConsecutiveFailures(t *testing.T) {
	f := newFake(t, unavailable, unavailable, succeed, unavailable, unavailable, succeed)
	o := testOptions(t)
	o.Breaker.Failures = 3
	s := Wrap(f, o)
	for range 6 {
		_, _ = s.Fetch(t.Context(), "person", keys)
	}
	if s.State() != StateClosed {
		t.Fatalf("breaker %s, want closed: failures were never 3 in a row", s.State())
	}
}

func TestBreakerIgnoresCallerCancellationAndNonDepartmentErrors(t *testing.T) {
	f := newFake(t)
	o := testOptions(t)
	o.Breaker.Failures = 1
	s := Wrap(f, o)

	// The caller cancels while the department is working.
	f.set(blockUntilCancelled)
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := s.Fetch(ctx, "person", keys)
			errc <- err
		}()
		f.waitEntered(t, 1)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, adapters.ErrUnavailable) {
			t.Fatalf("cancelled Fetch: %v, want context.Canceled and ErrUnavailable", err)
		}
	}
	// The caller's own deadline, shorter than the gateway's timeout, runs out.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	_, err := s.Fetch(ctx, "person", keys)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch past caller deadline: %v", err)
	}
	// An error that is not a department failure, and keys the department does not know.
	f.set(otherError)
	if _, err := s.Fetch(t.Context(), "person", keys); err == nil || errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("other error: %v, want it passed through unchanged", err)
	}
	f.set(succeed)
	if got, err := s.Fetch(t.Context(), "person", nil); err != nil || len(got) != 0 {
		t.Fatalf("not found: %v, %v", got, err)
	}

	if s.State() != StateClosed {
		t.Fatalf("breaker %s, want closed: none of these were department failures", s.State())
	}
	if c := s.Counts(); c.Failures != 0 || c.Timeouts != 0 {
		t.Fatalf("Counts = %+v, want no failures or timeouts", c)
	}
	// The breaker still counts real failures (Failures is 1).
	f.set(unavailable)
	_, _ = s.Fetch(t.Context(), "person", keys)
	if s.State() != StateOpen {
		t.Fatalf("breaker %s after a department failure, want open", s.State())
	}
}

func TestBreakerRecoversThroughHalfOpen(t *testing.T) {
	f := newFake(t, unavailable)
	var rec transitions
	o := testOptions(t)
	o.Breaker = BreakerOptions{Failures: 2, OpenFor: 50 * time.Millisecond}
	var s *Source
	o.OnStateChange = func(dept string, from, to State) {
		rec.record(dept, from, to)
		_ = s.State() // the callback may read the breaker without deadlocking
	}
	s = Wrap(f, o)

	for range 2 {
		_, _ = s.Fetch(t.Context(), "person", keys)
	}
	if _, err := s.Fetch(t.Context(), "person", keys); !errors.Is(err, ErrOpen) {
		t.Fatalf("Fetch = %v, want ErrOpen", err)
	}
	f.set(succeed)
	eventually(t, 5*time.Second, "breaker half-open after OpenFor", func() bool { return s.State() == StateHalfOpen })
	// Reading the state moved the breaker, so the callback has already heard of it.
	if got := rec.list(); len(got) != 2 || got[1] != "psb:open->half-open" {
		t.Fatalf("OnStateChange calls once State says half-open = %v", got)
	}

	if _, err := s.Fetch(t.Context(), "person", keys); err != nil {
		t.Fatalf("half-open probe: %v", err)
	}
	if s.State() != StateClosed {
		t.Fatalf("breaker %s after a successful probe, want closed", s.State())
	}
	want := []string{"psb:closed->open", "psb:open->half-open", "psb:half-open->closed"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Fatalf("OnStateChange calls = %v, want %v", got, want)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("department called %d times, want 2 failures and 1 probe", n)
	}
}

func TestHalfOpenLetsOneProbeThroughAndReopensOnFailure(t *testing.T) {
	f := newFake(t, unavailable)
	var rec transitions
	o := testOptions(t)
	o.Breaker = BreakerOptions{Failures: 1, OpenFor: 50 * time.Millisecond}
	o.OnStateChange = rec.record
	s := Wrap(f, o)

	_, _ = s.Fetch(t.Context(), "person", keys)
	f.set(stallThenUnavailable)
	eventually(t, 5*time.Second, "breaker half-open after OpenFor", func() bool { return s.State() == StateHalfOpen })

	probe := make(chan error, 1)
	go func() {
		_, err := s.Fetch(t.Context(), "person", keys)
		probe <- err
	}()
	f.waitEntered(t, 2)
	// While the probe is out, everyone else still fails fast.
	err := returnsWithin(t, time.Second, func() error {
		_, err := s.Fetch(t.Context(), "person", keys)
		return err
	})
	if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "a probe is checking") {
		t.Fatalf("second call while probing: %v, want ErrOpen saying a probe is out", err)
	}
	f.unstall()
	if err := <-probe; !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("probe: %v", err)
	}
	if s.State() != StateOpen {
		t.Fatalf("breaker %s after a failed probe, want open", s.State())
	}
	want := []string{"psb:closed->open", "psb:open->half-open", "psb:half-open->open"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Fatalf("OnStateChange calls = %v, want %v", got, want)
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("department called %d times, want 2", n)
	}
}

func TestCancelledProbeDoesNotWedgeHalfOpen(t *testing.T) {
	f := newFake(t, unavailable)
	o := testOptions(t)
	o.Breaker = BreakerOptions{Failures: 1, OpenFor: 50 * time.Millisecond}
	s := Wrap(f, o)
	_, _ = s.Fetch(t.Context(), "person", keys)
	f.set(blockUntilCancelled, succeed)
	eventually(t, 5*time.Second, "breaker half-open", func() bool { return s.State() == StateHalfOpen })

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Fetch(ctx, "person", keys)
	}()
	f.waitEntered(t, 2)
	cancel()
	<-done
	// The cancelled probe said nothing about the department: the next call probes.
	if _, err := s.Fetch(t.Context(), "person", keys); err != nil {
		t.Fatalf("next probe: %v", err)
	}
	if s.State() != StateClosed {
		t.Fatalf("breaker %s, want closed", s.State())
	}
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name        string
		retries     int
		plan        []behaviour
		wantCalls   int64
		wantErr     error // nil: success
		wantRetries uint64
	}{
		{"unavailable is retried Retries times", 2, []behaviour{unavailable}, 3, adapters.ErrUnavailable, 2},
		{"default is one retry", 0, []behaviour{unavailable}, 2, adapters.ErrUnavailable, 1},
		{"negative turns retries off", -1, []behaviour{unavailable}, 1, adapters.ErrUnavailable, 0},
		{"recovery on retry", 2, []behaviour{unavailable, succeed}, 2, nil, 1},
		{"unreadable answer is not retried", 3, []behaviour{garbage}, 1, adapters.ErrBadResponse, 0},
		{"panic is an unreadable answer", 3, []behaviour{panics}, 1, adapters.ErrBadResponse, 0},
		{"other errors are not retried", 3, []behaviour{otherError}, 1, errors.New("any"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.plan...)
			o := testOptions(t)
			o.Retries = tc.retries
			s := Wrap(f, o)
			_, err := s.Fetch(t.Context(), "person", keys)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Fetch: %v", err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("Fetch succeeded, want %v", tc.wantErr)
			case tc.wantErr != nil && (errors.Is(tc.wantErr, adapters.ErrUnavailable) || errors.Is(tc.wantErr, adapters.ErrBadResponse)) && !errors.Is(err, tc.wantErr):
				t.Fatalf("Fetch error = %v, want %v", err, tc.wantErr)
			}
			if n := f.calls.Load(); n != tc.wantCalls {
				t.Fatalf("department called %d times, want %d", n, tc.wantCalls)
			}
			if c := s.Counts(); c.Retries != tc.wantRetries || c.Calls != 1 || c.Attempts != uint64(tc.wantCalls) {
				t.Fatalf("Counts = %+v, want 1 call, %d attempts, %d retries", c, tc.wantCalls, tc.wantRetries)
			}
		})
	}
}

func TestRetriesStopWhenBreakerOpens(t *testing.T) {
	f := newFake(t, unavailable)
	o := testOptions(t)
	o.Retries = 5
	o.Breaker.Failures = 2
	s := Wrap(f, o)
	_, err := s.Fetch(t.Context(), "person", keys)
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("Fetch = %v, want the breaker's refusal once it opened", err)
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("department called %d times, want 2: retrying into an open breaker is pointless", n)
	}
}

func TestBackoffNeverOutlastsCallerDeadline(t *testing.T) {
	f := newFake(t, unavailable)
	o := testOptions(t)
	o.Retries = 5
	// A backoff drawn from [0, 1h) against a 200ms deadline: the chance that one fits
	// is 1 in 18000, so the call should give up at once rather than wait to the end.
	o.BackoffBase = time.Hour
	o.BackoffMax = time.Hour
	s := Wrap(f, o)

	const budget = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), budget)
	defer cancel()
	start := time.Now()
	_, err := s.Fetch(ctx, "person", keys)
	if elapsed := time.Since(start); elapsed > budget+margin {
		t.Fatalf("Fetch took %s with a %s deadline", elapsed, budget)
	}
	if !errors.Is(err, adapters.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch = %v, want the department's own ErrUnavailable", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Fetch waited until the deadline for a backoff that could not end before it")
	}
}

func TestBackoffIsCapped(t *testing.T) {
	f := newFake(t, unavailable)
	o := testOptions(t)
	o.Retries = 8
	o.BackoffBase = 10 * time.Millisecond
	o.BackoffMax = 10 * time.Millisecond
	s := Wrap(f, o)
	start := time.Now()
	_, _ = s.Fetch(t.Context(), "person", keys)
	// Capped, eight backoffs take at most 80ms; doubling uncapped, about 1.3s on average.
	if elapsed := time.Since(start); elapsed > 80*time.Millisecond+margin {
		t.Fatalf("eight backoffs took %s, want at most 80ms of them", elapsed)
	}
	if n := f.calls.Load(); n != 9 {
		t.Fatalf("department called %d times, want 9", n)
	}
}

func TestNoRetryOnceCallerIsGone(t *testing.T) {
	f := newFake(t, blockUntilCancelled)
	o := testOptions(t)
	o.Retries = 5
	s := Wrap(f, o)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Fetch(ctx, "person", keys)
		errc <- err
	}()
	f.waitEntered(t, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v, want context.Canceled", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("department called %d times after the caller left, want 1", n)
	}
}

func TestCallerAlreadyGoneDoesNotReachDepartment(t *testing.T) {
	f := newFake(t, succeed)
	s := Wrap(f, testOptions(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for range 20 { // a random select would let some through
		if _, err := s.Fetch(ctx, "person", keys); !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch with a cancelled context = %v", err)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("department called %d times for callers that had left", n)
	}
}

func TestStalledDepartmentReturnsWithinTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stall behaviour
	}{
		{"adapter honours its context", blockUntilCancelled},
		{"adapter ignores its context", stallIgnoringCtx},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.stall)
			o := testOptions(t)
			o.Timeout = 50 * time.Millisecond
			s := Wrap(f, o)
			// The caller has no deadline of its own; the fake would stall until cleanup.
			err := returnsWithin(t, o.Timeout+margin, func() error {
				_, err := s.Fetch(t.Context(), "person", keys)
				return err
			})
			if !errors.Is(err, adapters.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Fetch = %v, want ErrUnavailable and DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), "did not answer within 50ms") {
				t.Fatalf("error %q should say how long the department had", err)
			}
			if c := s.Counts(); c.Timeouts != 1 || c.Failures != 1 {
				t.Fatalf("Counts = %+v, want one timeout counted as a failure", c)
			}
		})
	}
}

// Retries share the call's budget: after a timeout nothing of it is left, so a stalled
// department holds the caller for Timeout, not Timeout per attempt (issue: one request
// took 6.05 s against a 3 s timeout, a retry after a timeout).
func TestRetriesShareTheCallsTimeout(t *testing.T) {
	f := newFake(t, blockUntilCancelled)
	o := testOptions(t)
	o.Timeout = 60 * time.Millisecond
	o.Retries = 10
	s := Wrap(f, o)
	err := returnsWithin(t, o.Timeout+margin, func() error {
		_, err := s.Fetch(t.Context(), "person", keys)
		return err
	})
	if !errors.Is(err, adapters.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch = %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("department called %d times: a retry after the budget ran out", n)
	}

	// Quick failures are still retried within the budget.
	f.set(unavailable, unavailable, succeed)
	if _, err := s.Fetch(t.Context(), "person", keys); err != nil {
		t.Fatalf("Fetch after two quick failures: %v", err)
	}
}

// The breaker is asked after the wait for a slot: a call that queued while the calls
// ahead of it opened the breaker is refused, not sent to the failing department.
func TestBreakerCheckedAfterSlotWait(t *testing.T) {
	f := newFake(t, stallThenUnavailable)
	o := testOptions(t)
	o.Concurrency = 1
	o.Breaker.Failures = 1
	s := Wrap(f, o)
	first := make(chan error, 1)
	go func() {
		_, err := s.Fetch(t.Context(), "person", keys)
		first <- err
	}()
	f.waitEntered(t, 1)
	second := make(chan error, 1)
	go func() {
		_, err := s.Fetch(t.Context(), "person", keys)
		second <- err
	}()
	eventually(t, 5*time.Second, "second caller queued", func() bool { return s.Counts().Calls == 2 })
	f.unstall() // the first call fails, which opens the breaker
	if err := <-first; !errors.Is(err, adapters.ErrUnavailable) || errors.Is(err, ErrOpen) {
		t.Fatalf("first call = %v", err)
	}
	if err := <-second; !errors.Is(err, ErrOpen) {
		t.Fatalf("queued call = %v, want the open breaker's refusal", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("department called %d times, want 1", n)
	}
}

// The wait for a slot is inside the call's budget even when the caller has no deadline.
func TestSlotWaitIsBoundedByTimeout(t *testing.T) {
	f := newFake(t, stallIgnoringCtx)
	o := testOptions(t)
	o.Timeout = 50 * time.Millisecond
	o.Concurrency = 1
	s := Wrap(f, o)
	_, _ = s.Fetch(t.Context(), "person", keys) // abandoned at 50ms; keeps its slot
	err := returnsWithin(t, o.Timeout+margin, func() error {
		_, err := s.Fetch(t.Context(), "person", keys)
		return err
	})
	if !errors.Is(err, adapters.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("Fetch queued behind a stalled call = %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("department called %d times, want 1", n)
	}
}

// Many callers on a stalled department: every one returns within Timeout, the breaker
// opens, and callers that queued while it opened do not reach the department (issue: a
// median of 10 s for 48 callers with a 3 s timeout).
func TestStalledDepartmentUnderLoad(t *testing.T) {
	f := newFake(t, blockUntilCancelled)
	o := testOptions(t)
	o.Timeout = 80 * time.Millisecond
	o.Concurrency = 4
	o.Retries = 2
	o.Breaker.Failures = 4
	s := Wrap(f, o)
	const callers = 48
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for range callers {
		wg.Go(func() {
			start := time.Now()
			_, err := s.Fetch(t.Context(), "person", keys)
			if err == nil {
				t.Error("a call to a stalled department succeeded")
			}
			d := time.Since(start)
			for {
				cur := slowest.Load()
				if int64(d) <= cur || slowest.CompareAndSwap(cur, int64(d)) {
					break
				}
			}
		})
	}
	wg.Wait()
	if d := time.Duration(slowest.Load()); d > o.Timeout+margin {
		t.Errorf("slowest caller took %s with a %s timeout", d, o.Timeout)
	}
	if s.State() != StateOpen {
		t.Errorf("breaker %s after the department stalled, want open", s.State())
	}
	// Calls queued behind the first ones were refused once they got a slot; a few whose
	// slot came free before the breaker had opened may have gone through.
	if n := f.calls.Load(); n > 2*int64(o.Concurrency) {
		t.Errorf("department called %d times by %d callers, want at most %d", n, callers, 2*o.Concurrency)
	}
	if err := returnsWithin(t, margin, func() error {
		_, err := s.Fetch(t.Context(), "person", keys)
		return err
	}); !errors.Is(err, ErrOpen) {
		t.Errorf("Fetch with the breaker open = %v", err)
	}
}

// A call whose budget ends as a connection comes free does not reach the department:
// with both ready, select may pick the slot, and the call must not be made late.
func TestNoCallAfterTheBudget(t *testing.T) {
	f := newFake(t, succeed)
	o := testOptions(t)
	o.Timeout = time.Nanosecond // over before the slot is taken
	o.Retries = 0
	s := Wrap(f, o)
	for range 200 {
		if _, err := s.Fetch(t.Context(), "person", keys); err == nil {
			t.Fatal("a call with no budget left succeeded")
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("the department was called %d times by calls whose budget had ended", n)
	}
}

func TestAbandonedAttemptKeepsItsSlot(t *testing.T) {
	f := newFake(t, stallIgnoringCtx, succeed)
	o := testOptions(t)
	o.Timeout = 30 * time.Millisecond
	o.Concurrency = 1
	s := Wrap(f, o)
	if _, err := s.Fetch(t.Context(), "person", keys); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled Fetch = %v", err)
	}
	// The department is still busy with the abandoned call: no second call reaches it.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.Fetch(ctx, "person", keys); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch while the department is busy = %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("department called %d times, want 1", n)
	}
	// Once it answers, the slot is free again; this call waits for it.
	f.unstall()
	if _, err := s.Fetch(t.Context(), "person", keys); err != nil {
		t.Fatalf("Fetch after the department answered: %v", err)
	}
}

func TestBulkheadLimitsCallsInFlight(t *testing.T) {
	f := newFake(t, stallIgnoringCtx)
	o := testOptions(t)
	o.Concurrency = 3
	s := Wrap(f, o)

	const callers = 12
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := s.Fetch(t.Context(), "person", keys)
			errs <- err
		})
	}
	f.waitEntered(t, 3)
	eventually(t, 5*time.Second, "all callers at the Source", func() bool { return s.Counts().Calls == callers })
	// With every slot taken, a caller that cannot wait must not reach the department.
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		_, err := s.Fetch(ctx, "person", keys)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Fetch with all slots taken = %v, want it to give up waiting", err)
		}
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("department called %d times with Concurrency=3 and every call stalled", n)
	}
	f.unstall()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := f.maxInFlight.Load(); m != 3 {
		t.Fatalf("at most %d calls were in flight, want exactly Concurrency=3", m)
	}
	if n := f.calls.Load(); n != callers {
		t.Fatalf("department called %d times, want the %d callers that could wait", n, callers)
	}
}

func TestBulkheadWaiterGivesUpWhenItsContextEnds(t *testing.T) {
	f := newFake(t, blockUntilCancelled)
	o := testOptions(t)
	o.Concurrency = 1
	o.Breaker.Failures = 1 // a counted give-up would open it
	s := Wrap(f, o)

	holder, release := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Fetch(holder, "person", keys)
	}()
	f.waitEntered(t, 1)

	const wait = 30 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	start := time.Now()
	_, err := s.Fetch(ctx, "person", keys)
	if elapsed := time.Since(start); elapsed > wait+margin {
		t.Fatalf("waiter took %s with a %s deadline", elapsed, wait)
	}
	if !errors.Is(err, adapters.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("department called %d times, want 1", n)
	}
	if s.State() != StateClosed {
		t.Fatalf("breaker %s, want closed: waiting for a slot is not a department failure", s.State())
	}
	release()
	<-done
}

func TestPagePassesThroughWithTheSameProtection(t *testing.T) {
	f := newFake(t, succeed)
	o := testOptions(t)
	o.Retries = 1
	o.Breaker.Failures = 3
	s := Wrap(f, o)
	if !s.CanPage() {
		t.Fatal("CanPage = false for a pager")
	}
	page, err := s.Page(t.Context(), "insuranceRecords", keys[0], 0, 10)
	if err != nil || page.Total != 7 || len(page.Records) != 1 {
		t.Fatalf("Page = %+v, %v", page, err)
	}

	// Retried like Fetch, and sharing Fetch's breaker.
	f.set(unavailable)
	if _, err := s.Page(t.Context(), "insuranceRecords", keys[0], 0, 10); !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("Page = %v", err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("department called %d times, want 1 + 2 attempts", n)
	}
	_, _ = s.Fetch(t.Context(), "person", keys)
	if s.State() != StateOpen {
		t.Fatalf("breaker %s, want open after 3 failures over Page and Fetch", s.State())
	}
	if _, err := s.Page(t.Context(), "insuranceRecords", keys[0], 0, 10); !errors.Is(err, ErrOpen) {
		t.Fatalf("Page on open breaker = %v", err)
	}

	// And bounded by the timeout.
	g := newFake(t, blockUntilCancelled)
	o.Timeout = 30 * time.Millisecond
	o.Retries = -1
	start := time.Now()
	if _, err := Wrap(g, o).Page(t.Context(), "insuranceRecords", keys[0], 0, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled Page = %v", err)
	}
	if elapsed := time.Since(start); elapsed > o.Timeout+margin {
		t.Fatalf("stalled Page took %s", elapsed)
	}
}

func TestPageOnSourceThatCannotList(t *testing.T) {
	f := newFake(t, succeed)
	s := Wrap(struct{ adapters.Source }{f}, testOptions(t)) // Fetch only
	if s.CanPage() {
		t.Fatal("CanPage = true for a source without Page")
	}
	if _, err := s.Page(t.Context(), "insuranceRecords", "", 0, 10); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Page = %v, want errors.ErrUnsupported", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("department called %d times", n)
	}
	if _, err := s.Fetch(t.Context(), "person", keys); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
}

func TestStateStrings(t *testing.T) {
	for s, want := range map[State]string{StateClosed: "closed", StateHalfOpen: "half-open", StateOpen: "open"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestConcurrentMixedLoad(t *testing.T) {
	// Run under -race: many callers, failures, timeouts and breaker transitions at once.
	f := newFake(t, succeed, unavailable, garbage, blockUntilCancelled, succeed, unavailable)
	var rec transitions
	o := testOptions(t)
	o.Timeout = 20 * time.Millisecond
	o.Retries = 1
	o.Concurrency = 3
	o.Breaker = BreakerOptions{Failures: 2, OpenFor: 10 * time.Millisecond}
	o.OnStateChange = rec.record
	s := Wrap(f, o)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if i%2 == 0 {
				_, _ = s.Fetch(t.Context(), "person", keys)
			} else {
				_, _ = s.Page(t.Context(), "list", "", 0, 10)
			}
			_ = s.State()
			_ = s.Counts()
		})
	}
	wg.Wait()
	if m := f.maxInFlight.Load(); m > 3 {
		t.Fatalf("%d calls in flight, want at most 3", m)
	}
	c := s.Counts()
	if c.Calls != 40 || c.Attempts+c.Rejected < c.Calls {
		t.Fatalf("Counts = %+v", c)
	}
	if got := rec.list(); len(got) == 0 || got[0] != "psb:closed->open" {
		t.Fatalf("transitions = %v, want the breaker to have opened", got)
	}
}

// returnsWithin runs call and fails the test if it has not returned within d. The call
// is left running on failure; the fake's cleanup unblocks it.
func returnsWithin(t *testing.T, d time.Duration, call func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		t.Fatalf("call still running after %s", d)
		return nil
	}
}
