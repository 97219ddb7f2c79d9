package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/server"
	"pudong.gov.cn/gateway/store"
)

// The eight ways an outside review got around the policy (docs/SECURITY.md, "one datum,
// one policy"), each as the query the review sent.

// 1. The same datum under a second code: the enterprise registry's copy of a legal
// representative's name and the credit platform's copy of an ID number are decided,
// masked and audited as the population registry's datum.
func TestCopiesAreGovernedAsTheirSource(t *testing.T) {
	g := Start(t)
	tok := g.Token("playground")
	r := g.Post(tok, `{ enterprise(creditCode: "91310115607223817N") { legalRepresentativeName legalRepresentative { name idNumber } } }`, nil)
	if r.Str("enterprise.legalRepresentativeName") != "王*" || r.Str("enterprise.legalRepresentative.name") != "王*" {
		t.Errorf("the copy of the name is masked as the name: %s", r.Raw)
	}
	r2 := g.Post(tok, `{ enterprises(first: 100) { edges { node { legalRepresentativeName creditRecords { subjectId } } } } }`, nil)
	for _, secret := range []string{"王强", "张伟", "刘洋", dataset.WangQiang, dataset.ZhangWei, dataset.LiuYang} {
		if bytes.Contains(r.Raw, []byte(secret)) || bytes.Contains(r2.Raw, []byte(secret)) {
			t.Errorf("%q leaks through a copy", secret)
		}
	}
	events, err := g.Parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: "psb", Subject: dataset.WangQiang})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		if e.Code == "310115-PSB-RK01-002" && e.Consumer == "playground" && e.Decision == "MASK" {
			found = true
		}
	}
	if !found {
		t.Errorf("the masked read of 王强's name through the copy is not audited as psb's datum: %+v", events)
	}
}

// 2. Arguments and counts as an oracle: counting enterprises by candidate ID numbers
// that fit a masked one is refused, and so is following a person's enterprises.
func TestLookupsByAMaskedDatumAreRefused(t *testing.T) {
	g := Start(t)
	var b strings.Builder
	b.WriteString("{")
	n := 0
	for day := 1; day <= 24; day++ {
		prefix := fmt.Sprintf("3101151962%02d%02d005", 2, day)
		id := prefix + string(idcode.IDCheckDigit(prefix))
		fmt.Fprintf(&b, " a%d: enterprises(legalRepresentative: %q, first: 1) { totalCount }", n, id)
		fmt.Fprintf(&b, " c%d: citizen(idNumber: %q) { enterprises { creditCode } }", n, id)
		n++
	}
	b.WriteString(" }")
	r := g.Post(g.Token("playground"), b.String(), nil)
	if bytes.Contains(r.Raw, []byte("totalCount\":1")) || bytes.Contains(r.Raw, []byte(dataset.E4)) {
		t.Errorf("a candidate was confirmed: %.2000s", r.Raw)
	}
	for i := 0; i < n; i++ {
		if e := r.ErrorAt(fmt.Sprintf("a%d", i)); e == nil || e.Extensions["code"] != "FORBIDDEN_ARGUMENT" {
			t.Fatalf("a%d: want FORBIDDEN_ARGUMENT: %.1000s", i, r.Raw)
		}
	}
}

