package cache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
)

// dept is a fake department: a real Loader over a fixed data set that records every
// call, can be made to fail, and can hold calls until the test lets them go.
type dept struct {
	mu    sync.Mutex
	data  map[string][]adapters.Record
	calls [][]string
	err   error
	// hold, when set, is called with the keys of each load and blocks while it wants.
	hold func(ctx context.Context, keys []string)
}

func newDept(keys ...string) *dept {
	d := &dept{data: map[string][]adapters.Record{}}
	for _, k := range keys {
		d.data[k] = []adapters.Record{{"idNumber": k, "name": "name of " + k}}
	}
	return d
}

func (d *dept) load(ctx context.Context, keys []string) (map[string][]adapters.Record, error) {
	d.mu.Lock()
	d.calls = append(d.calls, slices.Clone(keys))
	hold, err := d.hold, d.err
	d.mu.Unlock()
	if hold != nil {
		hold(ctx, keys)
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]adapters.Record{}
	for _, k := range keys {
		if rs, ok := d.data[k]; ok {
			out[k] = rs
		}
	}
	return out, nil
}

func (d *dept) loads() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func (d *dept) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// clock is a settable clock for ageing entries without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func fetch(t *testing.T, c *Cache, op string, d *dept, keys ...string) Result {
	t.Helper()
	res, err := c.Fetch(context.Background(), op, keys, d.load)
	if err != nil {
		t.Fatalf("Fetch(%v): %v", keys, err)
	}
	return res
}

func TestHitAfterMiss(t *testing.T) {
	clk := newClock()
	d := newDept("a")
	c := New(Options{Department: "psb", TTL: time.Hour, Now: clk.Now})

	first := fetch(t, c, "person", d, "a")
	if first.Hits != 0 || first.Misses != 1 || first.MaxAge != 0 {
		t.Errorf("first fetch: hits %d misses %d maxAge %v, want 0 1 0", first.Hits, first.Misses, first.MaxAge)
	}
	clk.Advance(time.Minute)
	second := fetch(t, c, "person", d, "a")
	if second.Hits != 1 || second.Misses != 0 {
		t.Errorf("second fetch: hits %d misses %d, want 1 0", second.Hits, second.Misses)
	}
	if second.MaxAge != time.Minute {
		t.Errorf("MaxAge = %v, want the record's age 1m", second.MaxAge)
	}
	if got := second.Records["a"]; len(got) != 1 || got[0]["name"] != "name of a" {
		t.Errorf("records = %v", got)
	}
	if n := len(d.loads()); n != 1 {
		t.Errorf("department asked %d times, want 1", n)
	}
	// Another operation on the same key is another question to the department.
	fetch(t, c, "byEmployer", d, "a")
	if n := len(d.loads()); n != 2 {
		t.Errorf("department asked %d times after a second operation, want 2", n)
	}
	s := c.Stats()
	if s.Hits != 1 || s.Misses != 2 || s.Loads != 2 || s.Entries != 2 {
		t.Errorf("stats = %+v", s)
	}
}

func TestEntriesExpireAfterTTL(t *testing.T) {
	clk := newClock()
	d := newDept("a")
	c := New(Options{Department: "amr", TTL: 10 * time.Minute, Now: clk.Now})

	fetch(t, c, "enterprise", d, "a")
	clk.Advance(10*time.Minute - time.Nanosecond)
	if res := fetch(t, c, "enterprise", d, "a"); res.Hits != 1 {
		t.Fatalf("just before TTL: hits = %d, want 1", res.Hits)
	}
	clk.Advance(time.Nanosecond)
	res := fetch(t, c, "enterprise", d, "a")
	if res.Hits != 0 || res.Stale || res.Records["a"] == nil {
		t.Fatalf("at TTL: %+v, want a fresh load", res)
	}
	if n := len(d.loads()); n != 2 {
		t.Fatalf("department asked %d times, want 2 (once more at TTL)", n)
	}
}

