package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"

	"pudong.gov.cn/gateway/adapters/sqldb"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// The demo fixtures (docs/architecture.md, Demo data), answered live from the four
// simulators over their real protocols, as an owner-independent caller with full access:
// each department console sees its own fields, so one query per department reads
// everything.
func TestFixturesThroughEveryDepartment(t *testing.T) {
	g := Start(t)
	psb := g.Post(g.Token("psb-console"), `{ citizen(idNumber: "310115198503120012") {
		idNumber name gender birthDate ethnicity householdAddress phone } }`, nil)
	if len(psb.Errors) > 0 {
		t.Fatalf("errors: %s", psb.Raw)
	}
	for path, want := range map[string]string{
		"citizen.name": "张伟", "citizen.gender": "MALE", "citizen.birthDate": "1985-03-12",
		"citizen.ethnicity": "汉族", "citizen.phone": "13812345678",
		"citizen.householdAddress": "上海市浦东新区陆家嘴街道银城中路168弄3号1202室",
	} {
		if got := psb.Str(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}

	amr := g.Post(g.Token("amr-console"), `{ enterprise(creditCode: "91310115MA1FL0AB0P") {
		creditCode name legalRepresentativeName status establishedOn registeredCapital } }`, nil)
	for path, want := range map[string]string{
		"enterprise.name": "上海浦江智联科技有限公司", "enterprise.legalRepresentativeName": "张伟",
		"enterprise.status": "ACTIVE", "enterprise.establishedOn": "2016-04-18", "enterprise.registeredCapital": "5000000.00",
	} {
		if got := amr.Str(path); got != want {
			t.Errorf("%s = %q, want %q (%s)", path, got, want, amr.Raw)
		}
	}

	credit := g.Post(g.Token("credit-console"), `{ creditRecords(subject: "91310115607223817N") { kind title content penaltyAmount decidedOn } }`, nil)
	if credit.Str("creditRecords.0.kind") != "PENALTY" || credit.Str("creditRecords.0.penaltyAmount") != "50000.00" ||
		!strings.Contains(credit.Str("creditRecords.0.content"), "食品安全") {
		t.Errorf("E2's penalty: %s", credit.Raw)
	}

	hrss := g.Post(g.Token("hrss-console"), `{ citizen(idNumber: "310115200107150041") {
		socialInsurance { insuranceType status since employer { creditCode } } } }`, nil)
	ins, _ := hrss.Get("citizen.socialInsurance").([]any)
	if len(ins) != 3 {
		t.Fatalf("陈静 has three insurance types: %s", hrss.Raw)
	}
	for i := range ins {
		if hrss.Str("citizen.socialInsurance."+strconv.Itoa(i)+".since") != "2023-09" ||
			hrss.Str("citizen.socialInsurance."+strconv.Itoa(i)+".employer.creditCode") != dataset.E1 {
			t.Errorf("陈静's insurance %d: %s", i, hrss.Raw)
		}
	}
	self := g.Post(g.Token("hrss-console"), `{ citizen(idNumber: "310115196202280056") { socialInsurance { insuranceType employer { name } } } }`, nil)
	if self.Str("citizen.socialInsurance.0.insuranceType") != "PENSION" || self.Get("citizen.socialInsurance.0.employer") != nil {
		t.Errorf("刘洋 pays his own pension, with no employer: %s", self.Raw)
	}
}

// Cross-links: enterprise → legal representative → social insurance → employer, and a
// credit record's subject as a union member.
func TestCrossLinks(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("online-hall"), `{
	  enterprise(creditCode: "91310115607223817N") {
	    legalRepresentative { name socialInsurance { employer { name } } enterprises { creditCode } }
	    creditRecords { subject { __typename ... on Enterprise { name } } }
	    insuredEmployees
	  }
	  unregistered: enterprise(creditCode: "91310115MA1HW2X39Q") { legalRepresentative { idNumber name } }
	}`, nil)
	if got := r.Str("enterprise.legalRepresentative.name"); got != "王强" {
		t.Errorf("E2's legal representative = %q: %s", got, r.Raw)
	}
	if got := r.Str("enterprise.legalRepresentative.socialInsurance.0.employer.name"); got != "上海东岸食品有限公司" {
		t.Errorf("王强's employer = %q", got)
	}
	reps, _ := r.Get("enterprise.legalRepresentative.enterprises").([]any)
	if len(reps) != 2 {
		t.Errorf("王强 represents E2 and E3: %v", reps)
	}
	if r.Str("enterprise.creditRecords.0.subject.__typename") != "Enterprise" || r.Str("enterprise.creditRecords.0.subject.name") != "上海东岸食品有限公司" {
		t.Errorf("the penalty's subject: %s", r.Raw)
	}
	// E5's legal representative is missing from the population registry: the link
	// stands with the ID number, the registry's fields are null, and that is no error.
	if r.Str("unregistered.legalRepresentative.idNumber") != dataset.Unregistered || r.Get("unregistered.legalRepresentative.name") != nil {
		t.Errorf("E5's legal representative: %s", r.Raw)
	}
	if r.ErrorAt("unregistered.legalRepresentative.name") != nil {
		t.Errorf("a record the department does not have is null, not an error: %s", r.Raw)
	}
	// The supervision platform holds a grant on insuredEmployees; the online hall does not.
	if r.ErrorAt("enterprise.insuredEmployees") == nil {
		t.Errorf("online-hall has no grant on insuredEmployees: %s", r.Raw)
	}
	s := g.Post(g.Token("supervision-platform"), `{ enterprise(creditCode: "91310115MA1FL0AB0P") { insuredEmployees } }`, nil)
	if n, _ := s.Get("enterprise.insuredEmployees").(float64); n < 2 {
		t.Errorf("E1 insures 张伟 and 陈静 at least: %s", s.Raw)
	}
}