// 3. Aliases multiply the rate limit: the budget counts distinct people, however the
// query is shaped.
func TestBudgetCountsPeopleNotRequests(t *testing.T) {
	g := Start(t, RestoreSubjectLimits, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	tok := g.Token("ipudong-portal", dataset.LiNa)
	answered := 0
	for req := 0; req < 20; req++ {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 50; i++ {
			prefix := fmt.Sprintf("31011519%02d0101%03d", 50+req, i)
			fmt.Fprintf(&b, " p%d: citizen(idNumber: %q) { name }", i, prefix+string(idcode.IDCheckDigit(prefix)))
		}
		b.WriteString(" }")
		r := g.Post(tok, b.String(), nil)
		for i := 0; i < 50; i++ {
			if e := r.ErrorAt(fmt.Sprintf("p%d", i)); e == nil {
				answered++
			} else if e.Extensions["code"] != "SUBJECT_LIMIT_EXCEEDED" {
				t.Fatalf("unexpected refusal: %+v", e)
			}
		}
	}
	limit := g.Cfg.Consumer("ipudong-portal").Subjects()
	if answered > limit.PerMinute+1 || answered == 0 {
		t.Errorf("1000 aliased lookups answered %d, want at most the %d people a minute", answered, limit.PerMinute)
	}
}

// 4. Self-service is per person: a citizen cannot file requests, sees only their own,
// and no grant to the portal opens one citizen's data to another.
func TestSelfServiceIsPerPerson(t *testing.T) {
	g := Start(t, func(c *config.Config) {
		for i := range c.Consumers {
			if c.Consumers[i].SelfService {
				c.Consumers[i].Grants = append(c.Consumers[i].Grants, config.Grant{Purpose: c.Consumers[i].Purpose, Codes: []string{"310115-PSB-RK01-003"}})
			}
		}
	})
	zhang := g.Token("ipudong-portal", dataset.ZhangWei)
	r := g.Post(zhang, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-003"], justification: "my phone is 13812345678"}) { id } }`, nil)
	if e := r.ErrorAt("requestSharing"); e == nil || e.Extensions["code"] != "FORBIDDEN" {
		t.Errorf("a citizen files a sharing request: %s", r.Raw)
	}
	li := g.Token("ipudong-portal", dataset.LiNa)
	if r := g.Post(li, `{ sharingRequests { justification } }`, nil); bytes.Contains(r.Raw, []byte("13812345678")) {
		t.Errorf("李娜 reads 张伟's request: %s", r.Raw)
	}
	if r := g.Post(li, `{ citizen(idNumber: "310115198503120012") { gender } }`, nil); r.Get("citizen.gender") != nil {
		t.Errorf("a grant to the portal opened 张伟's gender to 李娜: %s", r.Raw)
	}
}

// 5. extensions.sources tells nobody else who looked up whom.
func TestFreshnessRevealsNoOtherConsumer(t *testing.T) {
	g := Start(t)
	g.Post(g.Token("psb-console"), `{ citizen(idNumber: "310115196202280056") { name } }`, nil)
	r := g.Post(g.Token("playground"), `{ citizen(idNumber: "310115196202280056") { name } }`, nil)
	psb, _ := r.Extensions["sources"].(map[string]any)["psb"].(map[string]any)
	if psb == nil || psb["cacheHits"] != nil || psb["maxAgeSeconds"] != nil || psb["fetched"] != nil {
		t.Errorf("the playground learns of psb's read: %v", psb)
	}
}

// 6. A client never picks the audit's request id; its id is kept beside the gateway's.
func TestClientCannotChooseTheAuditRequestID(t *testing.T) {
	g := Start(t)
	body, _ := json.Marshal(map[string]any{"query": `{ citizen(idNumber: "310115198503120012") { name } }`})
	req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.Token("online-hall"))
	req.Header.Set("X-Request-Id", "another-consumers-id-0001")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	id := res.Header.Get("X-Request-Id")
	if id == "" || id == "another-consumers-id-0001" || res.Header.Get("X-Client-Request-Id") != "another-consumers-id-0001" {
		t.Fatalf("request ids: gateway %q, client %q", id, res.Header.Get("X-Client-Request-Id"))
	}
	events, err := g.Parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: "psb"})
	if err != nil || len(events) == 0 {
		t.Fatalf("no events: %v", err)
	}
	for _, e := range events {
		if e.RequestID != id || e.ClientRequestID != "another-consumers-id-0001" {
			t.Errorf("event ids: %q (client %q), want %q", e.RequestID, e.ClientRequestID, id)
		}
	}

	// A correlation id that holds an ID number or a mobile number is not kept: every log
	// line of the request would carry it.
	for _, personal := range []string{"hall-310115198503120012", "call-13812345678-1"} {
		req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+g.Token("online-hall"))
		req.Header.Set("X-Request-Id", personal)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if got := res.Header.Get("X-Client-Request-Id"); got != "" {
			t.Errorf("correlation id %q kept as %q", personal, got)
		}
		if strings.Contains(g.Logs.String(), personal) {
			t.Errorf("correlation id %q is in the log", personal)
		}
	}
}

// 7. @defer is refused before execution: no part is promised that is never sent, and no
// department is asked.
func TestDeferIsRefusedBeforeExecution(t *testing.T) {
	g := Start(t)
	g.Sims.PSB.Reset()
	r := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name ... @defer { birthDate } } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INCREMENTAL_DELIVERY_NOT_SUPPORTED" || r.Data != nil {
		t.Errorf("@defer: %s", r.Raw)
	}
	if bytes.Contains(r.Raw, []byte("hasNext")) || g.Sims.PSB.Count("QueryPerson") != 0 {
		t.Errorf("@defer executed: %s (psb calls %d)", r.Raw, g.Sims.PSB.Count("QueryPerson"))
	}
}

// Role checks are the schema's @role: a caller without the role is refused before any
// resolver runs, whatever the operation.
func TestRolesAreADirective(t *testing.T) {
	g := Start(t)
	tok := g.Token("playground")
	for _, q := range []string{
		`{ sharingStats { department } }`,
		`{ auditEvents { totalCount } }`,
		`mutation { decideSharingRequest(id: "x", approve: true) { id } }`,
		`mutation { revokeGrant(id: "x") { id } }`,
		`mutation { purgeCache(department: "psb") }`,
	} {
		r := g.Post(tok, q, nil)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["roles"] == nil {
			t.Errorf("%s: %s", q, r.Raw)
		}
	}
	if r := g.Post(g.Token("cio-console"), `{ sharingStats { department } }`, nil); len(r.Errors) != 0 {
		t.Errorf("the CIO office reads its statistics: %s", r.Raw)
	}
}