func TestNotFoundIsCachedForNotFoundTTLOnly(t *testing.T) {
	for _, tc := range []struct {
		name             string
		ttl, notFoundTTL time.Duration
		believed         time.Duration
	}{
		{"default 30s", time.Hour, 0, 30 * time.Second},
		{"configured", time.Hour, 5 * time.Second, 5 * time.Second},
		{"never longer than TTL", 10 * time.Second, time.Minute, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			d := newDept()
			c := New(Options{Department: "psb", TTL: tc.ttl, NotFoundTTL: tc.notFoundTTL, Now: clk.Now})

			res := fetch(t, c, "person", d, "310115199912310073")
			if _, ok := res.Records["310115199912310073"]; ok {
				t.Fatalf("unknown key has records: %v", res.Records)
			}
			clk.Advance(tc.believed - time.Nanosecond)
			if res := fetch(t, c, "person", d, "310115199912310073"); res.Hits != 1 || len(res.Records) != 0 {
				t.Fatalf("within NotFoundTTL: %+v, want a cached not-found", res)
			}
			clk.Advance(time.Nanosecond)
			fetch(t, c, "person", d, "310115199912310073")
			if n := len(d.loads()); n != 2 {
				t.Fatalf("department asked %d times, want 2 (again once not-found expired)", n)
			}
		})
	}
}

func TestBatchAsksOnlyForMissingKeys(t *testing.T) {
	d := newDept("a", "b", "c")
	c := New(Options{Department: "amr", TTL: time.Hour})

	fetch(t, c, "enterprise", d, "a")
	res := fetch(t, c, "enterprise", d, "a", "b", "c", "b", "x")
	loads := d.loads()
	if len(loads) != 2 || !slices.Equal(loads[1], []string{"b", "c", "x"}) {
		t.Fatalf("loads = %v, want [[a] [b c x]]", loads)
	}
	if res.Hits != 1 || res.Misses != 3 {
		t.Errorf("hits %d misses %d, want 1 3 (distinct keys)", res.Hits, res.Misses)
	}
	if len(res.Records) != 3 || res.Records["x"] != nil {
		t.Errorf("records = %v, want a, b, c and no x", res.Records)
	}
}

func TestConcurrentMissesOfOneKeyMakeOneLoad(t *testing.T) {
	const callers = 100
	d := newDept("310115198503120012")
	release := make(chan struct{})
	c := New(Options{Department: "psb", TTL: time.Hour})
	d.hold = func(ctx context.Context, _ []string) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}

	var wg sync.WaitGroup
	results := make([]Result, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Fetch(context.Background(), "person", []string{"310115198503120012"}, d.load)
		}()
	}
	// Hold the one load until every other caller is waiting on it, so the test proves
	// they were coalesced rather than that they happened to arrive after it ended.
	waitFor(t, "99 callers to wait on the load", func() bool { return c.Stats().CoalescedWaits == callers-1 })
	close(release)
	wg.Wait()

	if n := len(d.loads()); n != 1 {
		t.Fatalf("department asked %d times, want 1", n)
	}
	for i := range callers {
		if errs[i] != nil || len(results[i].Records["310115198503120012"]) != 1 {
			t.Fatalf("caller %d: %+v, %v", i, results[i], errs[i])
		}
	}
}

func TestOverlappingBatchesShareInFlightKeys(t *testing.T) {
	d := newDept("a", "b", "c")
	started, release := make(chan struct{}), make(chan struct{})
	d.hold = func(_ context.Context, keys []string) {
		if slices.Contains(keys, "a") {
			close(started)
			<-release
		}
	}
	c := New(Options{Department: "amr", TTL: time.Hour})

	first := make(chan Result)
	go func() {
		res, _ := c.Fetch(context.Background(), "enterprise", []string{"a", "b"}, d.load)
		first <- res
	}()
	<-started
	second := make(chan Result)
	go func() {
		res, _ := c.Fetch(context.Background(), "enterprise", []string{"b", "c"}, d.load)
		second <- res
	}()
	// The second batch loads c itself and must wait for b, which the first is loading.
	waitFor(t, "the second batch to wait for b", func() bool { return c.Stats().CoalescedWaits == 1 })
	select {
	case res := <-second:
		t.Fatalf("second batch returned %v before b was loaded", res.Records)
	default:
	}
	close(release)
	r1, r2 := <-first, <-second
	if len(r1.Records) != 2 || len(r2.Records) != 2 {
		t.Fatalf("first %v, second %v", r1.Records, r2.Records)
	}
	loads := d.loads()
	slices.SortFunc(loads, slices.Compare)
	if want := [][]string{{"a", "b"}, {"c"}}; !slices.EqualFunc(loads, want, slices.Equal) {
		t.Fatalf("loads = %v, want %v", loads, want)
	}
}

