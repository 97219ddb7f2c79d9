package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/cache"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
)

// memSource is a department in memory that records every call it gets.
type memSource struct {
	mu    sync.Mutex
	data  map[string][]adapters.Record
	calls [][]string
	fail  error
	total int
}

func (m *memSource) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, slices.Clone(keys))
	if m.fail != nil {
		return nil, m.fail
	}
	out := map[string][]adapters.Record{}
	for _, k := range keys {
		if r, ok := m.data[k]; ok {
			out[k] = r
		}
	}
	return out, nil
}

func (m *memSource) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, []string{fmt.Sprintf("page %s %d %d", key, offset, limit)})
	if m.fail != nil {
		return adapters.Page{}, m.fail
	}
	var keys []string
	for k := range m.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := adapters.Page{Total: len(keys)}
	for _, k := range keys[min(offset, len(keys)):min(offset+limit, len(keys))] {
		p.Records = append(p.Records, m.data[k]...)
	}
	return p, nil
}

func (m *memSource) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

func newMem(n int) *memSource {
	m := &memSource{data: map[string][]adapters.Record{}}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%03d", i)
		m.data[k] = []adapters.Record{{"creditCode": k, "name": "n" + k}}
	}
	return m
}

func binding(id string, batch int) config.Department {
	return config.Department{ID: id, Timeout: time.Second, Concurrency: 4, Retries: -1,
		Operations: map[string]config.Operation{"enterprise": {Batch: batch}, "list": {}}}
}

func TestFetchSplitsIntoBatches(t *testing.T) {
	src := newMem(250)
	d := NewDepartment(binding("amr", 100), src, Options{})
	keys := make([]string, 0, 251)
	for i := 0; i < 250; i++ {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	keys = append(keys, "unknown")
	got, err := d.Fetch(context.Background(), "enterprise", keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250 {
		t.Errorf("%d records", len(got))
	}
	if n := src.callCount(); n != 3 {
		t.Errorf("251 keys with batch 100: %d calls, want 3", n)
	}
	for _, c := range src.calls {
		if len(c) > 100 {
			t.Errorf("a call carried %d keys", len(c))
		}
	}
}

func TestFailuresBecomeSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("%w: refused", adapters.ErrUnavailable), errcode.SourceUnavailable},
		{fmt.Errorf("%w: bad xml", adapters.ErrBadResponse), errcode.SourceError},
	} {
		src := newMem(1)
		src.fail = tc.err
		d := NewDepartment(binding("psb", 1), src, Options{})
		_, err := d.Fetch(context.Background(), "enterprise", []string{"k000"})
		var se *SourceError
		if !errors.As(err, &se) || se.Code != tc.code || se.Department != "psb" {
			t.Errorf("%v: got %v", tc.err, err)
		}
	}
}

func TestPagesAreCached(t *testing.T) {
	src := newMem(30)
	c := cache.New(cache.Options{Department: "amr", TTL: time.Minute})
	d := NewDepartment(binding("amr", 100), src, Options{Cache: c})
	for i := 0; i < 3; i++ {
		p, err := d.Page(context.Background(), "list", "", 10, 5)
		if err != nil || p.Total != 30 || len(p.Records) != 5 || p.Records[0]["creditCode"] != "k010" {
			t.Fatalf("page: %+v %v", p, err)
		}
	}
	if n := src.callCount(); n != 1 {
		t.Errorf("a cached page was asked %d times", n)
	}
	d.Purge(context.Background(), nil)
	d.Page(context.Background(), "list", "", 10, 5)
	if n := src.callCount(); n != 2 {
		t.Errorf("after a purge the page is asked again: %d calls", n)
	}
}

func newFederation(t testing.TB, src *memSource, wait time.Duration) *Federation {
	t.Helper()
	var depts []*Department
	for _, id := range []string{"psb", "amr", "credit", "hrss"} {
		b := config.Department{ID: id, Timeout: time.Second, Concurrency: 4, Retries: -1, Operations: map[string]config.Operation{}}
		for _, r := range config.DefaultSources.Each() {
			if r.Department == id {
				b.Operations[r.Operation] = config.Operation{Batch: 100}
			}
		}
		depts = append(depts, NewDepartment(b, src, Options{}))
	}
	f, err := New(depts, config.DefaultSources, wait)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Concurrent loads within one request become one call; a key is asked once.
func TestLoadersBatchAndMemoise(t *testing.T) {
	src := newMem(50)
	f := newFederation(t, src, 50*time.Millisecond) // a window wide enough for a loaded machine
	l := f.NewLoaders()
	ctx := WithLoaders(context.Background(), l)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec, err := l.Enterprise(ctx, fmt.Sprintf("k%03d", i))
			if err != nil || rec["name"] != fmt.Sprintf("nk%03d", i) {
				t.Errorf("k%03d: %v %v", i, rec, err)
			}
		}(i)
	}
	wg.Wait()
	if n := src.callCount(); n > 2 {
		t.Errorf("50 concurrent loads made %d calls", n)
	}
	before := src.callCount()
	l.Enterprise(ctx, "k007")
	if src.callCount() != before {
		t.Error("a key loaded once in a request is not asked again")
	}
	if rec, err := l.Enterprise(ctx, "missing"); rec != nil || err != nil {
		t.Errorf("a missing key is nil without error: %v %v", rec, err)
	}
}

