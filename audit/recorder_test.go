package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
)

func newRecorder(g *gatedStore, opts audit.Options) *audit.Recorder {
	return audit.NewRecorder(g, opts, slog.New(slog.DiscardHandler))
}

// recordAll starts one Record per caller and returns a function that waits for them and
// returns their errors.
func recordAll(r *audit.Recorder, callers, size int) func() []error {
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { errs[i] = r.Record(context.Background(), events(fmt.Sprint("caller-", i), size)) })
	}
	return func() []error {
		wg.Wait()
		return errs
	}
}

// blockFirstCommit records one event and waits until its commit is in flight (and held).
func blockFirstCommit(t *testing.T, g *gatedStore, r *audit.Recorder) func() error {
	t.Helper()
	g.hold()
	done := make(chan error, 1)
	go func() { done <- r.Record(context.Background(), events("first", 1)) }()
	waitEntered(t, g)
	return func() error { return <-done }
}

// checkCallersContiguous checks that each caller's events are consecutive in the chain
// and that the chain holds what was recorded.
func checkCallersContiguous(t *testing.T, evs []gateway.AuditEvent, callers, size int) {
	t.Helper()
	seqs := map[string][]int64{}
	for _, e := range evs {
		seqs[e.RequestID] = append(seqs[e.RequestID], e.Seq)
	}
	for i := range callers {
		s := seqs[fmt.Sprint("caller-", i)]
		if len(s) != size || s[size-1]-s[0] != int64(size-1) {
			t.Errorf("caller-%d: seqs %v, want %d consecutive", i, s, size)
		}
	}
}

func TestRecorderBatchesConcurrentCallers(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{})
	defer r.Close(context.Background())

	first := blockFirstCommit(t, g, r)
	const callers, size = 63, 2
	wait := recordAll(r, callers, size)
	waitFor(t, "callers to queue", func() bool { return r.Stats().Queued == callers*size })
	g.release()

	if err := first(); err != nil {
		t.Fatal(err)
	}
	for i, err := range wait() {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if got := g.calls(); !slices.Equal(got, []int{1, callers * size}) {
		t.Errorf("AppendAudit calls of sizes %v, want [1 %d]: the queued callers should share one commit", got, callers*size)
	}
	st := r.Stats()
	if st.Commits != 2 || st.Events != 1+callers*size || st.LastBatch != callers*size || st.Queued != 0 {
		t.Errorf("Stats = %+v", st)
	}
	rep, err := audit.Verify(context.Background(), s)
	if err != nil || !rep.OK() || rep.Checked != 1+callers*size {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
	checkCallersContiguous(t, all(t, s), callers, size)
}

// TestRecorderDirect: with Direct, each caller appends its own events at once, however
// many commits are in flight; Close waits for them, and a Record after Close fails.
func TestRecorderDirect(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{Direct: true, Chain: "r1"})
	g.hold()
	wait := recordAll(r, 5, 2)
	for range 5 {
		waitEntered(t, g) // all five are in AppendAudit together
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close(context.Background()) }()
	select {
	case <-closed:
		t.Fatal("Close returned with appends in flight")
	case <-time.After(50 * time.Millisecond):
	}
	g.release()
	for i, err := range wait() {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := r.Record(context.Background(), events("late", 1)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close: %v", err)
	}
	if st := r.Stats(); st.Commits != 5 || st.Events != 10 {
		t.Errorf("Stats = %+v", st)
	}
	evs := all(t, s)
	if len(evs) != 10 || evs[0].Chain != "r1" {
		t.Fatalf("%d events, chain %q", len(evs), evs[0].Chain)
	}
	checkCallersContiguous(t, evs, 5, 2)
}

// TestRecorderNaturalBatching runs many callers without any gate: the only batching is
// what the time of a real commit gives, and it must be some.
func TestRecorderNaturalBatching(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{})
	defer r.Close(context.Background())
	const callers, size = 200, 1
	for i, err := range recordAll(r, callers, size)() {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if n := len(g.calls()); n >= callers {
		t.Errorf("%d AppendAudit calls for %d concurrent callers: no batching", n, callers)
	}
	if evs := all(t, s); len(evs) != callers*size {
		t.Errorf("%d events stored, want %d", len(evs), callers*size)
	}
}

func TestRecorderMaxBatch(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{MaxBatch: 10})
	defer r.Close(context.Background())

	first := blockFirstCommit(t, g, r)
	const callers, size = 23, 3
	wait := recordAll(r, callers, size)
	waitFor(t, "callers to queue", func() bool { return r.Stats().Queued == callers*size })
	big := make(chan error, 1)
	go func() { big <- r.Record(context.Background(), events("big", 25)) }()
	waitFor(t, "the big caller to queue", func() bool { return r.Stats().Queued == callers*size+25 })
	g.release()

	if err := first(); err != nil {
		t.Fatal(err)
	}
	for _, err := range append(wait(), <-big) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Whole callers up to 10 events: three callers of 3 per commit, then the big
	// caller alone, never split.
	want := []int{1, 9, 9, 9, 9, 9, 9, 9, 6, 25}
	if got := g.calls(); !slices.Equal(got, want) {
		t.Errorf("AppendAudit calls of sizes %v, want %v", got, want)
	}
	checkCallersContiguous(t, all(t, s), callers, size)
}