func TestCanceledCallerDoesNotCancelTheSharedLoad(t *testing.T) {
	d := newDept("a")
	started, release := make(chan struct{}), make(chan struct{})
	loadErr := make(chan error, 1)
	d.hold = func(ctx context.Context, _ []string) {
		close(started)
		<-release
		loadErr <- ctx.Err()
	}
	c := New(Options{Department: "psb", TTL: time.Hour})

	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error)
	go func() {
		_, err := c.Fetch(ctx, "person", []string{"a"}, d.load)
		leader <- err
	}()
	<-started
	follower := make(chan Result)
	go func() {
		res, _ := c.Fetch(context.Background(), "person", []string{"a"}, d.load)
		follower <- res
	}()
	waitFor(t, "the follower to wait", func() bool { return c.Stats().CoalescedWaits == 1 })
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-loadErr; err != nil {
		t.Fatalf("the load saw its context end (%v) when its starter went away", err)
	}
	if res := <-follower; len(res.Records["a"]) != 1 {
		t.Fatalf("follower got %v", res.Records)
	}
}

func TestStaleIfError(t *testing.T) {
	clk := newClock()
	d := newDept("a", "b")
	c := New(Options{Department: "credit", TTL: time.Minute, StaleFor: time.Hour, Now: clk.Now})
	fetch(t, c, "bySubject", d, "a", "gone")

	boom := fmt.Errorf("%w: connection refused", adapters.ErrUnavailable)
	d.fail(boom)
	clk.Advance(time.Minute + time.Hour - time.Nanosecond)

	res, err := c.Fetch(context.Background(), "bySubject", []string{"a"}, d.load)
	if err != nil {
		t.Fatalf("within StaleFor: %v, want the stale record", err)
	}
	if !res.Stale || len(res.Records["a"]) != 1 || res.MaxAge != time.Minute+time.Hour-time.Nanosecond {
		t.Fatalf("within StaleFor: %+v, want a stale record and its age", res)
	}

	// A key with nothing to serve fails while the others are still served, and a
	// cached "not found" is not repeated during an outage.
	res, err = c.Fetch(context.Background(), "bySubject", []string{"a", "b", "gone"}, d.load)
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("keys without a stale entry: err = %v, want one wrapping the load error", err)
	}
	if !res.Stale || len(res.Records) != 1 || res.Records["a"] == nil {
		t.Fatalf("partial result = %+v, want a alone, stale", res)
	}

	clk.Advance(time.Nanosecond)
	res, err = c.Fetch(context.Background(), "bySubject", []string{"a"}, d.load)
	if !errors.Is(err, adapters.ErrUnavailable) || len(res.Records) != 0 || res.Stale {
		t.Fatalf("past StaleFor: %+v, %v, want no records and the error", res, err)
	}
	if s := c.Stats(); s.StaleServes != 2 || s.LoadErrors != 3 {
		t.Errorf("stats = %+v, want 2 stale serves and 3 load errors", s)
	}

	// Once the department is back, the record is fresh again.
	d.fail(nil)
	if res := fetch(t, c, "bySubject", d, "a"); res.Stale || res.MaxAge != 0 {
		t.Fatalf("after recovery: %+v", res)
	}
}

func TestLRUBoundHoldsAndCountsEvictions(t *testing.T) {
	d := newDept("a", "b", "c", "d", "e")
	c := New(Options{Department: "amr", TTL: time.Hour, MaxRecords: 3})

	fetch(t, c, "enterprise", d, "a", "b", "c")
	fetch(t, c, "enterprise", d, "a") // a is now the most recently used
	fetch(t, c, "enterprise", d, "d", "e")
	s := c.Stats()
	if s.Entries != 3 || s.Evictions != 2 {
		t.Fatalf("entries %d evictions %d, want 3 and 2", s.Entries, s.Evictions)
	}
	if res := fetch(t, c, "enterprise", d, "a", "d", "e"); res.Hits != 3 {
		t.Errorf("recently used keys: hits = %d, want 3", res.Hits)
	}
	before := len(d.loads())
	if res := fetch(t, c, "enterprise", d, "b"); res.Hits != 0 || len(d.loads()) != before+1 {
		t.Errorf("least recently used key b was kept: %+v", res)
	}
}

