package csvdrop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/internal/syncbuf"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/hrss"
)

var day1 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return day1.AddDate(0, 0, n-1) }

func smallDataset() *dataset.Dataset {
	return dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 300, Enterprises: 30})
}

// logBuffer collects logs that the poller may write while the test reads them.
type logBuffer = syncbuf.Buffer

func writeExport(t testing.TB, dir string, ds *dataset.Dataset, d time.Time) {
	t.Helper()
	path, err := hrss.WriteExport(dir, ds, d)
	if err != nil {
		t.Fatal(err)
	}
	settled(t, path, path+hrss.MarkerSuffix)
}

// settled dates files a minute back, as if written well before the scan: only the tests
// of settling wait for it.
func settled(t testing.TB, paths ...string) {
	t.Helper()
	at := time.Now().Add(-time.Minute)
	for _, p := range paths {
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// writeRaw drops an export with the given content and its marker.
func writeRaw(t *testing.T, dir string, d time.Time, content string) {
	t.Helper()
	path := filepath.Join(dir, hrss.FileName(d))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+hrss.MarkerSuffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	settled(t, path, path+hrss.MarkerSuffix)
}

func open(t *testing.T, d config.Department) (*Source, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := Open(t.Context(), d, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func fetch(t *testing.T, s *Source, op string, keys ...string) map[string][]adapters.Record {
	t.Helper()
	res, err := s.Fetch(t.Context(), op, keys)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func assertServing(t *testing.T, s *Source, d time.Time) {
	t.Helper()
	if file, _, _ := s.Current(); file != hrss.FileName(d) {
		t.Fatalf("serving %q, want %q", file, hrss.FileName(d))
	}
	if got := fetch(t, s, "byCitizen", dataset.ZhangWei); len(got[dataset.ZhangWei]) != 2 {
		t.Fatalf("张伟 has %d records, want 2", len(got[dataset.ZhangWei]))
	}
}

func TestFixtures(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	s, _ := open(t, hrss.Binding(dir))

	rec := func(id, name, employer, typ, since string) adapters.Record {
		r := adapters.Record{"idNumber": id, "name": name, "insuranceType": typ, "status": "ACTIVE",
			"since": since, "lastPaidMonth": "2026-10"}
		if employer != "" {
			r["employer"] = employer
		}
		return r
	}
	got := fetch(t, s, "byCitizen", dataset.ZhangWei, dataset.LiuYang, dataset.ChenJing, dataset.Unregistered)
	for _, tc := range []struct {
		key  string
		want []adapters.Record
	}{
		{dataset.ZhangWei, []adapters.Record{
			rec(dataset.ZhangWei, "张伟", dataset.E1, "PENSION", "2016-05"),
			rec(dataset.ZhangWei, "张伟", dataset.E1, "MEDICAL", "2016-05"),
		}},
		{dataset.LiuYang, []adapters.Record{rec(dataset.LiuYang, "刘洋", "", "PENSION", "2010-01")}},
		{dataset.ChenJing, []adapters.Record{
			rec(dataset.ChenJing, "陈静", dataset.E1, "PENSION", "2023-09"),
			rec(dataset.ChenJing, "陈静", dataset.E1, "MEDICAL", "2023-09"),
			rec(dataset.ChenJing, "陈静", dataset.E1, "UNEMPLOYMENT", "2023-09"),
		}},
	} {
		if !reflect.DeepEqual(got[tc.key], tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.key, got[tc.key], tc.want)
		}
	}
	if _, ok := got[dataset.Unregistered]; ok || len(got) != 3 {
		t.Errorf("unknown key present, or extra keys: %v", got)
	}

	byEmp := fetch(t, s, "byEmployer", dataset.E1, dataset.E5, "")
	var ids []string
	for _, r := range byEmp[dataset.E1] {
		ids = append(ids, r["idNumber"])
	}
	if want := []string{dataset.ZhangWei, dataset.ZhangWei, dataset.ChenJing, dataset.ChenJing, dataset.ChenJing}; !slices.Equal(ids, want) {
		t.Errorf("E1 insures %v, want %v", ids, want)
	}
	if len(byEmp) != 1 {
		t.Errorf("E5 (no insured staff) or the empty employer of self-paid rows present: %v", byEmp)
	}

	p, err := s.Page(t.Context(), "byEmployer", dataset.E1, 3, 10)
	if err != nil || p.Total != 5 || len(p.Records) != 2 || p.Records[0]["insuranceType"] != "MEDICAL" {
		t.Errorf("Page(E1, 3, 10) = %+v, %v; want the last 2 of 5", p, err)
	}

	file, at, rows := s.Current()
	if file != "shebao_20261126.csv" || at.IsZero() || rows != len(ds.Insurance) {
		t.Errorf("Current() = %q, %v, %d; want shebao_20261126.csv with %d rows", file, at, rows, len(ds.Insurance))
	}

	// A caller that changes a record it got must not change what others get.
	got[dataset.ZhangWei][0]["name"] = "changed"
	if again := fetch(t, s, "byCitizen", dataset.ZhangWei); again[dataset.ZhangWei][0]["name"] != "张伟" {
		t.Error("a caller's change to a fetched record leaked into the index")
	}
}

func TestFetchErrors(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, smallDataset(), day1)
	s, _ := open(t, hrss.Binding(dir))

	if _, err := s.Fetch(t.Context(), "byName", []string{"张伟"}); !errors.Is(err, adapters.ErrUnavailable) ||
		!strings.Contains(err.Error(), "hrss byName") {
		t.Errorf("unknown operation: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Fetch(ctx, "byCitizen", []string{dataset.ZhangWei}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestNoExportIsUnavailable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet-mounted")
	s, logs := open(t, hrss.Binding(dir))
	_, err := s.Fetch(t.Context(), "byCitizen", []string{dataset.ZhangWei})
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "hrss byCitizen") {
		t.Fatalf("Fetch = %v, want ErrUnavailable naming department and operation", err)
	}
	if file, at, rows := s.Current(); file != "" || !at.IsZero() || rows != 0 {
		t.Errorf("Current() = %q, %v, %d before any export", file, at, rows)
	}
	if err := s.Rescan(t.Context()); err == nil {
		t.Error("Rescan of a missing directory: want an error")
	}
	if !strings.Contains(logs.String(), "no complete export") {
		t.Errorf("nothing logged about the missing export:\n%s", logs)
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(t.Context(), "byCitizen", []string{dataset.ZhangWei}); !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("empty directory: Fetch = %v, want ErrUnavailable", err)
	}
	writeExport(t, dir, smallDataset(), day1)
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertServing(t, s, day1)
}

func TestIncompleteExportIsIgnored(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	s, _ := open(t, hrss.Binding(dir))

	writeExport(t, dir, ds, day(2))
	marker := filepath.Join(dir, hrss.FileName(day(2))+hrss.MarkerSuffix)
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertServing(t, s, day1)

	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	settled(t, marker)
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertServing(t, s, day(2))
}

func TestHotSwap(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	s, _ := open(t, hrss.Binding(dir))

	status := func() string { return fetch(t, s, "byCitizen", dataset.ZhangWei)[dataset.ZhangWei][1]["status"] }
	if got := status(); got != "ACTIVE" {
		t.Fatalf("before: status %q", got)
	}
	for i, r := range ds.Insurance {
		if r.IDNumber == dataset.ZhangWei && r.Type == dataset.InsMedical {
			ds.Insurance[i].Status = dataset.InsStatusSuspended
		}
	}
	writeExport(t, dir, ds, day(2))
	if got := status(); got != "ACTIVE" {
		t.Fatalf("the new export was served before a scan: status %q", got)
	}
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "SUSPENDED" {
		t.Fatalf("after the swap: status %q, want SUSPENDED", got)
	}

	// An older export that turns up later does not replace a newer one.
	writeExport(t, dir, smallDataset(), day1)
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertServing(t, s, day(2))

	// The day's export rewritten under the same name is a new export.
	ds.Insurance = ds.Insurance[:len(ds.Insurance)-20]
	writeExport(t, dir, ds, day(2))
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, rows := s.Current(); rows != len(ds.Insurance) {
		t.Fatalf("rewritten export: %d rows served, want %d", rows, len(ds.Insurance))
	}
}

// TestSwapUnderLoad swaps exports while readers fetch: every call must succeed and see
// one export whole (all its records from the same version), and no reader may go back to
// an older version once it saw a newer one.
func TestSwapUnderLoad(t *testing.T) {
	dir := t.TempDir()
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 100, Enterprises: 10})
	version := func(v int) {
		for i := range ds.Insurance {
			ds.Insurance[i].LastPaidMonth = fmt.Sprintf("2026%02d", v)
		}
		writeExport(t, dir, ds, day(v))
	}
	version(1)
	s, _ := open(t, hrss.Binding(dir))

	keys := []string{dataset.ZhangWei, dataset.LiNa, dataset.WangQiang, dataset.ChenJing, dataset.LiuYang}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			last, calls := "", 0
			for {
				select {
				case <-stop:
					if calls == 0 {
						t.Error("a reader made no call")
					}
					return
				default:
				}
				calls++
				res, err := s.Fetch(context.Background(), "byCitizen", keys)
				if err != nil {
					t.Errorf("Fetch during swap: %v", err)
					return
				}
				month := res[dataset.ZhangWei][0]["lastPaidMonth"]
				for _, k := range keys {
					if len(res[k]) == 0 {
						t.Errorf("%s missing during swap", k)
						return
					}
					for _, r := range res[k] {
						if r["lastPaidMonth"] != month {
							t.Errorf("one call mixed exports: %s and %s", month, r["lastPaidMonth"])
							return
						}
					}
				}
				if month < last {
					t.Errorf("went back from %s to %s", last, month)
					return
				}
				last = month
			}
		})
	}
	for v := 2; v <= 8; v++ {
		version(v)
		if err := s.Rescan(t.Context()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if file, _, _ := s.Current(); file != hrss.FileName(day(8)) {
		t.Fatalf("serving %s after the last swap", file)
	}
}

func TestMalformedExportIsRejected(t *testing.T) {
	const (
		header = "\uFEFFSFZH,XM,DWTYSHXYDM,XZLX,CBZT,SCCBNY,ZHJFNY\r\n"
		good   = dataset.ZhangWei + ",张伟," + dataset.E1 + ",110,1,201605,202610\r\n"
	)
	for _, tc := range []struct {
		name    string
		content string
		line    int    // the line the log must name; 0: none
		reason  string // what the log must say
	}{
		{"empty file", "", 0, "empty"},
		{"byte order mark only", "\uFEFF", 0, "empty"},
		{"header only", header, 0, "no rows"},
		{"missing column", "SFZH,XM,DWTYSHXYDM,CBZT,SCCBNY,ZHJFNY\r\n" +
			dataset.ZhangWei + ",张伟," + dataset.E1 + ",1,201605,202610\r\n", 1, "XZLX"},
		{"column twice", "SFZH,XM,DWTYSHXYDM,XZLX,CBZT,SCCBNY,ZHJFNY,XM\r\n" +
			strings.TrimSuffix(good, "\r\n") + ",张伟\r\n", 1, "twice"},
		{"short row", header + good + dataset.ChenJing + ",陈静," + dataset.E1 + ",110,1,202309\r\n", 3, "wrong number of fields"},
		{"long row", header + good + good[:len(good)-2] + ",x\r\n", 3, "wrong number of fields"},
		{"invalid UTF-8", header + good + dataset.ChenJing + ",\xff\xfe," + dataset.E1 + ",110,1,202309,202610\r\n", 3, "UTF-8"},
		{"unknown insurance type", header + strings.Replace(good, ",110,", ",999,", 1), 2, `code \"999\"`},
		{"bad month", header + good + strings.Replace(good, "201605", "2016-05", 1), 3, "SCCBNY"},
		{"bare quote", header + good + `310115"` + good[7:], 3, "quote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeExport(t, dir, smallDataset(), day1)
			s, logs := open(t, hrss.Binding(dir))
			writeRaw(t, dir, day(2), tc.content)
			for range 2 { // the second scan must not count or log it again
				if err := s.Rescan(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if n := s.Rejected(); n != 1 {
				t.Errorf("Rejected() = %d, want 1", n)
			}
			assertServing(t, s, day1)
			out := logs.String()
			if strings.Count(out, "export rejected") != 1 || !strings.Contains(out, hrss.FileName(day(2))) ||
				!strings.Contains(out, tc.reason) {
				t.Errorf("log does not report the rejection of %s once with %q:\n%s", hrss.FileName(day(2)), tc.reason, out)
			}
			if tc.line > 0 && !strings.Contains(out, fmt.Sprintf("line=%d", tc.line)) {
				t.Errorf("log does not name line %d:\n%s", tc.line, out)
			}
			if strings.Contains(out, dataset.ZhangWei) || strings.Contains(out, dataset.ChenJing) {
				t.Errorf("log reveals an ID number:\n%s", out)
			}
		})
	}
}

func TestAcceptedVariants(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"no byte order mark, LF endings", "SFZH,XM,DWTYSHXYDM,XZLX,CBZT,SCCBNY,ZHJFNY\n" +
			dataset.ZhangWei + ",张伟," + dataset.E1 + ",110,1,201605,202610\n" +
			dataset.ZhangWei + ",张伟," + dataset.E1 + ",310,1,201605,202610\n"},
		{"columns reordered, an extra column, quoted values", "\uFEFFXM,SFZH,BZ,DWTYSHXYDM,XZLX,CBZT,SCCBNY,ZHJFNY\r\n" +
			`"张伟",` + dataset.ZhangWei + `,"备注, 含逗号",` + dataset.E1 + ",110,1,201605,202610\r\n" +
			`张伟,` + dataset.ZhangWei + `,,` + dataset.E1 + ",310,1,201605,202610\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRaw(t, dir, day1, tc.content)
			s, _ := open(t, hrss.Binding(dir))
			if s.Rejected() != 0 {
				t.Fatal("rejected")
			}
			assertServing(t, s, day1)
		})
	}
}