// 8. Automatic persisted queries tell nobody else who looked up whom: a query text one
// caller registered by its hash (with an ID number written into it) is not known under
// that hash to another consumer, nor to another end user of the same consumer, so a
// probe by hash alone cannot learn whether somebody asked about a person.
func TestPersistedQueriesRevealNoOtherCaller(t *testing.T) {
	g := Start(t)
	query := `{ citizen(idNumber: "310115196202280056") { name } }`
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": server.QueryHash(query)}}
	send := func(tok string, body map[string]any) string {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		_, raw := g.Do(req)
		return string(raw)
	}
	hall := g.Token("online-hall")
	if r := send(hall, map[string]any{"query": query, "extensions": ext}); !strings.Contains(r, `"name"`) || strings.Contains(r, "errors") {
		t.Fatalf("the hall registers its query: %s", r)
	}
	if r := send(hall, map[string]any{"extensions": ext}); strings.Contains(r, "PersistedQueryNotFound") {
		t.Errorf("the hall's own hash: %s", r)
	}
	for name, tok := range map[string]string{
		"playground":              g.Token("playground"),
		"another citizen":         g.Token("ipudong-portal", "310115199001010029"),
		"another hall clerk":      g.TokenWith(auth.Claims{Consumer: "online-hall", Purpose: "administrative-approval", Subject: "clerk-2"}),
		"the hall, other purpose": g.TokenWithPurpose("online-hall", "marketing"),
	} {
		if r := send(tok, map[string]any{"extensions": ext}); !strings.Contains(r, "PersistedQueryNotFound") {
			t.Errorf("%s learns by hash alone that the query was asked: %s", name, r)
		}
	}
}

// 9. An answer is nobody's to keep but the caller's: every GraphQL answer, by GET (which
// browsers and proxies cache) and by POST, error or not, says Cache-Control: no-store,
// so a kiosk's browser cache or a shared proxy does not keep a citizen's data.
func TestAnswersAreNotStoredByCaches(t *testing.T) {
	g := Start(t)
	tok := g.Token("online-hall")
	q := URLQueryEscape(`{ citizen(idNumber: "310115198503120012") { name householdAddress } }`)
	get, _ := http.NewRequest(http.MethodGet, g.Srv.URL+"/graphql?query="+q, nil)
	get.Header.Set("Authorization", "Bearer "+tok)
	res, raw := g.Do(get)
	if !bytes.Contains(raw, []byte("张伟")) {
		t.Fatalf("GET: %d %s", res.StatusCode, raw)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("GET answer with personal data: Cache-Control %q", cc)
	}
	for _, r := range []Resp{g.Post(tok, `{ citizen(idNumber: "310115198503120012") { name } }`, nil), g.Post(tok, `{ nope }`, nil)} {
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("POST answer: Cache-Control %q: %s", cc, r.Raw)
		}
	}
}

// 10. The catalogue tells each caller what it gets of a copy: the access its answers
// show (the source's), and whether a sharing request could change it. A copy is decided
// as its source, so a request to the copy's holder would open nothing; the request is
// refused with the source's code to ask for instead.
func TestCatalogueShowsCopiesAsTheyAreDecided(t *testing.T) {
	g := Start(t)
	const copyCode = "310115-AMR-QY01-003"
	for _, consumer := range []string{"online-hall", "playground", "supervision-platform", "psb-console", "amr-console"} {
		tok := g.Token(consumer)
		r := g.Post(tok, `{ catalog(department: "amr") { code access requestable } enterprise(creditCode: "91310115607223817N") { legalRepresentativeName } }`, nil)
		got := map[string]string{"王强": "ALLOW", "王*": "MASK", "": "DENY"}[r.Str("enterprise.legalRepresentativeName")]
		for _, e := range r.Get("catalog").([]any) {
			e := e.(map[string]any)
			if e["code"] != copyCode {
				continue
			}
			if e["access"] != got {
				t.Errorf("%s: the catalogue says %v, the answer is %s: %s", consumer, e["access"], got, r.Raw)
			}
			if e["requestable"] == true {
				t.Errorf("%s: the catalogue offers a request for %s, which would open nothing", consumer, copyCode)
			}
		}
	}
	r := g.Post(g.Token("playground"), `mutation { requestSharing(input: {codes: ["`+copyCode+`"], justification: "names"}) { id } }`, nil)
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "310115-PSB-RK01-002") {
		t.Errorf("a request for a copy: %s", r.Raw)
	}
}
