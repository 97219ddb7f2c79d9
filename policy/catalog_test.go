package policy

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

func TestParseCatalog(t *testing.T) {
	yaml := `- department: psb
  entries:
    - code: 310115-PSB-RK01-002
      field: Citizen.name
      class: CONDITIONAL
      mask: name
      ttl: 1h
      description: 姓名
    - code: 310115-PSB-RK01-007
      field: Citizen.phone
      class: NONE
      mask:
      ttl: 90m
- department: amr
  entries:
    - {code: 310115-AMR-QY01-002, field: Enterprise.name, class: UNCONDITIONAL, ttl: 10m}
`
	got, err := ParseCatalog([]byte(yaml), "catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.CatalogEntry{
		{Code: "310115-PSB-RK01-002", Field: "Citizen.name", Owner: "psb", Class: gateway.Conditional, Mask: gateway.MaskName, TTL: time.Hour, Description: "姓名"},
		{Code: "310115-PSB-RK01-007", Field: "Citizen.phone", Owner: "psb", Class: gateway.NotShared, TTL: 90 * time.Minute},
		{Code: "310115-AMR-QY01-002", Field: "Enterprise.name", Owner: "amr", Class: gateway.Unconditional, TTL: 10 * time.Minute},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParseCatalog =\n%+v\nwant\n%+v", got, want)
	}
}