func TestRejectedExportIsRetriedOnceChanged(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	writeRaw(t, dir, day(2), "garbage")
	s, _ := open(t, hrss.Binding(dir))
	// At Open the newest export is malformed: the older complete one serves.
	if s.Rejected() != 1 {
		t.Fatalf("Rejected() = %d, want 1", s.Rejected())
	}
	assertServing(t, s, day1)

	writeExport(t, dir, ds, day(2)) // the bureau re-runs the export
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertServing(t, s, day(2))
	if s.Rejected() != 1 {
		t.Fatalf("Rejected() = %d, want 1", s.Rejected())
	}
}

func TestPollerPicksUpNewExport(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	d := hrss.Binding(dir)
	for _, op := range d.Operations {
		op.Params[ParamPoll] = "10ms"
	}
	s, _ := open(t, d)
	writeExport(t, dir, ds, day(2))

	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if file, _, _ := s.Current(); file == hrss.FileName(day(2)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poller did not pick up the new export within 5s")
		}
		<-tick.C
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	// Closed: no more polling, and the index is closed (it stays on disk for the next
	// start).
	if _, err := s.Fetch(t.Context(), "byCitizen", []string{dataset.ZhangWei}); !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("Fetch after Close = %v, want ErrUnavailable", err)
	}
}

