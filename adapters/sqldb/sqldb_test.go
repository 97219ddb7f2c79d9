package sqldb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/credit"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// testSize keeps each built database small enough to build in well under a second, with
// enough subjects for a batch of 50.
func testSize() dataset.Size {
	return dataset.Size{Citizens: 300, Enterprises: 100, CreditRecords: 1500}
}

// creditDB builds the simulated credit database in a temporary directory and returns
// the dataset it holds and the adapter's binding for it.
func creditDB(t testing.TB) (*dataset.Dataset, config.Department) {
	t.Helper()
	ds := dataset.Generate(dataset.DefaultSeed, testSize())
	path := filepath.Join(t.TempDir(), "credit.db")
	if err := credit.BuildSQLite(context.Background(), path, ds); err != nil {
		t.Fatal(err)
	}
	return ds, credit.Binding("sqlite", path)
}

func openSource(t testing.TB, d config.Department) *Source {
	t.Helper()
	s, err := Open(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// wantRecord is what the unified record of r must be: the oracle for the whole mapping
// (kinds, ISO dates, two-decimal amounts, empty values left out).
func wantRecord(r dataset.CreditRecord) adapters.Record {
	kinds := map[string]string{dataset.KindLicense: "LICENSE", dataset.KindPenalty: "PENALTY",
		dataset.KindCommendation: "COMMENDATION", dataset.KindDishonesty: "DISHONESTY"}
	rec := adapters.Record{"id": r.ID, "kind": kinds[r.Kind], "subjectId": r.SubjectID,
		"subjectName": r.SubjectName, "decisionNumber": r.DecisionNumber, "title": r.Title,
		"content": r.Content, "decidedOn": r.DecidedOn, "validUntil": r.ValidUntil,
		"issuedBy": r.IssuedBy, "penaltyAmount": r.PenaltyAmount}
	for k, v := range rec {
		if v == "" {
			delete(rec, k)
		}
	}
	return rec
}

// byID indexes records by their id, for comparisons that do not depend on row order.
func byID(recs []adapters.Record) map[string]adapters.Record {
	out := make(map[string]adapters.Record, len(recs))
	for _, r := range recs {
		out[r["id"]] = r
	}
	return out
}

// checkFixtures runs the demo credit fixtures through s: the same assertions for
// every driver.
func checkFixtures(t *testing.T, s *Source, ds *dataset.Dataset) {
	t.Helper()
	keys := []string{dataset.E1, dataset.E2, dataset.E3, dataset.WangQiang, dataset.LiNa,
		dataset.ZhangWei, dataset.Unregistered}
	before := s.Queries()
	got, err := s.Fetch(context.Background(), credit.OpBySubject, keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Queries() - before; n != 1 {
		t.Errorf("%d statements for one Fetch, want 1", n)
	}

	e2 := got[dataset.E2]
	if len(e2) != 1 || e2[0]["kind"] != "PENALTY" || e2[0]["penaltyAmount"] != "50000.00" ||
		!strings.Contains(e2[0]["title"], "食品安全") || e2[0]["decidedOn"] != "2024-08-15" {
		t.Errorf("E2: %v, want one food-safety penalty of 50000.00 decided 2024-08-15", e2)
	}
	if _, ok := e2[0]["validUntil"]; ok {
		t.Errorf("E2's penalty is open-ended, got validUntil %q", e2[0]["validUntil"])
	}
	var e1 []string
	for _, r := range got[dataset.E1] {
		e1 = append(e1, r["kind"]+" "+r["validUntil"])
	}
	// Newest decision first: the 2023 commendation, then the 2017 licence.
	if want := []string{"COMMENDATION 2026-12-31", "LICENSE 2027-04-17"}; !reflect.DeepEqual(e1, want) {
		t.Errorf("E1: %v, want %v", e1, want)
	}
	if w := got[dataset.WangQiang]; len(w) != 1 || w[0]["kind"] != "DISHONESTY" || w[0]["subjectName"] != "王强" {
		t.Errorf("王强: %v, want one dishonesty record", w)
	}
	if l := got[dataset.LiNa]; len(l) != 1 || l[0]["kind"] != "COMMENDATION" || l[0]["subjectName"] != "李娜" {
		t.Errorf("李娜: %v, want one commendation", l)
	}
	for _, k := range []string{dataset.ZhangWei, dataset.Unregistered} {
		if recs, ok := got[k]; ok {
			t.Errorf("%s has no credit records, got %v", k, recs)
		}
	}

	// Every field of every fixture record, against the dataset.
	for _, r := range ds.Credit[:6] {
		rec := byID(got[r.SubjectID])[r.ID]
		if want := wantRecord(r); !reflect.DeepEqual(rec, want) {
			t.Errorf("record %s:\n got %v\nwant %v", r.ID, rec, want)
		}
	}
}

func TestFetchFixtures(t *testing.T) {
	ds, d := creditDB(t)
	checkFixtures(t, openSource(t, d), ds)
}

func TestFetchBatchIsOneStatement(t *testing.T) {
	ds, d := creditDB(t)
	s := openSource(t, d)
	want := map[string]map[string]adapters.Record{}
	var keys []string
	for _, r := range ds.Credit {
		if want[r.SubjectID] == nil {
			if len(keys) == 50 {
				continue
			}
			keys = append(keys, r.SubjectID)
			want[r.SubjectID] = map[string]adapters.Record{}
		}
		want[r.SubjectID][r.ID] = wantRecord(r)
	}
	if len(keys) != 50 {
		t.Fatalf("the dataset has only %d subjects", len(keys))
	}
	got, err := s.Fetch(context.Background(), credit.OpBySubject, keys)
	if err != nil {
		t.Fatal(err)
	}
	if s.Queries() != 1 {
		t.Errorf("%d statements for 50 subjects, want 1", s.Queries())
	}
	if len(got) != len(keys) {
		t.Errorf("records for %d subjects, want %d", len(got), len(keys))
	}
	for _, k := range keys {
		if g := byID(got[k]); !reflect.DeepEqual(g, want[k]) {
			t.Errorf("subject %s:\n got %v\nwant %v", k, g, want[k])
		}
	}
}

func TestFetchNoKeysSendsNothing(t *testing.T) {
	_, d := creditDB(t)
	s := openSource(t, d)
	got, err := s.Fetch(context.Background(), credit.OpBySubject, nil)
	if err != nil || len(got) != 0 || s.Queries() != 0 {
		t.Errorf("Fetch(no keys) = %v, %v after %d statements, want nothing", got, err, s.Queries())
	}
}

func TestFetchKeyCaseAndDuplicates(t *testing.T) {
	_, d := creditDB(t)
	s := openSource(t, d)
	lower := strings.ToLower(dataset.E1)
	got, err := s.Fetch(context.Background(), credit.OpBySubject, []string{dataset.LiNa, dataset.LiNa})
	if err != nil || len(got[dataset.LiNa]) != 1 {
		t.Errorf("duplicate keys: %v, %v, want 李娜's one record once", got, err)
	}
	// SQLite compares case-sensitively, so a lower-case code finds nothing there; what
	// matters is that a row is never filed under a key that was not asked for.
	got, err = s.Fetch(context.Background(), credit.OpBySubject, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	for k := range got {
		if k != lower {
			t.Errorf("rows filed under %q, asked for %q", k, lower)
		}
	}
}

func TestReadOnly(t *testing.T) {
	_, d := creditDB(t)
	checkReadOnly(t, openSource(t, d), "PRAGMA query_only = 0; DELETE FROM xzcf")
}

// checkReadOnly tries to write through s's own connection pool: every attempt must be
// refused as a read-only violation and leave the data as it was.
func checkReadOnly(t *testing.T, s *Source, extra ...string) {
	t.Helper()
	ctx := context.Background()
	count := func() int {
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM xzcf").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	for _, stmt := range append([]string{
		"INSERT INTO xzcf (id, xdr_id, xdr_mc, jdswh, mc, jdrq, jdjg, fkje) VALUES ('X', 'x', 'x', 'x', 'x', '2024-01-01', 'x', 1)",
		"DELETE FROM xzcf",
		"UPDATE xzcf SET fkje = 0",
		"DROP TABLE xzcf",
		"CREATE TABLE t (a INT)",
	}, extra...) {
		_, err := s.db.ExecContext(ctx, stmt)
		if err == nil {
			t.Errorf("%s: succeeded through the adapter's connection", stmt)
			continue
		}
		if msg := strings.ToLower(strings.ReplaceAll(err.Error(), " ", "")); !strings.Contains(msg, "readonly") {
			t.Errorf("%s: %v, want a read-only refusal", stmt, err)
		}
	}
	if after := count(); after != before || before == 0 {
		t.Errorf("xzcf has %d rows, had %d", after, before)
	}
}

func TestInjectionIsInert(t *testing.T) {
	ds, d := creditDB(t)
	s := openSource(t, d)
	ctx := context.Background()
	hostile := []string{
		"' OR '1'='1",
		"') OR 1=1 --",
		dataset.E2 + "'); DROP TABLE xzcf; --",
		"x' UNION SELECT 'xzcf', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 --",
	}
	got, err := s.Fetch(ctx, credit.OpBySubject, hostile)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("hostile keys returned %v, want nothing", got)
	}
	got, err = s.Fetch(ctx, credit.OpBySubject, []string{dataset.E2})
	if err != nil || len(got[dataset.E2]) != 1 {
		t.Errorf("after hostile keys, E2 = %v, %v; the table must be intact", got, err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM xzcf").Scan(&n); err != nil {
		t.Fatal(err)
	}
	penalties := 0
	for _, r := range ds.Credit {
		if r.Kind == dataset.KindPenalty {
			penalties++
		}
	}
	if n != penalties {
		t.Errorf("xzcf has %d rows, want %d", n, penalties)
	}
}

func TestOpenReportsEveryProblem(t *testing.T) {
	d := config.Department{
		ID:       "ledger",
		Protocol: "sql",
		Driver:   "oracle",
		Operations: map[string]config.Operation{
			"noQuery":  {Batch: 10, Params: map[string]string{ParamKeyColumn: "k"}},
			"noTokens": {Params: map[string]string{ParamQuery: "SELECT k FROM t", "keycolumn": "k"}},
		},
		Fields: []config.FieldMap{{From: "k", To: "key", Code: "nowhere"}},
	}
	_, err := Open(d)
	if err == nil {
		t.Fatal("Open accepted a broken binding")
	}
	for _, want := range []string{
		"ledger",
		`driver "oracle" is not supported`,
		"dsn is required",
		"operation noQuery: param query is required",
		"operation noTokens: param query has no {keys}",
		"operation noTokens: param keyColumn is required",
		`operation noTokens: unknown param "keycolumn"`,
		`code table "nowhere" is not defined`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "noQuery: param keyColumn") {
		t.Errorf("error %q blames a param that is set", err)
	}
}

func TestOpenHidesDSN(t *testing.T) {
	d := credit.Binding("mysql", "reader:s3cret@tcp(127.0.0.1:3306)/credit?timeout=forever")
	_, err := Open(d)
	if err == nil || !strings.Contains(err.Error(), "not a valid mysql data source name") {
		t.Fatalf("err = %v, want a bad-DSN error", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err %q carries the password", err)
	}
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	_, d := creditDB(t)

	missing := credit.Binding("sqlite", filepath.Join(t.TempDir(), "nowhere.db"))
	closed := openSource(t, d)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()

	tests := []struct {
		name string
		s    *Source
		ctx  context.Context
		also error
	}{
		{"missing database file", openSource(t, missing), ctx, nil},
		{"closed source", closed, ctx, nil},
		{"deadline passed", openSource(t, d), expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.Fetch(tt.ctx, credit.OpBySubject, []string{dataset.WangQiang})
			if !errors.Is(err, adapters.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.also)
			}
			for _, s := range []string{"credit", credit.OpBySubject} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err %q does not name %q", err, s)
				}
			}
		})
	}
	if _, err := os.Stat(missing.DSN); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a missing database created it: %v", err)
	}
}

