package credit_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway/adapters/sqldb"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/credit"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// counts returns the number of rows of every credit table in the SQLite file at path.
func counts(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range []string{"xzxk", "xzcf", "hongmingdan", "shixin"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func wantCounts(ds *dataset.Dataset) map[string]int {
	table := map[string]string{dataset.KindLicense: "xzxk", dataset.KindPenalty: "xzcf",
		dataset.KindCommendation: "hongmingdan", dataset.KindDishonesty: "shixin"}
	out := map[string]int{"xzxk": 0, "xzcf": 0, "hongmingdan": 0, "shixin": 0}
	for r := range ds.AllCredit() {
		out[table[r.Kind]]++
	}
	return out
}

// TestBuildSQLiteGenerated: a dataset too large to hold generates its credit records
// while the database is written, and every one of them lands in its table.
func TestBuildSQLiteGenerated(t *testing.T) {
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: dataset.HoldUpTo + 1, Enterprises: 2000, CreditRecords: 3000})
	if len(ds.Credit) >= ds.NumCredit() {
		t.Fatalf("the dataset holds %d of its %d credit records", len(ds.Credit), ds.NumCredit())
	}
	path := filepath.Join(t.TempDir(), "credit.db")
	if err := credit.BuildSQLite(context.Background(), path, ds); err != nil {
		t.Fatal(err)
	}
	got, want := counts(t, path), wantCounts(ds)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows per table %v, want %v", got, want)
	}
	sum := 0
	for _, n := range got {
		sum += n
	}
	if sum != ds.NumCredit() {
		t.Errorf("%d rows, want %d", sum, ds.NumCredit())
	}
}

// TestBuildSQLiteDemoSize builds the demo's 30,000 records: every row lands in its
// table, each table has its subject index, and no temporary file is left behind.
func TestBuildSQLiteDemoSize(t *testing.T) {
	ds := dataset.Generate(dataset.DefaultSeed, dataset.DefaultSize)
	dir := t.TempDir()
	path := filepath.Join(dir, "credit.db")
	start := time.Now()
	if err := credit.BuildSQLite(context.Background(), path, ds); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records in %v", ds.NumCredit(), time.Since(start))
	if got, want := counts(t, path), wantCounts(ds); !reflect.DeepEqual(got, want) {
		t.Errorf("rows per table %v, want %v", got, want)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"xzxk", "xzcf", "hongmingdan", "shixin"} {
		var id, parent, notused int
		var plan string
		q := "EXPLAIN QUERY PLAN SELECT * FROM " + table + " WHERE xdr_id = ?"
		if err := db.QueryRow(q, dataset.E1).Scan(&id, &parent, &notused, &plan); err != nil {
			t.Fatal(err)
		}
		if want := "USING INDEX idx_" + table + "_xdr_id"; !strings.Contains(plan, want) {
			t.Errorf("%s: plan %q does not use its subject index", table, plan)
		}
	}
	var amount, valid sql.NullString
	if err := db.QueryRow("SELECT CAST(fkje AS TEXT), yxqz FROM xzcf WHERE id = 'CF-F00001'").Scan(&amount, &valid); err != nil {
		t.Fatal(err)
	}
	if amount.String != "50000" || valid.Valid {
		t.Errorf("E2's penalty: fkje %v, yxqz %v; want 50000 and NULL", amount, valid)
	}
	if err := db.QueryRow("SELECT yxqz FROM xzxk WHERE id = 'XK-F00001'").Scan(&valid); err != nil || valid.String != "20270417" {
		t.Errorf("E1's licence: yxqz %v, %v; want the CHAR(8) 20270417", valid, err)
	}
	noLeftovers(t, dir, "credit.db")
}

// TestBuildSQLiteReplacesAtomically: a rebuild replaces the file whole, and a failed
// build leaves the previous file serving and no debris.
func TestBuildSQLiteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credit.db")
	small := dataset.Generate(dataset.DefaultSeed, dataset.Size{})
	bigger := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 50, Enterprises: 20, CreditRecords: 200})
	ctx := context.Background()

	if err := credit.BuildSQLite(ctx, path, small); err != nil {
		t.Fatal(err)
	}
	if err := credit.BuildSQLite(ctx, path, bigger); err != nil {
		t.Fatal(err)
	}
	if got, want := counts(t, path), wantCounts(bigger); !reflect.DeepEqual(got, want) {
		t.Errorf("after rebuild: %v, want %v", got, want)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := credit.BuildSQLite(cancelled, path, small); !errors.Is(err, context.Canceled) {
		t.Errorf("build with a cancelled context: %v, want context.Canceled", err)
	}
	broken := &dataset.Dataset{Credit: []dataset.CreditRecord{{ID: "X-1", Kind: "rumour"}}}
	if err := credit.BuildSQLite(ctx, path, broken); err == nil {
		t.Error("a record of an unknown kind was accepted")
	}
	if got, want := counts(t, path), wantCounts(bigger); !reflect.DeepEqual(got, want) {
		t.Errorf("after failed builds: %v, want the previous %v", got, want)
	}
	noLeftovers(t, dir, "credit.db")
}

func noLeftovers(t *testing.T, dir string, keep string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != keep {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestBindingYAMLRoundTrip: the binding is what a production YAML file says. Written out
// and read back it is unchanged, and the adapter built from the YAML reads the database.
func TestBindingYAMLRoundTrip(t *testing.T) {
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{})
	path := filepath.Join(t.TempDir(), "credit.db")
	if err := credit.BuildSQLite(context.Background(), path, ds); err != nil {
		t.Fatal(err)
	}
	b := credit.Binding("sqlite", path)
	out, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var back config.Department
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, b) {
		t.Fatalf("round trip changed the binding:\n%s\n got %+v\nwant %+v", out, back, b)
	}
	if back.Timeout != 3*time.Second || back.Operations[credit.OpBySubject].Batch != 200 {
		t.Errorf("timeout %v, batch %d", back.Timeout, back.Operations[credit.OpBySubject].Batch)
	}

	s, err := sqldb.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Fetch(context.Background(), credit.OpBySubject, []string{dataset.E2, dataset.LiNa})
	if err != nil {
		t.Fatal(err)
	}
	if e2 := got[dataset.E2]; len(e2) != 1 || e2[0]["penaltyAmount"] != "50000.00" || e2[0]["kind"] != "PENALTY" {
		t.Errorf("E2 = %v, want the 50000.00 penalty", e2)
	}
	if l := got[dataset.LiNa]; len(l) != 1 || l[0]["kind"] != "COMMENDATION" || l[0]["decidedOn"] != "2022-12-05" {
		t.Errorf("李娜 = %v, want her 2022-12-05 commendation", l)
	}
}