func TestBindingValidation(t *testing.T) {
	good := hrss.Binding("/srv/hrss")
	for _, tc := range []struct {
		name string
		edit func(d *config.Department)
		want []string
	}{
		{"everything wrong at once", func(d *config.Department) {
			d.Protocol, d.Dir = "soap", ""
			d.Operations = map[string]config.Operation{
				"byCitizen":  {Batch: -1, Params: map[string]string{"pattern": "shebao_[.csv", "poll": "soon", "marker": ""}},
				"byEmployer": {Params: map[string]string{"keyColumn": " "}},
			}
			d.Fields = append(d.Fields, config.FieldMap{From: "X", To: "x", Code: "nope"})
		}, []string{`"hrss"`, `protocol is "soap"`, "dir is required", "byCitizen: batch -1",
			"byCitizen: param keyColumn is required", "byEmployer: param keyColumn is required",
			`pattern "shebao_[.csv"`, `poll "soon"`, `marker ""`, `code table "nope"`}},
		{"operations disagree", func(d *config.Department) {
			d.Operations["byEmployer"].Params["pattern"] = "other_*.csv"
			d.Operations["byEmployer"].Params["poll"] = "1m"
		}, []string{"byCitizen and byEmployer disagree on pattern", "disagree on poll"}},
		{"no pattern, path pattern", func(d *config.Department) {
			delete(d.Operations["byCitizen"].Params, "pattern")
			d.Operations["byEmployer"].Params["pattern"] = "../x/*.csv"
		}, []string{"not a path"}},
		{"nothing configured", func(d *config.Department) {
			*d = config.Department{ID: "hrss", Protocol: "csv", Dir: "/srv"}
		}, []string{"no operations", "no fields", "pattern is required", `"hrss"`}},
		{"non-positive poll", func(d *config.Department) {
			d.Operations["byCitizen"].Params["poll"] = "0s"
			d.Operations["byEmployer"].Params["poll"] = "0s"
		}, []string{`poll "0s" must be positive`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := hrss.Binding("/srv/hrss")
			tc.edit(&d)
			_, err := Open(t.Context(), d, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %s:\n%v", w, err)
				}
			}
		})
	}
	if _, err := parseBinding(good, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("the demo binding is invalid: %v", err)
	}
}

