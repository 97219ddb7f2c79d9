package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// Values of 张伟 that only some callers may see, to search for in raw response bytes.
var zhangWeiSecrets = map[string]string{
	"name":      "张伟",
	"birthDate": "1985-03-12",
	"address":   "陆家嘴街道银城中路",
	"phone":     "13812345678",
	"id":        "310115198503120012",
}

const everyCitizenField = `idNumber name gender birthDate ethnicity householdAddress phone`

func TestPlaygroundSeesMasksAndDenials(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("playground"), `{ citizen(idNumber: "310115198503120012") { `+everyCitizenField+` } }`, nil)
	want := map[string]string{
		"citizen.idNumber": "310115********0012", "citizen.name": "张*", "citizen.birthDate": "1985",
		"citizen.householdAddress": "上海市浦东新区",
	}
	for path, v := range want {
		if got := r.Str(path); got != v {
			t.Errorf("%s = %q, want masked %q", path, got, v)
		}
	}
	for _, f := range []string{"gender", "ethnicity", "phone"} {
		e := r.ErrorAt("citizen." + f)
		if e == nil || e.Extensions["code"] != "FORBIDDEN_FIELD" || e.Extensions["owner"] != "psb" || e.Extensions["catalogCode"] == nil {
			t.Errorf("citizen.%s: want FORBIDDEN_FIELD with code and owner: %s", f, r.Raw)
		}
		if r.Get("citizen."+f) != nil {
			t.Errorf("citizen.%s must be null", f)
		}
	}
	if e := r.ErrorAt("citizen.phone"); e != nil && e.Extensions["class"] != "NONE" {
		t.Errorf("phone is class NONE: %v", e.Extensions)
	}
	masked, _ := r.Extensions["masked"].([]any)
	if len(masked) != 4 {
		t.Errorf("the four masked fields are listed in extensions: %v", r.Extensions)
	}
	for k, v := range zhangWeiSecrets {
		if k == "id" {
			continue // the ID is the argument, echoed in the path of nothing but the query
		}
		if bytes.Contains(r.Raw, []byte(v)) {
			t.Errorf("the raw response leaks %s: %s", k, r.Raw)
		}
	}
}

func TestGrantIsBoundToPurpose(t *testing.T) {
	g := Start(t)
	q := `{ citizen(idNumber: "310115198503120012") { name birthDate householdAddress gender } }`
	r := g.Post(g.Token("online-hall"), q, nil)
	if r.Str("citizen.name") != "张伟" || r.Str("citizen.birthDate") != "1985-03-12" || !strings.Contains(r.Str("citizen.householdAddress"), "银城中路") {
		t.Errorf("online-hall's grant opens name, birth date and address: %s", r.Raw)
	}
	if r.ErrorAt("citizen.gender") == nil {
		t.Errorf("gender is not in online-hall's grant: %s", r.Raw)
	}
	other := g.TokenWith(auth.Claims{Consumer: "online-hall", Purpose: "marketing"})
	r = g.Post(other, q, nil)
	if r.Str("citizen.name") != "张*" || r.Str("citizen.birthDate") != "1985" {
		t.Errorf("with another purpose the grant does not apply: %s", r.Raw)
	}
	if bytes.Contains(r.Raw, []byte("张伟")) || bytes.Contains(r.Raw, []byte("银城中路")) {
		t.Errorf("leak with the wrong purpose: %s", r.Raw)
	}
}

