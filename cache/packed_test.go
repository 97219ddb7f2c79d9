package cache

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
)

// enterpriseRecord is an AMR registry record as the REST adapter maps it: the largest
// entry the demo caches per key.
func enterpriseRecord(code string) adapters.Record {
	return adapters.Record{
		"creditCode": code, "name": "上海浦江智联科技有限公司", "legalRepresentativeName": "张伟",
		"legalRepresentativeId": "310115198503120012", "registeredCapital": "5000000.00",
		"establishedOn": "2016-05-12", "status": "ACTIVE",
		"businessScope": "技术开发、技术咨询、技术服务；软件开发；信息系统集成服务。",
		"address":       "上海市浦东新区张江镇碧波路1200弄35号1203室",
	}
}

func TestPackRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 0, 123, time.UTC)
	for _, e := range []Entry{
		{Found: false, LoadedAt: at},
		{Found: true, LoadedAt: at, Records: []adapters.Record{{}}},
		{Found: true, LoadedAt: at, Records: []adapters.Record{
			enterpriseRecord("91310115MA1FL0AB0P"),
			{"empty": "", "nul": "a\x00b", "long": strings.Repeat("长", 300), "": "no name"},
		}},
	} {
		got := pack(e).entry()
		if !got.LoadedAt.Equal(e.LoadedAt) || got.Found != e.Found || !reflect.DeepEqual(got.Records, e.Records) {
			t.Errorf("pack then entry:\n got %+v\nwant %+v", got, e)
		}
	}
}

// The budget: at most 1.5 KiB per cached enterprise or person. Measured here as
// the heap the in-process layer holds per entry after a collection (the harness measures
// the same from the gateway's side, docs/PERFORMANCE.md).
func TestEntryCostsUnderOneAndAHalfKiB(t *testing.T) {
	const n = 20000
	c := New(Options{Department: "amr", TTL: time.Hour, MaxRecords: n})
	load := func(_ context.Context, keys []string) (map[string][]adapters.Record, error) {
		out := map[string][]adapters.Record{}
		for _, k := range keys {
			out[k] = []adapters.Record{enterpriseRecord(k)}
		}
		return out, nil
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := 0; i < n; i += 500 {
		keys := make([]string, 500)
		for j := range keys {
			keys[j] = fmt.Sprintf("91310115MA%08d", i+j)
		}
		if _, err := c.Fetch(t.Context(), "enterprise", keys, load); err != nil {
			t.Fatal(err)
		}
	}
	perEntry := float64(heap()-before) / n
	st := c.Stats()
	t.Logf("%.0f bytes of heap per cached enterprise; accounted %d", perEntry, st.Bytes/int64(st.Entries))
	if st.Entries != n {
		t.Fatalf("%d entries, want %d", st.Entries, n)
	}
	if perEntry > 1536 {
		t.Errorf("%.0f bytes per cached enterprise, want at most 1536", perEntry)
	}
	if acc := float64(st.Bytes) / n; acc < perEntry*0.6 || acc > perEntry*1.6 {
		t.Errorf("the byte bound accounts %.0f bytes per entry where the heap holds %.0f: the bound would not mean what it says", acc, perEntry)
	}
	runtime.KeepAlive(c)
}

func TestByteBound(t *testing.T) {
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("91310115MA%08d", i)
	}
	d := &dept{data: map[string][]adapters.Record{}}
	for _, k := range keys {
		d.data[k] = []adapters.Record{enterpriseRecord(k)}
	}
	one := pack(Entry{Found: true, Records: d.data[keys[0]]}).size(entryKey{"enterprise", keys[0]})
	c := New(Options{Department: "amr", TTL: time.Hour, MaxBytes: int64(50 * one)})
	for _, k := range keys {
		if _, err := c.Fetch(t.Context(), "enterprise", []string{k}, d.load); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	if st.Bytes > int64(50*one) || st.Entries != 50 || st.Evictions != 150 {
		t.Fatalf("after 200 entries of %d bytes under a bound of 50: %d entries, %d bytes, %d evictions", one, st.Entries, st.Bytes, st.Evictions)
	}
	// The most recent stay.
	res, _ := c.Fetch(t.Context(), "enterprise", keys[150:], d.load)
	if res.Hits != 50 {
		t.Errorf("%d of the 50 most recent keys were hits", res.Hits)
	}
	if _, err := c.Purge(t.Context(), keys[199:]); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Bytes != int64(49*one) {
		t.Errorf("after purging one: %d bytes, want %d", st.Bytes, 49*one)
	}
	if _, err := c.Purge(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Bytes != 0 || st.Entries != 0 {
		t.Errorf("after purging all: %d entries, %d bytes", st.Entries, st.Bytes)
	}
}

// A page is cached as a page: its records and its total, with no record standing in for
// the count, served stale with both when the department fails.
func TestFetchPage(t *testing.T) {
	clk := newClock()
	c := New(Options{Department: "amr", TTL: time.Minute, Now: clk.Now})
	calls := 0
	var fail error
	load := func(context.Context) (adapters.Page, error) {
		calls++
		if fail != nil {
			return adapters.Page{}, fail
		}
		return adapters.Page{Records: []adapters.Record{enterpriseRecord("a"), enterpriseRecord("b")}, Total: 42}, nil
	}
	for range 2 {
		p, _, err := c.FetchPage(t.Context(), "list", "", 10, 2, load)
		if err != nil || p.Total != 42 || len(p.Records) != 2 || p.Records[1]["creditCode"] != "b" {
			t.Fatalf("FetchPage = %+v, %v", p, err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d loads for one page asked twice", calls)
	}
	if p, _, _ := c.FetchPage(t.Context(), "list", "", 12, 2, load); calls != 2 || p.Total != 42 {
		t.Fatalf("another page is another entry: %d loads, %+v", calls, p)
	}
	clk.Advance(2 * time.Minute)
	fail = fmt.Errorf("amr down: %w", adapters.ErrUnavailable)
	p, res, err := c.FetchPage(t.Context(), "list", "", 10, 2, load)
	if err != nil || !res.Stale || p.Total != 42 || len(p.Records) != 2 {
		t.Fatalf("stale page = %+v, stale %v, %v", p, res.Stale, err)
	}
	if _, _, err := c.FetchPage(t.Context(), "list", "x", 0, 2, load); err == nil {
		t.Fatal("a page never loaded, with the department down: want an error")
	}
}

// A served record is one map allocated at its final size: unpacking costs no more
// allocations than filling a map made with the record's field count (an unsized map of
// more than eight fields is allocated twice over).
func TestUnpackSizesTheRecord(t *testing.T) {
	rec := enterpriseRecord("91310115MA1FL0AB0P")
	s := pack(Entry{Found: true, Records: []adapters.Record{rec}}).recs[0]
	var sink adapters.Record
	sized := testing.AllocsPerRun(100, func() {
		sink = make(adapters.Record, len(rec))
		for k, v := range rec {
			sink[k] = v
		}
	})
	got := testing.AllocsPerRun(100, func() { sink = unpackRecord(s) })
	if got > sized {
		t.Errorf("unpacking a %d-field record: %v allocations, a sized map takes %v", len(rec), got, sized)
	}
	if !reflect.DeepEqual(sink, rec) {
		t.Errorf("unpacked %v, want %v", sink, rec)
	}
}
