package dataset

import (
	"reflect"
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
	if len(a.Persons) != 5+size.Citizens || len(a.Enterprises) != 5+size.Enterprises || len(a.Credit) != 6+size.CreditRecords {
		t.Fatalf("sizes: %d persons, %d enterprises, %d credit records", len(a.Persons), len(a.Enterprises), len(a.Credit))
	}
	seen := map[string]bool{}
	for _, p := range a.Persons {
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
	for _, e := range a.Enterprises {
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
}

func TestFixtures(t *testing.T) {
	ds := Generate(DefaultSeed, Size{})
	if ds.Persons[3].IDNumber != ChenJing || ds.Persons[3].Phone != "" {
		t.Errorf("陈静 must have no phone: %+v", ds.Persons[3])
	}
	if ds.Enterprises[0].Capital != "500.0000" || ds.Enterprises[0].Established != "2016-04-18" {
		t.Errorf("E1: %+v", ds.Enterprises[0])
	}
	if ds.Enterprises[2].Status != "2" {
		t.Errorf("E3 must be revoked: %+v", ds.Enterprises[2])
	}
}

// A dataset above StreamAbove does not hold its bulk insurance rows, and yields the same
// rows as one that does: streaming changes memory, not data.
func TestStreamedInsuranceIsTheSame(t *testing.T) {
	size := Size{Citizens: 3000, Enterprises: 200}
	held := Generate(7, size)
	streamed := Generate(7, size)
	// Make the second dataset stream, as Generate does above StreamAbove.
	streamed.bulk = &bulkInsurance{seed: 7, persons: len(fixturePersons()), firms: len(fixtureEnterprises())}
	streamed.Insurance = fixtureInsurance()
	var got []Insurance
	if err := streamed.EachInsurance(func(r Insurance) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(held.Insurance) || len(got) <= len(fixtureInsurance()) {
		t.Fatalf("streamed %d rows, held %d", len(got), len(held.Insurance))
	}
	for i := range got {
		if got[i] != held.Insurance[i] {
			t.Fatalf("row %d: streamed %+v, held %+v", i, got[i], held.Insurance[i])
		}
	}
}
