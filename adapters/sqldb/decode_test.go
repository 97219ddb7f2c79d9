package sqldb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/credit"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

func TestText(t *testing.T) {
	at := time.Date(2024, 8, 15, 9, 30, 5, 250_000_000, time.UTC)
	tests := []struct {
		v    any
		date bool
		want string
	}{
		{nil, false, ""},
		{"李娜", false, "李娜"},
		{[]byte("50000.00"), false, "50000.00"},
		{int64(-42), false, "-42"},
		{uint64(18446744073709551615), false, "18446744073709551615"},
		{50000.0, false, "50000"},
		{1e21, false, "1000000000000000000000"},
		{float32(0.5), false, "0.5"},
		{true, false, "1"},
		{false, false, "0"},
		{time.Date(2024, 8, 15, 0, 0, 0, 0, time.UTC), true, "2024-08-15"},
		{at, false, "2024-08-15 09:30:05.25"},
		{at.Truncate(time.Second), false, "2024-08-15 09:30:05"},
		{int32(7), false, "7"},
	}
	for _, tt := range tests {
		if got := text(tt.v, tt.date); got != tt.want {
			t.Errorf("text(%#v, %v) = %q, want %q", tt.v, tt.date, got, tt.want)
		}
	}
}

// TestDateColumns reads DATE and DATETIME columns, which modernc.org/sqlite returns as
// time.Time, through a real database: they must come out as the binding's layouts expect.
func TestDateColumns(t *testing.T) {
	_, d := creditDB(t)
	d.Operations = map[string]config.Operation{"dates": {Params: map[string]string{
		ParamQuery: "SELECT xdr_id, jdrq, CAST(jdrq AS TEXT) AS raw FROM shixin WHERE xdr_id IN ({keys})",
		// keyColumn as the column's name in the result
		ParamKeyColumn: "xdr_id",
	}}}
	d.Fields = []config.FieldMap{{From: "jdrq", To: "decidedOn", Date: time.DateOnly}, {From: "raw", To: "raw"}}
	d.Codes = nil
	s := openSource(t, d)
	got, err := s.Fetch(context.Background(), "dates", []string{dataset.WangQiang})
	if err != nil {
		t.Fatal(err)
	}
	if r := got[dataset.WangQiang]; len(r) != 1 || r[0]["decidedOn"] != "2023-03-01" || r[0]["raw"] != "2023-03-01" {
		t.Errorf("got %v, want decidedOn 2023-03-01", r)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`xdr_id: "310115197811200036" is not a date`, `xdr_id: "310115…0036" is not a date`},
		{"phone 13812345678.", "phone 138123…5678."},
		{"code 91310115MA1FL0AB0P", "code 913101…AB0P"},
		{"Cannot execute statement in a READ ONLY transaction", "Cannot execute statement in a READ ONLY transaction"},
		{"Error 1792 (25006)", "Error 1792 (25006)"},
		{"浦市监处〔2024〕1032号", "浦市监处〔2024〕1032号"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSQLiteReadOnlyDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/data/credit.db", "file:/data/credit.db?_query_only=1&mode=ro"},
		{"data/100%#1.db", "file:data/100%25%231.db?_query_only=1&mode=ro"},
		{"file:/data/credit.db?mode=rwc&_pragma=busy_timeout(500)", "file:/data/credit.db?_pragma=busy_timeout%28500%29&_query_only=1&mode=ro"},
	}
	for _, tt := range tests {
		got, err := sqliteReadOnly(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("sqliteReadOnly(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := sqliteReadOnly("file:?mode=ro"); err == nil {
		t.Error("a DSN without a file was accepted")
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		query   string
		keys    []string
		want    string
		argsLen int
	}{
		{"SELECT * FROM t WHERE k IN ({keys})", []string{"a"}, "SELECT * FROM t WHERE k IN (?)", 1},
		{"SELECT * FROM t WHERE k IN ({keys})", []string{"a", "b", "c"}, "SELECT * FROM t WHERE k IN (?,?,?)", 3},
		{"SELECT 1 WHERE a IN ({keys}) UNION ALL SELECT 2 WHERE b IN ({keys})", []string{"a", "b"},
			"SELECT 1 WHERE a IN (?,?) UNION ALL SELECT 2 WHERE b IN (?,?)", 4},
	}
	for _, tt := range tests {
		op, errs := newOperation("op", config.Operation{Params: map[string]string{ParamQuery: tt.query, ParamKeyColumn: "k"}})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		got, args := op.expand(tt.keys)
		if got != tt.want || len(args) != tt.argsLen {
			t.Errorf("expand(%q, %v) = %q with %d args, want %q with %d", tt.query, tt.keys, got, len(args), tt.want, tt.argsLen)
		}
		for i, a := range args {
			if a != tt.keys[i%len(tt.keys)] {
				t.Errorf("arg %d = %v, want %s", i, a, tt.keys[i%len(tt.keys)])
			}
		}
	}
}

// FuzzExpand: any template and keys give exactly one placeholder per key per {keys},
// and no key text ever reaches the SQL.
func FuzzExpand(f *testing.F) {
	f.Add(credit.Binding("sqlite", "x").Operations[credit.OpBySubject].Params[ParamQuery], dataset.E2, "' OR '1'='1", uint8(3))
	f.Add("SELECT {keys}{keys}", "{keys}", "?", uint8(1))
	f.Fuzz(func(t *testing.T, query, k1, k2 string, n uint8) {
		op, errs := newOperation("op", config.Operation{Params: map[string]string{ParamQuery: query, ParamKeyColumn: "k"}})
		if len(errs) > 0 {
			return
		}
		keys := make([]string, 0, int(n)%250+1)
		for i := range cap(keys) {
			keys = append(keys, []string{k1 + "\x00marker", k2 + "\x00marker"}[i%2])
		}
		sql, args := op.expand(keys)
		holes := strings.Count(strings.TrimSpace(query), KeysToken)
		if len(args) != holes*len(keys) {
			t.Fatalf("%d args for %d holes × %d keys", len(args), holes, len(keys))
		}
		if strings.Count(sql, "?") != strings.Count(strings.TrimSpace(query), "?")+holes*len(keys) {
			t.Fatalf("placeholders in %q", sql)
		}
		if strings.Contains(sql, "\x00marker") {
			t.Fatalf("a key reached the SQL text: %q", sql)
		}
	})
}

// creditDecoder decodes the credit binding's result shape, as SQLite reports it.
func creditDecoder(tb testing.TB) *decoder {
	d, err := columnsDecoder(
		[]string{"xxlb", "id", "xdr_id", "xdr_mc", "jdswh", "mc", "nr", "jdrq", "yxqz", "jdjg", "fkje"},
		[]string{"", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "TEXT", "DATE", "CHAR", "VARCHAR", "DECIMAL"},
		"xdr_id")
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// FuzzDecode sends arbitrary upstream values of every type the drivers return through
// decoding and the credit binding's mapping: nothing may panic, and a failure is always
// an ErrBadResponse that carries no full ID number.
func FuzzDecode(f *testing.F) {
	for _, r := range dataset.Generate(dataset.DefaultSeed, dataset.Size{}).Credit {
		f.Add(r.Kind, r.ID, r.SubjectID, r.Content, r.DecidedOn, strings.ReplaceAll(r.ValidUntil, "-", ""), r.PenaltyAmount, int64(0), 0.0)
	}
	f.Add("xzcf", "CF-1", dataset.WangQiang, "", "2024-02-30", "2024", "1e400", int64(-1), 1e300)
	b := credit.Binding("sqlite", "x")
	m, err := adapters.NewMapping(b.Fields, b.Codes)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind, id, subject, content, decided, valid, amount string, n int64, x float64) {
		d := creditDecoder(t)
		copy(d.vals, []any{kind, []byte(id), subject, nil, n, x, []byte(content), decided, valid,
			time.Unix(n%(1<<40), 0).UTC(), amount})
		key, raw := d.decode()
		if key != subject {
			t.Fatalf("key %q, want %q", key, subject)
		}
		if _, err := m.Apply(raw); err != nil && !errors.Is(err, adapters.ErrBadResponse) {
			t.Fatalf("mapping error %v is not an ErrBadResponse", err)
		}
	})
}

func BenchmarkDecodeRow(b *testing.B) {
	d := creditDecoder(b)
	r := dataset.Generate(dataset.DefaultSeed, dataset.Size{}).Credit[2]
	copy(d.vals, []any{"xzcf", []byte(r.ID), []byte(r.SubjectID), []byte(r.SubjectName), []byte(r.DecisionNumber),
		[]byte(r.Title), []byte(r.Content), time.Date(2024, 8, 15, 0, 0, 0, 0, time.UTC), nil, []byte(r.IssuedBy), int64(50000)})
	bind := credit.Binding("sqlite", "x")
	m, err := adapters.NewMapping(bind.Fields, bind.Codes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, raw := d.decode()
		if _, err := m.Apply(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetch50(b *testing.B) {
	ds, d := creditDB(b)
	s := openSource(b, d)
	seen := map[string]bool{}
	var keys []string
	for _, r := range ds.Credit {
		if !seen[r.SubjectID] && len(keys) < 50 {
			seen[r.SubjectID] = true
			keys = append(keys, r.SubjectID)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Fetch(ctx, credit.OpBySubject, keys); err != nil {
			b.Fatal(err)
		}
	}
}
