package resilience

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
)

// behaviour is what the fake department does on one call.
type behaviour int

const (
	succeed              behaviour = iota
	unavailable                    // fails with ErrUnavailable, like an HTTP 503
	garbage                        // fails with ErrBadResponse, like broken XML
	otherError                     // fails with an error that is not a department failure
	blockUntilCancelled            // hangs, but honours its context like a real adapter
	stallIgnoringCtx               // hangs until the test closes release, then succeeds
	stallThenUnavailable           // hangs until the test closes release, then fails
	panics                         // the adapter panics
)

// fakeSource is a department whose behaviour each test scripts. It implements
// adapters.Source and adapters.Pager and records how it was called.
type fakeSource struct {
	release chan struct{} // closed by the test to end stalls
	entered chan struct{} // one value per call that reached the fake

	mu   sync.Mutex
	plan []behaviour // consumed one per call; the last one repeats

	calls       atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func newFake(t *testing.T, plan ...behaviour) *fakeSource {
	f := &fakeSource{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
	f.set(plan...)
	// Stalled goroutines must end with the test, or -race would see them linger.
	t.Cleanup(f.unstall)
	return f
}

func (f *fakeSource) set(plan ...behaviour) {
	if len(plan) == 0 {
		plan = []behaviour{succeed}
	}
	f.mu.Lock()
	f.plan = plan
	f.mu.Unlock()
}

func (f *fakeSource) unstall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.release:
	default:
		close(f.release)
	}
}

func (f *fakeSource) next() behaviour {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.plan[0]
	if len(f.plan) > 1 {
		f.plan = f.plan[1:]
	}
	return b
}

func (f *fakeSource) do(ctx context.Context) error {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case f.entered <- struct{}{}:
	default:
	}
	switch f.next() {
	case unavailable:
		return fmt.Errorf("%w: HTTP 503", adapters.ErrUnavailable)
	case garbage:
		return fmt.Errorf("%w: XML syntax error on line 1", adapters.ErrBadResponse)
	case otherError:
		return fmt.Errorf("operation not bound for this department")
	case blockUntilCancelled:
		<-ctx.Done()
		return fmt.Errorf("%w: %w", adapters.ErrUnavailable, ctx.Err())
	case stallIgnoringCtx:
		<-f.release
	case stallThenUnavailable:
		<-f.release
		return fmt.Errorf("%w: HTTP 503", adapters.ErrUnavailable)
	case panics:
		panic("index out of range in decoder")
	}
	return nil
}

func (f *fakeSource) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	if err := f.do(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]adapters.Record, len(keys))
	for _, k := range keys {
		out[k] = []adapters.Record{{"idNumber": k}}
	}
	return out, nil
}

func (f *fakeSource) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	if err := f.do(ctx); err != nil {
		return adapters.Page{}, err
	}
	return adapters.Page{Records: []adapters.Record{{"idNumber": key}}, Total: 7}, nil
}

// waitEntered waits until n calls have reached the fake.
func (f *fakeSource) waitEntered(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for range n {
		select {
		case <-f.entered:
		case <-deadline:
			t.Fatalf("a call did not reach the department within 5s")
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		<-tick.C
	}
}

// testOptions are fast settings that individual tests override.
func testOptions(t *testing.T) Options {
	return Options{
		Department:  "psb",
		Timeout:     time.Minute,
		Concurrency: 4,
		Retries:     -1,
		BackoffBase: time.Millisecond,
		BackoffMax:  2 * time.Millisecond,
		Breaker:     BreakerOptions{Failures: 100, OpenFor: time.Minute},
		Log:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// transitions records OnStateChange calls.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (r *transitions) record(dept string, from, to State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, dept+":"+from.String()+"->"+to.String())
}

func (r *transitions) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}