func TestRecorderMaxWaitGathersABatch(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	// The hour is never reached: the commit goes as soon as MaxBatch events have queued.
	r := newRecorder(g, audit.Options{MaxBatch: 4, MaxWait: time.Hour})
	defer r.Close(context.Background())
	for _, err := range recordAll(r, 4, 1)() {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := g.calls(); !slices.Equal(got, []int{4}) {
		t.Errorf("AppendAudit calls of sizes %v, want one of 4", got)
	}
}

func TestRecorderErrorReachesEveryWaiter(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{})
	defer r.Close(context.Background())

	first := blockFirstCommit(t, g, r)
	const callers = 10
	wait := recordAll(r, callers, 2)
	waitFor(t, "callers to queue", func() bool { return r.Stats().Queued == callers*2 })
	diskFull := errors.New("disk full")
	g.failWith(diskFull)
	g.release()

	if err := first(); !errors.Is(err, diskFull) {
		t.Errorf("first caller: err = %v, want the commit's error", err)
	}
	for i, err := range wait() {
		if !errors.Is(err, diskFull) {
			t.Errorf("caller %d: err = %v, want the commit's error", i, err)
		}
	}
	if st := r.Stats(); st.Failures != 2 || st.Commits != 0 || st.Events != 0 {
		t.Errorf("Stats after failed commits = %+v", st)
	}
	if n := len(all(t, s)); n != 0 {
		t.Errorf("%d events stored by failed commits", n)
	}

	// The recorder outlives a failure.
	g.failWith(nil)
	if err := r.Record(context.Background(), events("later", 1)); err != nil {
		t.Errorf("Record after a failed commit: %v", err)
	}
}

func TestRecorderCloseFlushes(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{})

	first := blockFirstCommit(t, g, r)
	wait := recordAll(r, 5, 2)
	waitFor(t, "callers to queue", func() bool { return r.Stats().Queued == 10 })
	closed := make(chan error, 1)
	go func() { closed <- r.Close(context.Background()) }()
	g.release()

	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := first(); err != nil {
		t.Error(err)
	}
	for _, err := range wait() {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(all(t, s)); n != 11 {
		t.Errorf("%d events stored after Close, want 11", n)
	}
	if err := r.Record(context.Background(), events("late", 1)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close: err = %v, want ErrClosed", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRecorderCloseGivesUp: a Close whose context ends does not wait for a stuck
// database, and nobody is left waiting.
func TestRecorderCloseGivesUp(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{})

	first := blockFirstCommit(t, g, r)
	wait := recordAll(r, 3, 1)
	waitFor(t, "callers to queue", func() bool { return r.Stats().Queued == 3 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with an ended context: err = %v", err)
	}
	if err := first(); err == nil {
		t.Error("the stuck commit's caller was told its events are stored")
	}
	for i, err := range wait() {
		if err == nil {
			t.Errorf("caller %d was told its events are stored", i)
		}
	}
}

func TestRecordReturnsWhenItsContextEnds(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	r := newRecorder(g, audit.Options{})
	defer r.Close(context.Background())

	first := blockFirstCommit(t, g, r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Record(ctx, events("impatient", 1)) }()
	waitFor(t, "the caller to queue", func() bool { return r.Stats().Queued == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Record after its context ended: err = %v", err)
	}
	g.release()
	if err := first(); err != nil {
		t.Fatal(err)
	}
	if err := r.Record(context.Background(), nil); err != nil {
		t.Errorf("Record of nothing: %v", err)
	}
}

// BenchmarkRecord measures audited requests per second on SQLite (appends made durable
// by its audit journal): the Recorder's group commit, each request appending its own
// events (Direct, the journal grouping their flushes), and an append per request without
// the Recorder; every iteration is one request's events made durable.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	b.Run("group-commit", func(b *testing.B) { benchRecorder(b, audit.Options{}) })
	b.Run("direct", func(b *testing.B) { benchRecorder(b, audit.Options{Direct: true}) })
	b.Run("commit-per-request", func(b *testing.B) {
		s, _ := newStore(b)
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			evs := events("bench", 3)
			for pb.Next() {
				if err := s.AppendAudit(ctx, evs); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchRecorder records from 16 goroutines per core through a Recorder with opts.
func benchRecorder(b *testing.B, opts audit.Options) {
	ctx := context.Background()
	s, _ := newStore(b)
	r := audit.NewRecorder(s, opts, slog.New(slog.DiscardHandler))
	defer r.Close(ctx)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		evs := events("bench", 3)
		for pb.Next() {
			if err := r.Record(ctx, evs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if st := r.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Events)/float64(st.Commits), "events/commit")
	}
}