// An enterprise read from a list is not asked for again in the same request, whether its
// loader existed when it was primed or not; and a record the loader already holds stands.
func TestPrimeEnterprise(t *testing.T) {
	src := newMem(3)
	f := newFederation(t, src, time.Millisecond)
	l := f.NewLoaders()
	ctx := WithLoaders(context.Background(), l)
	if l.enterprise.made() != nil {
		t.Fatal("new loaders made an enterprise loader before it was needed")
	}
	l.PrimeEnterprise(adapters.Record{"creditCode": "k000", "name": "from the list"})
	if l.enterprise.made() != nil {
		t.Error("priming made the enterprise loader")
	}
	if rec, err := l.Enterprise(ctx, "k000"); err != nil || rec["name"] != "from the list" {
		t.Errorf("primed before the loader: %v %v", rec, err)
	}
	if rec, err := l.Enterprise(ctx, "k001"); err != nil || rec["name"] != "nk001" {
		t.Errorf("k001: %v %v", rec, err)
	}
	l.PrimeEnterprise(adapters.Record{"creditCode": "k001", "name": "later"})
	l.PrimeEnterprise(adapters.Record{"creditCode": "k002", "name": "from the list"})
	if rec, _ := l.Enterprise(ctx, "k001"); rec["name"] != "nk001" {
		t.Errorf("the loaded record did not stand: %v", rec)
	}
	if rec, _ := l.Enterprise(ctx, "k002"); rec["name"] != "from the list" {
		t.Errorf("primed after the loader: %v", rec)
	}
	if n := src.callCount(); n != 1 {
		t.Errorf("%d calls, want 1 (k001 only)", n)
	}
}

// The lookahead prefetch registers every key of a list in the current batch, so the
// elements, resolved later and scattered, share its one call. The window is wide enough
// for a slow run (-race) to register all 80 keys before it closes.
func TestPrefetchMakesOneCall(t *testing.T) {
	src := newMem(80)
	f := newFederation(t, src, 20*time.Millisecond)
	l := f.NewLoaders()
	ctx := WithLoaders(context.Background(), l)
	var keys []string
	for i := 0; i < 80; i++ {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	l.PrefetchCredit(ctx, keys)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func(k string) {
			defer wg.Done()
			time.Sleep(time.Duration(len(k)%3) * time.Millisecond) // scattered, as resolvers are
			l.CreditRecords(ctx, k)
		}(k)
	}
	wg.Wait()
	if n := src.callCount(); n != 1 {
		t.Errorf("prefetched keys made %d calls, want 1", n)
	}
}

func TestFreshnessReport(t *testing.T) {
	src := newMem(3)
	c := cache.New(cache.Options{Department: "amr", TTL: time.Minute})
	d := NewDepartment(binding("amr", 100), src, Options{Cache: c})
	f, _ := New([]*Department{d}, config.Sources{}, 0)
	l := &Loaders{f: f}
	ctx := WithLoaders(context.Background(), l)
	d.Fetch(ctx, "enterprise", []string{"k000", "k001"})
	d.Fetch(ctx, "enterprise", []string{"k000", "k002"})
	got := l.fresh.m["amr"]
	if got == nil || got.CacheHits != 1 || got.Fetched != 3 || got.Stale {
		t.Errorf("freshness: %+v", got)
	}
}

// snapSource is a department that serves a copy of its data taken at a set time.
type snapSource struct {
	*memSource
	at time.Time
}

func (s snapSource) SnapshotTime() time.Time { return s.at }

// A copy older than the owner's cycle is reported stale with its own age, whether the
// record came from the department or the cache: the previous export that keeps serving
// after a rejected one must not pass for current (issue 12, item 5).
func TestSnapshotOlderThanCycleIsStale(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration
		stale bool
	}{{"within the cycle", 3 * time.Hour, false}, {"past the cycle", 30 * time.Hour, true}} {
		t.Run(tc.name, func(t *testing.T) {
			src := snapSource{newMem(3), time.Now().Add(-tc.age)}
			c := cache.New(cache.Options{Department: "hrss", TTL: time.Minute})
			d := NewDepartment(binding("hrss", 100), src, Options{Cache: c, Cycle: 24 * time.Hour})
			f, _ := New([]*Department{d}, config.Sources{}, 0)
			for _, pass := range []string{"from the department", "from the cache"} {
				l := &Loaders{f: f}
				ctx := WithLoaders(context.Background(), l)
				if _, err := d.Fetch(ctx, "enterprise", []string{"k000"}); err != nil {
					t.Fatal(err)
				}
				got := l.fresh.m["hrss"]
				if got == nil || got.Stale != tc.stale || got.MaxAgeSeconds < tc.age.Seconds()-1 {
					t.Errorf("%s: freshness %+v, want stale=%v and age about %v", pass, got, tc.stale, tc.age)
				}
			}
		})
	}
}

// BenchmarkLoadersBatch measures batching 50 concurrent loads into one call.
func BenchmarkLoadersBatch(b *testing.B) {
	src := newMem(50)
	f := newFederation(b, src, 0)
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l := f.NewLoaders()
		ctx := WithLoaders(context.Background(), l)
		l.PrefetchCredit(ctx, keys)
		var wg sync.WaitGroup
		for _, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.CreditRecords(ctx, k)
			}()
		}
		wg.Wait()
	}
}
