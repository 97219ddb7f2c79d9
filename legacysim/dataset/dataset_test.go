package dataset

import (
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/idcode"
)

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	size := Size{Citizens: 2000, Enterprises: 500, CreditRecords: 3000}
	a := Generate(DefaultSeed, size)
	b := Generate(DefaultSeed, size)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different data")
	}
	if a.NumPersons() != 5+size.Citizens || a.NumEnterprises() != 5+size.Enterprises || len(a.Credit) != 6+size.CreditRecords {
		t.Fatalf("sizes: %d persons, %d enterprises, %d credit records", a.NumPersons(), a.NumEnterprises(), len(a.Credit))
	}
	seen := map[string]bool{}
	for p := range a.AllPersons() {
		if err := idcode.ValidateIDNumber(p.IDNumber); err != nil {
			t.Fatalf("person %s: %v", p.IDNumber, err)
		}
		if seen[p.IDNumber] {
			t.Fatalf("duplicate ID %s", p.IDNumber)
		}
		seen[p.IDNumber] = true
		if p.IDNumber == Unregistered {
			t.Fatal("the unregistered fixture must not be in the registry")
		}
	}
	for e := range a.AllEnterprises() {
		if err := idcode.ValidateCreditCode(e.CreditCode); err != nil {
			t.Fatalf("enterprise %s: %v", e.CreditCode, err)
		}
		if seen[e.CreditCode] {
			t.Fatalf("duplicate code %s", e.CreditCode)
		}
		seen[e.CreditCode] = true
		if e.LegalRepID != Unregistered && !seen[e.LegalRepID] {
			t.Fatalf("enterprise %s: legal representative %s is not a person", e.CreditCode, e.LegalRepID)
		}
	}
	for _, c := range a.Credit {
		if !seen[c.SubjectID] {
			t.Fatalf("credit record %s: unknown subject %s", c.ID, c.SubjectID)
		}
	}
	if len(a.Insurance) < size.Citizens {
		t.Fatalf("only %d insurance rows", len(a.Insurance))
	}
	for _, r := range a.Insurance {
		if !seen[r.IDNumber] || (r.EmployerCode != "" && !seen[r.EmployerCode]) {
			t.Fatalf("insurance row of an unknown person or employer: %+v", r)
		}
	}
}

func TestFixtures(t *testing.T) {
	for _, ds := range []*Dataset{Generate(DefaultSeed, Size{}), generate(DefaultSeed, DefaultSize, false)} {
		if p := ds.Person(3); p.IDNumber != ChenJing || p.Phone != "" {
			t.Errorf("陈静 must have no phone: %+v", p)
		}
		if e := ds.Enterprise(0); e.Capital != "500.0000" || e.Established != "2016-04-18" {
			t.Errorf("E1: %+v", e)
		}
		if e, ok := ds.EnterpriseByCode(E3); !ok || e.Status != "2" {
			t.Errorf("E3 must be revoked: %+v", e)
		}
		if p, ok := ds.PersonByID(ZhangWei); !ok || p.Name != "张伟" {
			t.Errorf("张伟: %+v, %v", p, ok)
		}
	}
}

