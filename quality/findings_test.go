package quality

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/policy"
)

func testCatalog(t testing.TB) *policy.Catalog {
	t.Helper()
	entries := []gateway.CatalogEntry{
		{Code: "310115-AMR-QY01-003", Field: repNameField, Owner: "amr", Class: gateway.Unconditional},
		{Code: "310115-HRSS-SB01-003", Field: employerField, Owner: "hrss", Class: gateway.Conditional},
	}
	c, err := policy.NewCatalog(entries, map[string]string{repNameField: "310115-AMR-QY01-003", employerField: "310115-HRSS-SB01-003"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestService(t testing.TB, queue int) (*Service, *DB) {
	t.Helper()
	return newTestServiceAt(t, filepath.Join(t.TempDir(), "quality.db"), Options{QueueSize: queue})
}

// newTestServiceAt is a service on the SQLite file at path, with the test catalogue,
// no grants and the rest of o.
func newTestServiceAt(t testing.TB, path string, o Options) (*Service, *DB) {
	t.Helper()
	db, err := Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	o.DB, o.Catalog, o.Grants = db, testCatalog(t), func() policy.Grants { return nil }
	s := New(o)
	t.Cleanup(func() {
		s.Close(context.Background())
		db.Close()
	})
	return s, db
}

// Each check of the comparison yields its finding for the owner of the copy, once; what
// the registries agree on yields nothing.
func TestComparisons(t *testing.T) {
	s, db := newTestService(t, 0)
	e5 := adapters.Record{"creditCode": "91310115MA1HW2X39Q", "legalRepresentativeId": "310115199912310073", "legalRepresentativeName": "赵六"}
	e1 := adapters.Record{"creditCode": "91310115MA1FL0AB0P", "legalRepresentativeId": "310115198503120012", "legalRepresentativeName": "张伟"}
	e2 := adapters.Record{"creditCode": "91310115607223817N", "legalRepresentativeId": "310115197811200036", "legalRepresentativeName": "王 强"}
	for range 3 {
		s.LegalRepresentative(e5, nil)                           // unknown to the population registry
		s.LegalRepresentative(e1, adapters.Record{"name": "张伟"}) // agree
		s.LegalRepresentative(e2, adapters.Record{"name": "王强"}) // differ
		s.Employer(adapters.Record{"idNumber": "310115200107150041", "employer": "91310115MA1XXXXXXX"}, adapters.Record{})
		s.Employer(adapters.Record{"idNumber": "310115198503120012", "employer": "91310115MA1FL0AB0P"}, adapters.Record{"name": "x"})
		s.Employer(adapters.Record{"idNumber": "310115196202280056"}, adapters.Record{}) // self-paid
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err := db.List(context.Background(), Filter{Kind: Finding})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, is := range list {
		got[is.Department+" "+is.Subject] = is.Description
	}
	if len(list) != 3 || got["amr 91310115MA1HW2X39Q"] == "" || got["amr 91310115607223817N"] == "" || got["hrss 310115200107150041"] == "" {
		t.Errorf("findings: %v", got)
	}
	if st := s.FindingStats(); st.Recorded != 3 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	// Another replica, or this one after a restart, does not record them again.
	s2 := New(Options{DB: db, Catalog: testCatalog(t), Grants: func() policy.Grants { return nil }})
	s2.LegalRepresentative(e5, nil)
	s2.Close(context.Background())
	if list, _ := db.List(context.Background(), Filter{Kind: Finding}); len(list) != 3 {
		t.Errorf("recorded again after a restart: %d", len(list))
	}
}

// A full queue drops findings rather than making the request wait; the drop is counted
// and the finding is noticed again on a later read.
func TestFindingQueueIsBounded(t *testing.T) {
	s, _ := newTestService(t, 1)
	s.Close(context.Background()) // the writer stops: nothing more is taken from the queue
	s.closed.Store(false)
	defer s.closed.Store(true)
	start := time.Now()
	for i := range 1000 {
		s.Employer(adapters.Record{"idNumber": "3101152001071500" + string(rune('0'+i%10)) + string(rune('0'+i/10%10)), "employer": "x"}, nil)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("noting 1000 findings on a stuck writer took %s", took)
	}
	if st := s.FindingStats(); st.Dropped == 0 {
		t.Errorf("nothing dropped: %+v", st)
	}
}

// BenchmarkNoteFinding is what a request pays for a comparison that finds a
// disagreement already noted: the common case once a subject has been read.
func BenchmarkNoteFinding(b *testing.B) {
	s, _ := newTestService(b, 0)
	e5 := adapters.Record{"creditCode": "91310115MA1HW2X39Q", "legalRepresentativeId": "310115199912310073", "legalRepresentativeName": "赵六"}
	s.LegalRepresentative(e5, nil)
	b.ReportAllocs()
	for b.Loop() {
		s.LegalRepresentative(e5, nil)
	}
}

// BenchmarkCompareAgreeing is what a request pays when the registries agree.
func BenchmarkCompareAgreeing(b *testing.B) {
	s, _ := newTestService(b, 0)
	e1 := adapters.Record{"creditCode": "91310115MA1FL0AB0P", "legalRepresentativeId": "310115198503120012", "legalRepresentativeName": "张伟"}
	p := adapters.Record{"name": "张伟"}
	b.ReportAllocs()
	for b.Loop() {
		s.LegalRepresentative(e1, p)
	}
}