// entry is a catalogue of one psb entry whose lines 3 to 8 are code, field, class, mask,
// ttl and description, with any line replaced by a caller's.
func entry(replace map[string]string) string {
	lines := []string{
		"- department: psb",
		"  entries:",
		"    - code: 310115-PSB-RK01-002",
		"      field: Citizen.name",
		"      class: CONDITIONAL",
		"      mask: name",
		"      ttl: 1h",
		"      description: 姓名",
	}
	for i, l := range lines {
		key, _, _ := strings.Cut(strings.TrimLeft(l, " -"), ":")
		if r, ok := replace[key]; ok {
			lines[i] = l[:strings.Index(l, key)] + r
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestParseCatalogErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each error, in order: "line: what" after the source
	}{
		{"unknown class", entry(map[string]string{"class": "class: PUBLIC"}),
			[]string{`5: class "PUBLIC" is unknown; expected UNCONDITIONAL, CONDITIONAL or NONE`}},
		{"unknown mask", entry(map[string]string{"mask": "mask: initials"}),
			[]string{`6: mask "initials" is unknown; expected id, name, phone, year or district`}},
		{"mask on an unconditional item", entry(map[string]string{"class": "class: UNCONDITIONAL"}),
			[]string{`6: mask name on a UNCONDITIONAL item; only CONDITIONAL items are shown masked`}},
		{"mask on a not-shared item", entry(map[string]string{"class": "class: NONE"}),
			[]string{`6: mask name on a NONE item`}},
		{"code in lower case", entry(map[string]string{"code": "code: 310115-psb-rk01-002"}),
			[]string{`3: code "310115-psb-rk01-002" does not match 310115-{DEPT}-{RESOURCE}-{ITEM}, e.g. 310115-PSB-RK01-002`}},
		{"code of another district", entry(map[string]string{"code": "code: 310104-PSB-RK01-002"}),
			[]string{`3: code "310104-PSB-RK01-002" does not match`}},
		{"code without item", entry(map[string]string{"code": "code: 310115-PSB-RK01"}),
			[]string{`3: code "310115-PSB-RK01" does not match`}},
		{"code with a two-digit item", entry(map[string]string{"code": "code: 310115-PSB-RK01-02"}),
			[]string{`3: code "310115-PSB-RK01-02" does not match`}},
		{"code of another department", entry(map[string]string{"code": "code: 310115-AMR-QY01-002"}),
			[]string{`3: code 310115-AMR-QY01-002 is listed under department psb; expected a code of the form 310115-PSB-{RESOURCE}-{ITEM}`}},
		{"ttl not a duration", entry(map[string]string{"ttl": "ttl: 1 hour"}),
			[]string{`7: ttl "1 hour" is not a positive duration; expected the owner's update cycle as a Go duration, e.g. 10m, 1h or 24h`}},
		{"ttl negative", entry(map[string]string{"ttl": "ttl: -1h"}),
			[]string{`7: ttl "-1h" is not a positive duration`}},
		{"ttl zero", entry(map[string]string{"ttl": "ttl: 0s"}),
			[]string{`7: ttl "0s" is not a positive duration`}},
		{"ttl missing", entry(map[string]string{"ttl": "# no ttl"}),
			[]string{`3: "ttl" is missing`}},
		{"code missing", entry(map[string]string{"code": "field: Citizen.name", "field": "# moved"}),
			[]string{`3: "code" is missing`}},
		{"code empty", entry(map[string]string{"code": "code: ''"}),
			[]string{`3: "code" is empty`}},
		{"field not a coordinate", entry(map[string]string{"field": "field: name"}),
			[]string{`4: field "name" is not a schema coordinate; expected Type.field, e.g. Citizen.name`}},
		{"field a list", entry(map[string]string{"field": "field: [Citizen.name]"}),
			[]string{`4: "field" must be a single value, found a list`}},
		{"unknown key in an entry", entry(map[string]string{"description": "descripton: 姓名"}),
			[]string{`8: unknown key "descripton" in a catalogue entry; expected code, field, class, mask, ttl, description`}},
		{"key twice", entry(map[string]string{"description": "class: NONE"}),
			[]string{`8: key "class" appears twice in a catalogue entry`}},
		{"duplicate code", entry(nil) + `    - code: 310115-PSB-RK01-002
      field: Citizen.gender
      class: CONDITIONAL
      ttl: 1h
`, []string{`9: code 310115-PSB-RK01-002 is already used at line 3; one datum, one code`}},
		{"duplicate field", entry(nil) + `    - code: 310115-PSB-RK01-003
      field: Citizen.name
      class: CONDITIONAL
      ttl: 1h
`, []string{`10: field Citizen.name already has an entry at line 4; a field carries one code`}},
		{"duplicate field across departments", entry(nil) + `- department: amr
  entries:
    - {code: 310115-AMR-QY01-001, field: Citizen.name, class: UNCONDITIONAL, ttl: 10m}
`, []string{`11: field Citizen.name already has an entry at line 4`}},
		{"unknown key in a department", `- department: psb
  owner: 公安分局
  entries: []
`, []string{`2: unknown key "owner" in a department; expected department, entries`}},
		{"department missing", `- entries: []
`, []string{`1: "department" is missing`}},
		{"department not an id", `- department: PSB
  entries: []
`, []string{`1: department "PSB" is not a department id; expected lower-case letters and digits, e.g. psb`}},
		{"department twice", `- department: psb
  entries: []
- department: psb
  entries: []
`, []string{`3: department psb is already listed at line 1; list each department once`}},
		{"entries missing", `- department: psb
`, []string{`1: department lacks "entries"; expected its list of catalogue entries`}},
		{"entries not a list", `- department: psb
  entries: 310115-PSB-RK01-001
`, []string{`2: expected a list of catalogue entries, found "310115-PSB-RK01-001"`}},
		{"entry not a mapping", `- department: psb
  entries:
    - 310115-PSB-RK01-001
`, []string{`3: expected a catalogue entry (a mapping with keys code, field, class, mask, ttl, description, copyOf, legalBasis), found "310115-PSB-RK01-001"`}},
		{"not a list of departments", `psb:
  - code: 310115-PSB-RK01-001
`, []string{`1: expected a list of departments, found a mapping`}},
		{"empty file", ``, []string{`1: the catalogue is empty; expected a list of departments`}},
		{"empty list", `[]`, []string{`1: the catalogue lists no departments`}},
		{"every mistake at once", `- department: psb
  entries:
    - code: 310115-PSB-RK01-1
      field: Citizen.name
      class: SECRET
      mask: name
      ttl: 1d
    - code: 310115-PSB-RK01-002
      field: Citizen.name
      class: UNCONDITIONAL
      mask: year
      ttl: 1h
      owner: psb
`, []string{
			`3: code "310115-PSB-RK01-1" does not match`,
			`5: class "SECRET" is unknown`,
			`7: ttl "1d" is not a positive duration`,
			`13: unknown key "owner" in a catalogue entry`,
			`9: field Citizen.name already has an entry at line 4`,
			`11: mask year on a UNCONDITIONAL item`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := ParseCatalog([]byte(tt.yaml), "demo.yaml")
			if err == nil {
				t.Fatalf("ParseCatalog accepted\n%s\nwith entries %+v", tt.yaml, entries)
			}
			errs := unjoin(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, e := range errs {
				var ce *CatalogError
				if !errors.As(e, &ce) || ce.Source != "demo.yaml" {
					t.Errorf("error %d is %T %v, want a *CatalogError from demo.yaml", i, e, e)
				}
				if want := "demo.yaml:" + tt.want[i]; !strings.HasPrefix(e.Error(), want) {
					t.Errorf("error %d = %q\nwant prefix %q", i, e.Error(), want)
				}
			}
		})
	}
}

func TestParseCatalogSyntaxError(t *testing.T) {
	_, err := ParseCatalog([]byte("- department: psb\n  entries: [\n"), "demo.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "demo.yaml: ") || !strings.Contains(err.Error(), "line") {
		t.Fatalf("ParseCatalog on broken YAML = %v, want an error naming the file and line", err)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func catalogEntries() []gateway.CatalogEntry {
	return []gateway.CatalogEntry{psbPhone, psbName, amrName, hrssEmployer, psbGender}
}

func governedBy(entries []gateway.CatalogEntry) map[string]string {
	governed := map[string]string{}
	for _, e := range entries {
		governed[e.Field] = e.Code
	}
	return governed
}

func TestNewCatalogRefuses(t *testing.T) {
	tests := []struct {
		name     string
		entries  []gateway.CatalogEntry
		governed func(map[string]string)
		want     []string
	}{
		{"governed field without entry", catalogEntries(),
			func(g map[string]string) { g["Citizen.ethnicity"] = "310115-PSB-RK01-005" },
			[]string{"catalogue: Citizen.ethnicity (code 310115-PSB-RK01-005) has no catalogue entry"}},
		{"entry names no governed field", append(catalogEntries(), psbEthnicity), nil,
			[]string{"catalogue: entry 310115-PSB-RK01-005 names Citizen.ethnicity, which no schema field governed by the catalogue carries"}},
		{"two fields share a code", catalogEntries(),
			func(g map[string]string) { g["Citizen.ethnicity"] = psbName.Code },
			[]string{
				"catalogue: code 310115-PSB-RK01-002 is on Citizen.ethnicity in the schema, but its catalogue entry names Citizen.name",
				"catalogue: fields Citizen.ethnicity, Citizen.name share code 310115-PSB-RK01-002; one datum, one code",
			}},
		{"schema and entry disagree on the field", catalogEntries(),
			func(g map[string]string) { delete(g, "Citizen.gender"); g["Citizen.sex"] = psbGender.Code },
			[]string{"catalogue: code 310115-PSB-RK01-003 is on Citizen.sex in the schema, but its catalogue entry names Citizen.gender"}},
		{"schema and entry disagree on the code", catalogEntries(),
			func(g map[string]string) { g["Citizen.gender"] = "310115-PSB-RK01-099" },
			[]string{"catalogue: the schema gives Citizen.gender code 310115-PSB-RK01-099, but its catalogue entry has code 310115-PSB-RK01-003"}},
		{"duplicate entries", append(catalogEntries(), psbName), nil,
			[]string{
				"catalogue: code 310115-PSB-RK01-002 has more than one entry",
				"catalogue: field Citizen.name has two entries, 310115-PSB-RK01-002 and 310115-PSB-RK01-002",
			}},
		{"every offender named", append(catalogEntries(), creditContent),
			func(g map[string]string) { delete(g, "Citizen.name"); g["Citizen.ethnicity"] = "310115-PSB-RK01-005" },
			[]string{
				"catalogue: Citizen.ethnicity (code 310115-PSB-RK01-005) has no catalogue entry",
				"catalogue: entry 310115-CREDIT-XY01-006 names CreditRecord.content",
				"catalogue: entry 310115-PSB-RK01-002 names Citizen.name",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			governed := governedBy(catalogEntries())
			if tt.governed != nil {
				tt.governed(governed)
			}
			c, err := NewCatalog(tt.entries, governed)
			if err == nil {
				t.Fatalf("NewCatalog accepted the catalogue: %+v", c)
			}
			errs := unjoin(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), tt.want[i]) {
					t.Errorf("error %d = %q\nwant prefix %q", i, e.Error(), tt.want[i])
				}
			}
		})
	}
}

func TestCatalogLookups(t *testing.T) {
	entries := catalogEntries()
	c, err := NewCatalog(entries, governedBy(entries))
	if err != nil {
		t.Fatal(err)
	}
	codes := func(es []gateway.CatalogEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Code)
		}
		return out
	}
	tests := []struct {
		department string
		want       []string
	}{
		{"", []string{amrName.Code, hrssEmployer.Code, psbName.Code, psbGender.Code, psbPhone.Code}},
		{"psb", []string{psbName.Code, psbGender.Code, psbPhone.Code}},
		{"amr", []string{amrName.Code}},
		{"credit", nil},
	}
	for _, tt := range tests {
		t.Run("entries of "+tt.department, func(t *testing.T) {
			if got := codes(c.Entries(tt.department)); !slices.Equal(got, tt.want) {
				t.Errorf("Entries(%q) = %v, want %v", tt.department, got, tt.want)
			}
		})
	}

	if got, want := c.Departments(), []string{"amr", "hrss", "psb"}; !slices.Equal(got, want) {
		t.Errorf("Departments() = %v, want %v", got, want)
	}
	if e := c.ByCode(psbName.Code); e == nil || *e != psbName {
		t.Errorf("ByCode(%s) = %+v, want %+v", psbName.Code, e, psbName)
	}
	if e := c.ByField("SocialInsurance.employer"); e == nil || *e != hrssEmployer {
		t.Errorf("ByField(SocialInsurance.employer) = %+v, want %+v", e, hrssEmployer)
	}
	if e := c.ByCode("310115-PSB-RK01-999"); e != nil {
		t.Errorf("ByCode of an unknown code = %+v, want nil", e)
	}
	if e := c.ByField("Citizen.enterprises"); e != nil {
		t.Errorf("ByField of an ungoverned relation = %+v, want nil", e)
	}

	// What the catalogue hands out must not change it.
	entries[0].Class = gateway.Unconditional
	c.Entries("")[0].Class = gateway.NotShared
	c.Departments()[0] = "xxx"
	if e := c.ByCode(amrName.Code); e.Class != gateway.Unconditional {
		t.Errorf("catalogue entry changed through a returned slice: %+v", e)
	}
	if e := c.ByCode(psbPhone.Code); e.Class != gateway.NotShared {
		t.Errorf("catalogue entry changed through its input: %+v", e)
	}
	if got := c.Departments()[0]; got != "amr" {
		t.Errorf("Departments changed through a returned slice: %s", got)
	}
}