// Arguments are validated before any department is called.
func TestArgumentValidation(t *testing.T) {
	g := Start(t)
	tok := g.Token("online-hall")
	for _, tc := range []struct{ query, rule string }{
		{`{ citizen(idNumber: "310115198503120013") { name } }`, "GB 11643"},
		{`{ citizen(idNumber: "12345") { name } }`, "18 characters"},
		{`{ enterprise(creditCode: "91310115MA1FL0AB0Q") { name } }`, "GB 32100"},
		{`{ creditRecords(subject: "hello") { id } }`, "subject"},
		{`{ enterprises(legalRepresentative: "310115198503120013") { totalCount } }`, "GB 11643"},
		{`{ enterprises(first: 101) { totalCount } }`, "first"},
		{`{ enterprises(after: "bogus") { totalCount } }`, "cursor"},
	} {
		r := g.Post(tok, tc.query, nil)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, tc.rule) {
			t.Errorf("%s: want one BAD_USER_INPUT naming %q, got %s", tc.query, tc.rule, r.Raw)
		}
	}
	if n := g.Sims.PSB.Count("QueryPerson") + g.Sims.AMR.Count("get") + g.Sims.AMR.Count("batch") + g.Sims.AMR.Count("list"); n != 0 {
		t.Errorf("invalid arguments reached the departments: %d calls", n)
	}
	r := g.Post(tok, `{ citizen(idNumber: "310115199912310073") { name } }`, nil)
	if r.Get("citizen") != nil || len(r.Errors) != 0 {
		t.Errorf("a person the registry does not have is null without error: %s", r.Raw)
	}
}