// A dataset that generates its records when asked serves exactly what one that holds
// them serves, by index and by key: holding changes memory, not data.
func TestGeneratedIsTheSameAsHeld(t *testing.T) {
	size := Size{Citizens: 3000, Enterprises: 400, CreditRecords: 500}
	held := generate(7, size, true)
	gen := generate(7, size, false)
	if len(gen.persons) != 5 || len(gen.enterprises) != 5 || len(gen.Insurance) != len(fixtureInsurance()) || len(gen.Credit) != len(fixtureCredit()) {
		t.Fatalf("the generating dataset holds %d persons, %d enterprises, %d insurance rows, %d credit records",
			len(gen.persons), len(gen.enterprises), len(gen.Insurance), len(gen.Credit))
	}
	if credit := slices.Collect(gen.AllCredit()); !reflect.DeepEqual(held.Credit, credit) || len(credit) != gen.NumCredit() {
		t.Fatalf("credit records differ: %d generated, %d held", len(credit), len(held.Credit))
	}
	for i := range held.NumPersons() {
		p := held.Person(i)
		if q := gen.Person(i); q != p {
			t.Fatalf("person %d: held %+v, generated %+v", i, p, q)
		}
		if q, ok := gen.PersonByID(p.IDNumber); !ok || q != p {
			t.Fatalf("person %s by ID: %+v, %v", p.IDNumber, q, ok)
		}
	}
	for i := range held.NumEnterprises() {
		e := held.Enterprise(i)
		if f := gen.Enterprise(i); f != e {
			t.Fatalf("enterprise %d: held %+v, generated %+v", i, e, f)
		}
		if f, ok := gen.EnterpriseByCode(e.CreditCode); !ok || f != e {
			t.Fatalf("enterprise %s by code: %+v, %v", e.CreditCode, f, ok)
		}
		if gen.CreditCode(i) != e.CreditCode || gen.LegalRepID(i) != e.LegalRepID {
			t.Fatalf("enterprise %d: code %s, representative %s; want %s, %s", i, gen.CreditCode(i), gen.LegalRepID(i), e.CreditCode, e.LegalRepID)
		}
	}
	var got []Insurance
	if err := gen.EachInsurance(func(r Insurance) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(held.Insurance) || len(got) <= len(fixtureInsurance()) {
		t.Fatalf("generated %d rows, held %d", len(got), len(held.Insurance))
	}
	for i := range got {
		if got[i] != held.Insurance[i] {
			t.Fatalf("row %d: generated %+v, held %+v", i, got[i], held.Insurance[i])
		}
	}
}

// A bulk record depends on its index, not on the size: a larger registry holds the
// smaller one's persons, and a lookup finds only what this size holds.
func TestLookupsKnowTheSize(t *testing.T) {
	small, big := Generate(DefaultSeed, Size{Citizens: 100}), generate(DefaultSeed, Size{Citizens: 5_700_000}, false)
	for i := range small.NumPersons() {
		if small.Person(i) != big.Person(i) {
			t.Fatalf("person %d differs between sizes", i)
		}
	}
	last := big.Person(big.NumPersons() - 1)
	if _, ok := big.PersonByID(last.IDNumber); !ok {
		t.Fatalf("the last of 5.7 million, %s, is not found", last.IDNumber)
	}
	if _, ok := small.PersonByID(last.IDNumber); ok {
		t.Fatalf("%s found in a registry of %d", last.IDNumber, small.NumPersons())
	}
	wrongCheck := last.IDNumber[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", last.IDNumber[17])+1)%11])
	for _, id := range []string{Unregistered, InvalidID, wrongCheck, "", "3101151985031200", "31011519850312001x", "110101199003070011", "310115200612310100"} {
		if p, ok := big.PersonByID(id); ok {
			t.Errorf("PersonByID(%q) = %+v, want none", id, p)
		}
	}
	if e, ok := big.EnterpriseByCode("91310115MA1FL0AB0X"); ok {
		t.Errorf("a code with a bad check character found: %+v", e)
	}
}

// The district's registry costs no memory per record: generating 5.7 million citizens
// and looking up a thousand of them leaves the heap as it was, give or take a few MiB.
func TestDistrictScaleInBoundedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ds := Generate(DefaultSeed, Size{Citizens: 5_700_000, Enterprises: 300_000, CreditRecords: 30_000})
	for i := 0; i < 1000; i++ {
		p := ds.Person(ds.NumPersons() * i / 1000)
		if q, ok := ds.PersonByID(p.IDNumber); !ok || q != p {
			t.Fatalf("person %s: %+v, %v", p.IDNumber, q, ok)
		}
		e := ds.Enterprise(ds.NumEnterprises() * i / 1000)
		if f, ok := ds.EnterpriseByCode(e.CreditCode); !ok || f != e {
			t.Fatalf("enterprise %s: %+v, %v", e.CreditCode, f, ok)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d KiB for 5.7 million persons, 300 000 enterprises, 30 000 credit records", grew>>10)
	if grew > 4<<20 {
		t.Fatalf("the heap grew by %d MiB: the registry is held, not generated", grew>>20)
	}
	runtime.KeepAlive(ds)
}

func BenchmarkPersonByID(b *testing.B) {
	ds := Generate(DefaultSeed, Size{Citizens: 5_700_000})
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = ds.Person(ds.NumPersons() * i / len(ids)).IDNumber
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := ds.PersonByID(ids[i%len(ids)]); !ok {
			b.Fatal("not found")
		}
	}
}

func TestSizeCheck(t *testing.T) {
	for _, bad := range []Size{{Citizens: -1}, {Enterprises: -1}, {CreditRecords: -1}, {Citizens: MaxCitizens + 1}, {Enterprises: MaxEnterprises + 1}} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (Size{Citizens: MaxCitizens, Enterprises: 1000}).Check(); err != nil {
		t.Errorf("the most citizens there are numbers for: %v", err)
	}
	ds := generate(DefaultSeed, Size{Citizens: MaxCitizens}, false)
	last := ds.Person(ds.NumPersons() - 1)
	if p, ok := ds.PersonByID(last.IDNumber); !ok || p != last {
		t.Errorf("the last possible citizen %s: %+v, %v", last.IDNumber, p, ok)
	}
}