// TestDemoCatalog holds config/demo/catalog.yaml to the demo catalogue the guides describe
// (docs/guide-*.md): the schema uses these codes, so a change here is a change of the
// public contract.
func TestDemoCatalog(t *testing.T) {
	data, err := os.ReadFile("../config/demo/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCatalog(data, "catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const (
		U, C, N = gateway.Unconditional, gateway.Conditional, gateway.NotShared
		h       = time.Hour
	)
	want := []struct {
		code, field, owner string
		class              gateway.Class
		mask               gateway.Mask
		ttl                time.Duration
	}{
		{"310115-PSB-RK01-001", "Citizen.idNumber", "psb", C, gateway.MaskID, h},
		{"310115-PSB-RK01-002", "Citizen.name", "psb", C, gateway.MaskName, h},
		{"310115-PSB-RK01-003", "Citizen.gender", "psb", C, "", h},
		{"310115-PSB-RK01-004", "Citizen.birthDate", "psb", C, gateway.MaskYear, h},
		{"310115-PSB-RK01-005", "Citizen.ethnicity", "psb", C, "", h},
		{"310115-PSB-RK01-006", "Citizen.householdAddress", "psb", C, gateway.MaskDistrict, h},
		{"310115-PSB-RK01-007", "Citizen.phone", "psb", N, "", h},
		{"310115-AMR-QY01-001", "Enterprise.creditCode", "amr", U, "", 10 * time.Minute},
		{"310115-AMR-QY01-002", "Enterprise.name", "amr", U, "", 10 * time.Minute},
		{"310115-AMR-QY01-003", "Enterprise.legalRepresentativeName", "amr", C, gateway.MaskName, 10 * time.Minute},
		{"310115-AMR-QY01-004", "Enterprise.status", "amr", U, "", 10 * time.Minute},
		{"310115-AMR-QY01-005", "Enterprise.establishedOn", "amr", U, "", 10 * time.Minute},
		{"310115-AMR-QY01-006", "Enterprise.registeredCapital", "amr", U, "", 10 * time.Minute},
		{"310115-AMR-QY01-007", "Enterprise.businessScope", "amr", U, "", 10 * time.Minute},
		{"310115-AMR-QY01-008", "Enterprise.address", "amr", U, "", 10 * time.Minute},
		{"310115-CREDIT-XY01-001", "CreditRecord.id", "credit", U, "", h},
		{"310115-CREDIT-XY01-002", "CreditRecord.kind", "credit", U, "", h},
		{"310115-CREDIT-XY01-003", "CreditRecord.subjectId", "credit", U, "", h},
		{"310115-CREDIT-XY01-004", "CreditRecord.decisionNumber", "credit", U, "", h},
		{"310115-CREDIT-XY01-005", "CreditRecord.title", "credit", U, "", h},
		{"310115-CREDIT-XY01-006", "CreditRecord.content", "credit", C, "", h},
		{"310115-CREDIT-XY01-007", "CreditRecord.decidedOn", "credit", U, "", h},
		{"310115-CREDIT-XY01-008", "CreditRecord.validUntil", "credit", U, "", h},
		{"310115-CREDIT-XY01-009", "CreditRecord.issuedBy", "credit", U, "", h},
		{"310115-CREDIT-XY01-010", "CreditRecord.penaltyAmount", "credit", U, "", h},
		{"310115-HRSS-SB01-001", "SocialInsurance.insuranceType", "hrss", C, "", 24 * h},
		{"310115-HRSS-SB01-002", "SocialInsurance.status", "hrss", C, "", 24 * h},
		{"310115-HRSS-SB01-003", "SocialInsurance.employer", "hrss", C, "", 24 * h},
		{"310115-HRSS-SB01-004", "SocialInsurance.since", "hrss", C, "", 24 * h},
		{"310115-HRSS-SB01-005", "SocialInsurance.lastPaidMonth", "hrss", C, "", 24 * h},
		{"310115-HRSS-SB02-001", "Enterprise.insuredEmployees", "hrss", C, "", 24 * h},
	}
	if len(got) != len(want) {
		t.Fatalf("the demo catalogue has %d entries, want %d", len(got), len(want))
	}
	governed := map[string]string{}
	for i, w := range want {
		g := got[i]
		if g.Code != w.code || g.Field != w.field || g.Owner != w.owner || g.Class != w.class || g.Mask != w.mask || g.TTL != w.ttl {
			t.Errorf("entry %d = %s %s %s %s %q %v\n     want %s %s %s %s %q %v",
				i, g.Code, g.Field, g.Owner, g.Class, g.Mask, g.TTL, w.code, w.field, w.owner, w.class, w.mask, w.ttl)
		}
		if g.Description == "" {
			t.Errorf("entry %s has no description", g.Code)
		}
		governed[w.field] = w.code
	}
	c, err := NewCatalog(got, governed)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Departments(), []string{"amr", "credit", "hrss", "psb"}; !slices.Equal(got, want) {
		t.Errorf("Departments() = %v, want %v", got, want)
	}
}

// A copy of another department's datum may not be catalogued looser than its source
// without a published legal basis; its source must exist and be an original.
func TestCatalogCopies(t *testing.T) {
	src := `- department: psb
  entries:
    - {code: 310115-PSB-RK01-002, field: Citizen.name, class: CONDITIONAL, mask: name, ttl: 1h}
- department: amr
  entries:
`
	governed := map[string]string{"Citizen.name": "310115-PSB-RK01-002", "Enterprise.legalRepresentativeName": "310115-AMR-QY01-003"}
	for _, tc := range []struct{ name, entry, want string }{
		{"as strict as its source", `{code: 310115-AMR-QY01-003, field: Enterprise.legalRepresentativeName, class: CONDITIONAL, mask: name, ttl: 1h, copyOf: {code: 310115-PSB-RK01-002, via: legalRepresentative}}`, ""},
		{"looser without a basis", `{code: 310115-AMR-QY01-003, field: Enterprise.legalRepresentativeName, class: UNCONDITIONAL, ttl: 1h, copyOf: 310115-PSB-RK01-002}`, "is UNCONDITIONAL where its source is CONDITIONAL"},
		{"looser with a published basis", `{code: 310115-AMR-QY01-003, field: Enterprise.legalRepresentativeName, class: UNCONDITIONAL, ttl: 1h, copyOf: 310115-PSB-RK01-002, legalBasis: "企业信息公示暂行条例 第六条"}`, ""},
		{"another mask", `{code: 310115-AMR-QY01-003, field: Enterprise.legalRepresentativeName, class: CONDITIONAL, mask: district, ttl: 1h, copyOf: 310115-PSB-RK01-002}`, "masks as"},
		{"an unknown source", `{code: 310115-AMR-QY01-003, field: Enterprise.legalRepresentativeName, class: CONDITIONAL, mask: name, ttl: 1h, copyOf: 310115-PSB-RK01-009}`, "which the catalogue does not list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ParseCatalog([]byte(src+"    - "+tc.entry+"\n"), "c.yaml")
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewCatalog(entries, governed)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseCatalog([]byte(src+"    - {code: 310115-AMR-QY01-003, field: Enterprise.legalRepresentativeName, class: UNCONDITIONAL, ttl: 1h, legalBasis: x}\n"), "c.yaml"); err == nil {
		t.Error("a legal basis on an item that is no copy was accepted")
	}
}