func TestCitizenSelfService(t *testing.T) {
	g := Start(t)
	tok := g.Token("ipudong-portal", dataset.ZhangWei)
	r := g.Post(tok, `{ citizen(idNumber: "310115198503120012") { `+everyCitizenField+`
		socialInsurance { insuranceType since } creditRecords { kind } enterprises { name } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("a citizen sees all of their own data: %s", r.Raw)
	}
	if r.Str("citizen.phone") != "13812345678" || r.Str("citizen.gender") != "MALE" || r.Str("citizen.socialInsurance.0.insuranceType") != "PENSION" {
		t.Errorf("own data in full: %s", r.Raw)
	}
	// Someone else: only unconditional or masked.
	r = g.Post(tok, `{ citizen(idNumber: "310115199001010029") { name phone socialInsurance { insuranceType } creditRecords { title content } } }`, nil)
	if r.Str("citizen.name") != "李*" {
		t.Errorf("another citizen's name is masked: %s", r.Raw)
	}
	if r.Get("citizen.phone") != nil || r.ErrorAt("citizen.phone") == nil {
		t.Errorf("another citizen's phone is denied: %s", r.Raw)
	}
	if r.Get("citizen.socialInsurance") != nil || r.ErrorAt("citizen.socialInsurance") == nil {
		t.Errorf("another citizen's insurance is denied: %s", r.Raw)
	}
	// Credit records are found by the person's ID number, which the portal sees only
	// masked for anyone else: following the relation would link records it cannot read.
	if r.Get("citizen.creditRecords") != nil || r.ErrorAt("citizen.creditRecords") == nil {
		t.Errorf("another citizen's credit records are a join by a masked ID number: %s", r.Raw)
	}
	for _, leak := range []string{"李娜", "13987654321", "长期参与社区志愿服务"} {
		if bytes.Contains(r.Raw, []byte(leak)) {
			t.Errorf("leak of %q: %s", leak, r.Raw)
		}
	}
	// Own credit records through another path (a credit record's subject) are own data too.
	r = g.Post(g.Token("ipudong-portal", dataset.LiNa), `{ creditRecords(subject: "310115199001010029") { content subject { ... on Citizen { name phone } } } }`, nil)
	if len(r.Errors) > 0 || r.Str("creditRecords.0.subject.name") != "李娜" || r.Str("creditRecords.0.content") == "" {
		t.Errorf("李娜 sees her own credit record in full: %s", r.Raw)
	}
}

func TestOwnerConsoleSeesItsNotSharedFields(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("psb-console"), `{ citizen(idNumber: "310115198503120012") { phone socialInsurance { insuranceType } } }`, nil)
	if r.Str("citizen.phone") != "13812345678" {
		t.Errorf("psb sees its own NONE field: %s", r.Raw)
	}
	if r.ErrorAt("citizen.socialInsurance") == nil {
		t.Errorf("psb does not see hrss's conditional data: %s", r.Raw)
	}
}

// Aliases, fragments, inline fragments, union members, list elements and error messages
// never carry a denied value: checked on the raw bytes.
func TestNoPathRevealsADeniedValue(t *testing.T) {
	g := Start(t)
	q := `
	query Q($id: ID!) {
	  a: citizen(idNumber: $id) { p1: phone n: name ...F ... on Citizen { p2: phone g: gender } }
	  e: enterprise(creditCode: "91310115MA1FL0AB0P") {
	    legalRepresentative { phone ...F }
	    creditRecords { subject { ... on Citizen { phone } ... on Enterprise { name } } }
	  }
	  list: enterprises(legalRepresentative: $id) { edges { node { legalRepresentative { x: phone y: phone } } } }
	  cr: creditRecords(subject: "310115197811200036") { content subject { ... on Citizen { phone name } } }
	}
	fragment F on Citizen { phone householdAddress deep: enterprises { legalRepresentative { phone } } }`
	r := g.Post(g.Token("playground"), q, map[string]any{"id": dataset.ZhangWei})
	for _, secret := range []string{"13812345678", "13601234567", "银城中路", "崂山路", "MALE", "拒不履行"} {
		if bytes.Contains(r.Raw, []byte(secret)) {
			t.Errorf("denied value %q in the raw response: %s", secret, r.Raw)
		}
	}
	if len(r.Errors) < 6 {
		t.Errorf("every denied path carries an error: %s", r.Raw)
	}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "FORBIDDEN_FIELD" && e.Extensions["code"] != "FORBIDDEN_ARGUMENT" {
			t.Errorf("unexpected error: %+v", e)
		}
	}
	// Filtering by a person's ID number, which the playground sees only masked, is refused.
	for _, p := range []string{"list", "cr"} {
		if e := r.ErrorAt(p); e == nil || e.Extensions["code"] != "FORBIDDEN_ARGUMENT" {
			t.Errorf("%s: want FORBIDDEN_ARGUMENT: %s", p, r.Raw)
		}
	}
}

// When every field a query selects from a department is denied, the department is not
// called at all.
func TestDataMinimisation(t *testing.T) {
	g := Start(t)
	g.Sims.PSB.Reset()
	r := g.Post(g.Token("playground"), `{ citizen(idNumber: "310115198503120012") { idNumber phone gender } }`, nil)
	if r.Str("citizen.idNumber") != "310115********0012" {
		t.Errorf("the masked key is still answered: %s", r.Raw)
	}
	if n := g.Sims.PSB.Count("QueryPerson"); n != 0 {
		t.Errorf("PSB was called %d times for a query whose PSB fields are all denied", n)
	}
	hrssBefore := g.Parts.Fed.Department("hrss")
	_ = hrssBefore
	r = g.Post(g.Token("playground"), `{ citizen(idNumber: "310115198503120012") { socialInsurance { insuranceType status } } }`, nil)
	if e := r.ErrorAt("citizen.socialInsurance"); e == nil || e.Extensions["owner"] != "hrss" {
		t.Errorf("all-denied relation: want FORBIDDEN_FIELD naming hrss: %s", r.Raw)
	}
	// Once a field is visible, the department is asked.
	g.Post(g.Token("playground"), `{ citizen(idNumber: "310115198503120012") { name } }`, nil)
	if n := g.Sims.PSB.Count("QueryPerson"); n != 1 {
		t.Errorf("PSB calls after a masked field was asked for: %d, want 1", n)
	}
}

func TestUnauthenticatedIsRefused(t *testing.T) {
	g := Start(t)
	r := g.Post("", `{ me { consumer } }`, nil)
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Errorf("no token: %d %v %s", r.Status, r.Header, r.Raw)
	}
	r = g.Post(g.TokenWith(auth.Claims{Consumer: "unknown-app", Purpose: "x"}), `{ me { consumer } }`, nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("unknown consumer: %d %s", r.Status, r.Raw)
	}
}

func TestMe(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("online-hall"), `{ me { consumer purpose department roles grants { codes purpose active } } }`, nil)
	if r.Str("me.consumer") != "online-hall" || r.Str("me.purpose") != "administrative-approval" {
		t.Errorf("me: %s", r.Raw)
	}
	if codes, _ := r.Get("me.grants.0.codes").([]any); len(codes) != 10 {
		t.Errorf("online-hall's static grant has 10 codes: %s", r.Raw)
	}
	r = g.Post(g.Token("ipudong-portal", dataset.ChenJing), `{ me { citizen { name phone } } }`, nil)
	if r.Str("me.citizen.name") != "陈静" || r.Get("me.citizen.phone") != nil {
		t.Errorf("the self-service citizen (no phone on file): %s", r.Raw)
	}
}

func TestQueryLimits(t *testing.T) {
	g := Start(t, func(c *config.Config) { c.Limits.Aliases = 5 })
	tok := g.Token("online-hall")
	deep := `{ enterprise(creditCode: "91310115MA1FL0AB0P") { legalRepresentative { enterprises { legalRepresentative { enterprises { legalRepresentative { enterprises { legalRepresentative { enterprises { legalRepresentative { name } } } } } } } } } } }`
	r := g.Post(tok, deep, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "QUERY_TOO_DEEP" {
		t.Errorf("depth: %s", r.Raw)
	}
	r = g.Post(tok, `{ a: me { consumer } b: me { consumer } c: me { consumer } d: me { consumer } e: me { consumer } f: me { consumer } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "TOO_MANY_ALIASES" {
		t.Errorf("aliases: %s", r.Raw)
	}
	r = g.Post(tok, `{ enterprises(first: 100) { edges { node { creditRecords { id } legalRepresentative { creditRecords { id } enterprises { creditRecords { id } } } } } } }`, nil)
	if len(r.Errors) == 0 || !strings.Contains(strings.ToLower(r.Errors[0].Message), "complex") {
		t.Errorf("complexity: %s", r.Raw)
	}
	big := `{ me { consumer } }` + strings.Repeat(" ", 1<<20)
	r = g.Post(tok, big, nil)
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("body size: %d %s", r.Status, r.Raw)
	}
}

func TestIntrospectionSwitch(t *testing.T) {
	on := Start(t)
	if r := on.Post(on.Token("playground"), `{ __schema { queryType { name } } }`, nil); r.Str("__schema.queryType.name") != "Query" {
		t.Errorf("introspection is on in demo mode: %s", r.Raw)
	}
	off := Start(t, func(c *config.Config) { c.Introspection = false })
	if r := off.Post(off.Token("playground"), `{ __schema { queryType { name } } }`, nil); len(r.Errors) == 0 || r.Get("__schema") != nil ||
		r.Errors[0].Extensions["code"] != errcode.IntrospectionDisabled {
		t.Errorf("introspection off: %s", r.Raw)
	}
}

// TestUnreadableArgument: an argument gqlgen itself cannot read (a Time that does not
// parse) is the client's mistake, BAD_USER_INPUT, not an internal error (errcode).
func TestUnreadableArgument(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("psb-console"), `mutation { decideSharingRequest(id: "x", approve: true, validUntil: "next tuesday") { id } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != errcode.BadUserInput {
		t.Errorf("an unreadable Time argument: %s", r.Raw)
	}
}