func TestBadResponse(t *testing.T) {
	_, d := creditDB(t)
	wrongKey := credit.Binding(d.Driver, d.DSN)
	wrongKey.Operations[credit.OpBySubject].Params[ParamKeyColumn] = "subject"

	wrongLayout := credit.Binding(d.Driver, d.DSN)
	for i, f := range wrongLayout.Fields {
		if f.To == "subjectId" {
			wrongLayout.Fields[i].Date = "20060102"
		}
	}
	strayRows := credit.Binding(d.Driver, d.DSN)
	strayRows.Operations[credit.OpBySubject].Params[ParamQuery] =
		"SELECT 'shixin' AS xxlb, id, xdr_id FROM shixin WHERE xdr_id IN ({keys}) OR 1 = 1"

	tests := []struct {
		name string
		d    config.Department
		want string
	}{
		{"key column not selected", wrongKey, `key column "subject" is not in the result`},
		{"rows for keys not asked for", strayRows, "matches no key asked for"},
		{"value the mapping cannot read", wrongLayout, "is not a date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSource(t, tt.d)
			_, err := s.Fetch(context.Background(), credit.OpBySubject, []string{dataset.WangQiang})
			if !errors.Is(err, adapters.ErrBadResponse) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadResponse saying %q", err, tt.want)
			}
			if leak := regexp.MustCompile(`[0-9A-Z]{18}|1[0-9]{10}`).FindString(err.Error()); leak != "" {
				t.Errorf("err %q carries a full ID number or credit code: %s", err, leak)
			}
		})
	}
}

func TestUnknownOperation(t *testing.T) {
	_, d := creditDB(t)
	s := openSource(t, d)
	if _, err := s.Fetch(context.Background(), "byPhone", []string{"x"}); err == nil || !strings.Contains(err.Error(), "byPhone") {
		t.Errorf("err = %v, want an unknown-operation error", err)
	}
}