// TestCheckWritesNothing: `config check`'s look at a drop validates the binding and the
// newest export's header, warns about a directory without a usable export, and writes
// nothing — no index — into either directory.
func TestCheckWritesNothing(t *testing.T) {
	dir, index := t.TempDir(), t.TempDir()
	d := hrss.Binding(dir)
	d.Operations["byCitizen"].Params[ParamIndexDir] = index
	if w, err := Check(d); err != nil || !strings.Contains(w, "no complete export") {
		t.Fatalf("empty drop: warning %q, err %v", w, err)
	}
	writeExport(t, dir, smallDataset(), day(1))
	if w, err := Check(d); err != nil || w != "" {
		t.Fatalf("a good export: warning %q, err %v", w, err)
	}
	writeRaw(t, dir, day(2), "SFZH,XM,DWTYSHXYDM,CBZT,SCCBNY,ZHJFNY\r\n"+dataset.ZhangWei+",张伟,"+dataset.E1+",1,201605,202610\r\n")
	if w, err := Check(d); err != nil || !strings.Contains(w, "XZLX") || !strings.Contains(w, "would be rejected") {
		t.Fatalf("newest export lacks a column: warning %q, err %v", w, err)
	}
	for _, dd := range []string{dir, index} {
		entries, _ := os.ReadDir(dd)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "shebao_") {
				t.Errorf("Check wrote %s into %s", e.Name(), dd)
			}
		}
	}
	bad := hrss.Binding("")
	if _, err := Check(bad); err == nil {
		t.Error("a binding without a directory passed")
	}
}