func TestPurge(t *testing.T) {
	d := newDept("a", "b", "c")
	c := New(Options{Department: "amr", TTL: time.Hour})
	fetch(t, c, "enterprise", d, "a", "b", "c")
	fetch(t, c, "byLegalRep", d, "a")

	n, err := c.Purge(context.Background(), []string{"a", "unknown"})
	if err != nil || n != 2 {
		t.Fatalf("Purge(a) = %d, %v; want both operations' entries for a dropped", n, err)
	}
	if res := fetch(t, c, "enterprise", d, "a", "b"); res.Hits != 1 {
		t.Errorf("after purging a: hits = %d, want b alone", res.Hits)
	}
	n, err = c.Purge(context.Background(), nil)
	if err != nil || n != 3 {
		t.Fatalf("Purge(all) = %d, %v; want 3", n, err)
	}
	if c.Stats().Entries != 0 {
		t.Fatalf("entries left after purging all: %d", c.Stats().Entries)
	}
	if res := fetch(t, c, "enterprise", d, "c"); res.Hits != 0 {
		t.Errorf("after purging all: c was still cached")
	}
}

func TestPurgeDuringLoadDiscardsItsResult(t *testing.T) {
	d := newDept("a")
	started, release := make(chan struct{}), make(chan struct{})
	d.hold = func(context.Context, []string) {
		close(started)
		<-release
	}
	c := New(Options{Department: "amr", TTL: time.Hour})
	done := make(chan Result)
	go func() {
		res, _ := c.Fetch(context.Background(), "enterprise", []string{"a"}, d.load)
		done <- res
	}()
	<-started
	if _, err := c.Purge(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if res := <-done; len(res.Records["a"]) != 1 {
		t.Fatalf("the caller that asked before the purge got %v", res.Records)
	}
	d.hold = nil
	if res := fetch(t, c, "enterprise", d, "a"); res.Hits != 0 {
		t.Fatalf("a record loaded before the purge was kept")
	}
}

func TestCallersGetTheirOwnCopies(t *testing.T) {
	d := newDept("310115198503120012")
	c := New(Options{Department: "psb", TTL: time.Hour})
	res := fetch(t, c, "person", d, "310115198503120012")
	res.Records["310115198503120012"][0]["name"] = "张*" // what a mask would do

	again := fetch(t, c, "person", d, "310115198503120012")
	if got := again.Records["310115198503120012"][0]["name"]; got != "name of 310115198503120012" {
		t.Fatalf("one caller's masking changed the cached record: name = %q", got)
	}
}

func TestLoaderPanicIsAnError(t *testing.T) {
	c := New(Options{Department: "psb", TTL: time.Hour})
	_, err := c.Fetch(context.Background(), "person", []string{"a"}, func(context.Context, []string) (map[string][]adapters.Record, error) {
		panic("adapter bug")
	})
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("err = %v, want an unavailable error", err)
	}
}

// memShared is an in-process Shared: the layer other replicas would see, without Redis.
type memShared struct {
	mu      sync.Mutex
	entries map[string]Entry
	err     error
	subs    []func(string, []string)
}

func (m *memShared) Get(_ context.Context, dept, op string, keys []string) (map[string]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	out := map[string]Entry{}
	for _, k := range keys {
		if e, ok := m.entries[dept+"/"+op+"/"+k]; ok {
			out[k] = e
		}
	}
	return out, nil
}

func (m *memShared) Set(_ context.Context, dept, op string, entries map[string]Entry, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	for k, e := range entries {
		m.entries[dept+"/"+op+"/"+k] = e
	}
	return nil
}

func (m *memShared) Purge(_ context.Context, dept string, keys []string) ([][2]string, error) {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return nil, m.err
	}
	subs := slices.Clone(m.subs)
	var dropped [][2]string
	maps.DeleteFunc(m.entries, func(k string, _ Entry) bool {
		parts := strings.SplitN(k, "/", 3) // dept, op, key
		drop := parts[0] == dept && (len(keys) == 0 || slices.Contains(keys, parts[2]))
		if drop {
			dropped = append(dropped, [2]string{parts[1], parts[2]})
		}
		return drop
	})
	m.mu.Unlock()
	for _, fn := range subs {
		fn(dept, keys)
	}
	return dropped, nil
}