// A page of 50 enterprises with their credit records and legal representatives makes
// one AMR call, one credit query, and PSB calls bounded by the distinct persons.
func TestBatchingAvoidsNPlusOne(t *testing.T) {
	// A window wide enough for a slow run (-race on a loaded machine) to register the
	// whole list's keys: the subject here is batching, not the window's length.
	g := Start(t, func(c *config.Config) { c.Cache.Disabled = true; c.Limits.BatchWait = 20 * time.Millisecond })
	credit := g.Parts.Fed.Department("credit").Source().(*sqldb.Source)
	page := g.Post(g.Token("amr-console"), `{ enterprises(first: 50) { edges { node { creditCode } } } }`, nil)
	reps := map[string]string{}
	for e := range g.Sims.Data.AllEnterprises() {
		reps[e.CreditCode] = e.LegalRepID
	}
	persons := map[string]bool{}
	for i := 0; i < 50; i++ {
		persons[reps[page.Str("enterprises.edges."+strconv.Itoa(i)+".node.creditCode")]] = true
	}
	g.Sims.AMR.Reset()
	g.Sims.PSB.Reset()
	before := credit.Queries()
	r := g.Post(g.Token("supervision-platform"), `{ enterprises(first: 50) {
		totalCount edges { node { name creditRecords { kind title } legalRepresentative { name } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Raw)
	}
	edges, _ := r.Get("enterprises.edges").([]any)
	if len(edges) != 50 {
		t.Fatalf("%d edges", len(edges))
	}
	if n := g.Sims.AMR.Counts(); n["list"] != 1 || n["batch"]+n["get"] != 0 {
		t.Errorf("AMR calls: %v, want one list call", n)
	}
	if q := credit.Queries() - before; q != 1 {
		t.Errorf("credit queries: %d, want 1", q)
	}
	if n := g.Sims.PSB.Count("QueryPerson"); n > int64(len(persons)) {
		t.Errorf("PSB calls: %d for %d distinct persons", n, len(persons))
	}
}

// A department that is down turns into SOURCE_UNAVAILABLE on its own fields only.
func TestDepartmentDownAffectsOnlyItsFields(t *testing.T) {
	g := Start(t)
	if err := g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeDown}); err != nil {
		t.Fatal(err)
	}
	r := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") {
		name socialInsurance { insuranceType } enterprises { name } } }`, nil)
	e := r.ErrorAt("citizen.name")
	if e == nil || e.Extensions["code"] != "SOURCE_UNAVAILABLE" || e.Extensions["department"] != "psb" {
		t.Fatalf("want SOURCE_UNAVAILABLE from psb at citizen.name: %s", r.Raw)
	}
	if r.Str("citizen.socialInsurance.0.insuranceType") != "PENSION" || r.Str("citizen.enterprises.0.name") == "" {
		t.Errorf("other departments' fields must stand: %s", r.Raw)
	}
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeGarbage})
	r = g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115199001010029") { name } }`, nil)
	if e := r.ErrorAt("citizen.name"); e == nil || e.Extensions["code"] != "SOURCE_ERROR" {
		t.Errorf("garbage from psb: want SOURCE_ERROR: %s", r.Raw)
	}
}

// Warm, the same sweep asks no department at all, and the response says where its data
// came from and how old it is.
func TestWarmSweepMakesNoUpstreamCalls(t *testing.T) {
	g := Start(t)
	credit := g.Parts.Fed.Department("credit").Source().(*sqldb.Source)
	q := `{ enterprises(first: 50) { edges { node { name creditRecords { kind title } legalRepresentative { name } } } } }`
	tok := g.Token("supervision-platform")
	cold := g.Post(tok, q, nil)
	if src, _ := cold.Extensions["sources"].(map[string]any); src["amr"] == nil {
		t.Fatalf("freshness report: %s", cold.Raw)
	}
	g.Sims.AMR.Reset()
	g.Sims.PSB.Reset()
	before := credit.Queries()
	// Another consumer: the cache holds records, not a caller's view, so one caller's
	// request warms it for all.
	warm := g.Post(g.Token("online-hall"), q, nil)
	if n := g.Sims.AMR.Counts()["list"] + g.Sims.PSB.Count("QueryPerson") + (credit.Queries() - before); n != 0 {
		t.Errorf("warm sweep made %d upstream calls (amr %v, psb %d, credit %d)", n, g.Sims.AMR.Counts(), g.Sims.PSB.Count("QueryPerson"), credit.Queries()-before)
	}
	// The cache is shared: hits and ages would tell one consumer that another asked
	// about the same people, so only a department's own console sees them.
	src := warm.Extensions["sources"].(map[string]any)
	for _, d := range []string{"amr", "credit", "psb"} {
		s, _ := src[d].(map[string]any)
		if s == nil || s["stale"] != false || s["cacheHits"] != nil || s["maxAgeSeconds"] != nil {
			t.Errorf("%s freshness for online-hall: %v", d, s)
		}
	}
	own := g.Post(g.Token("amr-console"), q, nil)
	if s, _ := own.Extensions["sources"].(map[string]any)["amr"].(map[string]any); s == nil || s["cacheHits"].(float64) < 1 {
		t.Errorf("amr freshness for amr's own console: %v", s)
	}
}

// The request id a client gets in X-Request-Id reaches the departments' systems.
func TestRequestIDReachesDepartments(t *testing.T) {
	g := Start(t, func(c *config.Config) { c.Cache.Disabled = true })
	r := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name enterprises { name } } }`, nil)
	id := r.Header.Get("X-Request-Id")
	if id == "" || g.Sims.PSB.LastRequestID() != id || g.Sims.AMR.LastRequestID() != id {
		t.Errorf("request id %q; psb saw %q, amr saw %q", id, g.Sims.PSB.LastRequestID(), g.Sims.AMR.LastRequestID())
	}
}