func (m *memShared) Subscribe(_ context.Context, fn func(string, []string)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs = append(m.subs, fn)
	return nil
}

func TestSharedLayer(t *testing.T) {
	clk := newClock()
	shared := &memShared{entries: map[string]Entry{}}
	d1, d2 := newDept("a", "b"), newDept("a", "b")
	r1 := New(Options{Department: "psb", TTL: time.Hour, Shared: shared, Now: clk.Now})
	r2 := New(Options{Department: "psb", TTL: time.Hour, Shared: shared, Now: clk.Now})
	for _, r := range []*Cache{r1, r2} {
		if err := r.Listen(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	fetch(t, r1, "person", d1, "a")
	clk.Advance(time.Minute)
	res := fetch(t, r2, "person", d2, "a")
	if len(d2.loads()) != 0 || res.Hits != 1 || res.MaxAge != time.Minute {
		t.Fatalf("second replica: %+v, loads %v; want a shared hit aged 1m", res, d2.loads())
	}
	if s := r2.Stats(); s.SharedHits != 1 || s.Entries != 1 {
		t.Fatalf("second replica stats = %+v", s)
	}

	if _, err := r1.Purge(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if s := r2.Stats(); s.Entries != 0 || s.RemotePurges != 1 {
		t.Fatalf("after a purge through the first replica, the second holds %+v", s)
	}

	// A failing shared layer costs neither replica its answers, and is bypassed for a
	// while instead of being asked on every miss.
	shared.mu.Lock()
	shared.err = errors.New("connection refused")
	shared.mu.Unlock()
	if res := fetch(t, r2, "person", d2, "a"); len(res.Records["a"]) != 1 {
		t.Fatalf("with the shared layer down: %+v", res)
	}
	fetch(t, r2, "person", d2, "b")
	if s := r2.Stats(); s.SharedErrors != 1 {
		t.Fatalf("shared errors = %d, want 1 (bypassed after the first)", s.SharedErrors)
	}
}

func TestStaleFromSharedLayerWhenNothingLocal(t *testing.T) {
	clk := newClock()
	shared := &memShared{entries: map[string]Entry{}}
	d := newDept("a")
	r1 := New(Options{Department: "psb", TTL: time.Minute, Shared: shared, Now: clk.Now})
	r2 := New(Options{Department: "psb", TTL: time.Minute, Shared: shared, Now: clk.Now})
	fetch(t, r1, "person", d, "a")
	clk.Advance(2 * time.Minute)
	d.fail(adapters.ErrUnavailable)
	res, err := r2.Fetch(context.Background(), "person", []string{"a"}, d.load)
	if err != nil || !res.Stale || res.MaxAge != 2*time.Minute {
		t.Fatalf("got %+v, %v; want the other replica's record, stale", res, err)
	}
}

func TestPeekServesOnlyFreshEntries(t *testing.T) {
	clk := newClock()
	c := New(Options{Department: "psb", TTL: time.Minute, Now: clk.Now})
	d := newDept("a")
	if _, _, _, ok := c.Peek("person", "a"); ok {
		t.Fatal("peek on an empty cache")
	}
	fetch(t, c, "person", d, "a", "missing")
	recs, found, _, ok := c.Peek("person", "a")
	if !ok || !found || len(recs) != 1 {
		t.Fatalf("peek after load: %v %v %v", recs, found, ok)
	}
	recs[0]["x"] = "changed"
	if again, _, _, _ := c.Peek("person", "a"); again[0]["x"] == "changed" {
		t.Error("peek must return a copy")
	}
	if _, found, _, ok := c.Peek("person", "missing"); !ok || found {
		t.Errorf("a cached not-found: found %v ok %v", found, ok)
	}
	clk.Advance(2 * time.Minute)
	if _, _, _, ok := c.Peek("person", "a"); ok {
		t.Error("peek must not serve an expired entry")
	}
	if n := len(d.loads()); n != 1 {
		t.Errorf("peek must never load: %d loads", n)
	}
}
