package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/legacysim/simhttp"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
)

// On PostgreSQL the readiness probe once sent a requester name with a NUL byte, which
// PostgreSQL refuses, so /readyz answered 503 while queries worked and a load balancer
// following docs/operators.md took every replica out of service.
func TestReadyOnPostgres(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	g := Start(t, func(c *config.Config) { c.Store = config.Store{Driver: "postgres", DSN: dsn} })
	res, err := http.Get(g.Srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz on PostgreSQL: %d, components %v", res.StatusCode, g.readyz())
	}
	g.Parts.Store.Close()
	if c := g.readyz(); c["store"] != "down" {
		t.Errorf("/readyz with the store closed: %v", c)
	}
}

// A store that stalls (behind a proxy that stopped forwarding) once held every audited
// request for as long as it stalled. With audit.commitTimeout the answer is withheld with
// AUDIT_UNAVAILABLE within that bound, and no data leaves unaudited.
func TestStalledStoreFailsAuditedRequestsFast(t *testing.T) {
	dsn, proxy := pgtest.Through(t, pgtest.FreshSchema(t))
	const bound = 300 * time.Millisecond
	g := Start(t, func(c *config.Config) {
		c.Store = config.Store{Driver: "postgres", DSN: dsn, Timeout: bound}
		c.Audit.CommitTimeout = bound
	})
	t.Cleanup(proxy.Close) // before the gateway closes: nothing may wait on the stall
	tok := g.Token("online-hall")
	q := `{ citizen(idNumber: "310115199001010029") { name birthDate } }`
	if r := g.Post(tok, q, nil); r.Str("citizen.name") == "" {
		t.Fatalf("before the stall: %s", r.Raw)
	}
	proxy.Stall()
	for range 3 { // the first commit stalls; the later ones queue behind it
		start := time.Now()
		r := g.Post(tok, q, nil)
		took := time.Since(start)
		if took > bound+time.Second {
			t.Errorf("an audited request took %s with audit.commitTimeout %s", took, bound)
		}
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != errcode.AuditUnavailable || r.Data != nil {
			t.Fatalf("with the store stalled: %s", r.Raw)
		}
	}
	// Reads of the store are bounded by store.timeout the same way.
	start := time.Now()
	r := g.Post(g.Token("psb-console"), `{ sharingRequests { id } }`, nil)
	if took := time.Since(start); took > bound+time.Second {
		t.Errorf("a store read took %s with store.timeout %s", took, bound)
	}
	if e := r.ErrorAt("sharingRequests"); e == nil || e.Extensions["code"] != errcode.StoreUnavailable {
		t.Errorf("sharingRequests with the store stalled: %s", r.Raw)
	}
	// And so are those into the gateway's own tables beside it, in the same database. A
	// request the stall holds fails the test at the client's timeout rather than hang it.
	client := &http.Client{Timeout: bound + 2*time.Second}
	for _, c := range []struct{ consumer, field string }{
		{"online-hall", "dataIssues"}, {"supervision-platform", "watchList"}, {"supervision-platform", "notices"},
	} {
		start := time.Now()
		r, err := PostFrom(client, g.Srv.URL, g.Token(c.consumer), "{ "+c.field+" { __typename } }", nil)
		if took := time.Since(start); err != nil || took > bound+time.Second {
			t.Errorf("%s took %s with store.timeout %s: %v", c.field, took, bound, err)
			continue
		}
		if e := r.ErrorAt(c.field); e == nil || e.Extensions["code"] != errcode.StoreUnavailable {
			t.Errorf("%s with the store stalled: %s", c.field, r.Raw)
		}
	}
}

// One department failing nulls only its own fields: with the enterprise registry down,
// the citizen's name from the PSB is still delivered next to a null enterprises (it was
// "data": null, because enterprises and creditRecords were non-null root fields).
func TestDepartmentFailureNullsOnlyItsOwnRootField(t *testing.T) {
	var creditQuery string
	g := Start(t, func(c *config.Config) {
		c.Cache.Disabled = true
		for i := range c.Departments {
			if d := &c.Departments[i]; d.ID == "credit" {
				for name, op := range d.Operations {
					creditQuery = name
					op.Params["query"] = "SELECT * FROM no_such_table WHERE subject_id IN ({keys})"
					d.Operations[name] = op
				}
			}
		}
	})
	if creditQuery == "" {
		t.Fatal("the demo has no credit binding")
	}
	g.Sims.AMR.SetFault(simhttp.Fault{Mode: simhttp.ModeDown})
	r := g.Post(g.Token("supervision-platform"), `{ citizen(idNumber: "310115198503120012") { name }
		enterprises(first: 5) { edges { node { name } } }
		creditRecords(subject: "310115198503120012") { kind } }`, nil)
	if r.Str("citizen.name") != "张伟" {
		t.Errorf("the PSB's answer is lost when other departments fail: %s", r.Raw)
	}
	for _, f := range []string{"enterprises", "creditRecords"} {
		if v, ok := r.Data[f]; !ok || v != nil {
			t.Errorf("%s: want null, got %v: %s", f, v, r.Raw)
		}
		if e := r.ErrorAt(f); e == nil || e.Extensions["code"] != errcode.SourceUnavailable {
			t.Errorf("%s: want a SOURCE_UNAVAILABLE error at its path: %s", f, r.Raw)
		}
	}
	// extensions.sources once read fetched: 1 for a department whose fetch failed. The
	// caller sees its own request's failures; fetches and cache hits only the owning
	// department's console sees (docs/errors.md).
	sources, _ := r.Extensions["sources"].(map[string]any)
	for dept, failed := range map[string]any{"psb": nil, "amr": 1.0, "credit": 1.0} {
		s, _ := sources[dept].(map[string]any)
		if s == nil || s["failed"] != failed || s["fetched"] != nil {
			t.Errorf("extensions.sources.%s = %v, want failed %v and nothing fetched", dept, s, failed)
		}
	}
	r = g.Post(g.Token("amr-console"), `{ enterprises(first: 5) { totalCount } }`, nil)
	if s, _ := r.Extensions["sources"].(map[string]any)["amr"].(map[string]any); s == nil || s["failed"] != 1.0 || s["fetched"] != nil {
		t.Errorf("extensions.sources.amr for its own console: %s", r.Raw)
	}
	// The caller sees SOURCE_UNAVAILABLE; the operator needs the department and the cause
	// (a missing table once gave no log line at all).
	var logged bool
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "department=credit") && strings.Contains(line, "no_such_table") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no error-level log line names the credit department and its missing table:\n%s", g.Logs.String())
	}
}

// The introspection query standard tools send: testdata/introspection-graphql-js.graphql
// is what graphql-js 16.15 getIntrospectionQuery() returns with every option on
// (descriptions, specifiedByUrl, directiveIsRepeatable, schemaDescription,
// inputValueDeprecation, oneOf). Its type-reference fragment nests the ofType chain
// nine levels, which the depth limit once refused with QUERY_TOO_DEEP; the limit must
// still stop deep queries through introspection itself.
func TestStandardIntrospectionQuery(t *testing.T) {
	text, err := os.ReadFile("testdata/introspection-graphql-js.graphql")
	if err != nil {
		t.Fatal(err)
	}
	on := Start(t)
	r := on.Post(on.Token("playground"), string(text), nil)
	if len(r.Errors) != 0 || r.Str("__schema.queryType.name") != "Query" {
		t.Fatalf("the standard introspection query with introspection on: %.600s", r.Raw)
	}
	types, _ := r.Get("__schema.types").([]any)
	if len(types) < 20 {
		t.Errorf("introspection answered %d types", len(types))
	}
	// Abuse through introspection is still bounded: only the ofType chain is exempt
	// from the depth limit, and validation refuses introspection whose list fields
	// (fields → type → fields …) nest past three.
	refused := func(code any) bool { return code == errcode.QueryTooDeep || code == errcode.ValidationFailed }
	for _, q := range []string{
		`{ __type(name: "Citizen") { name ` + strings.Repeat("ofType { ", 20) + "kind" + strings.Repeat(" }", 20) + " } }",
		`{ __schema { types { fields { type { fields { type { fields { type { fields { type { fields { name } } } } } } } } } } } }`,
		`{ __type(name: "Citizen") { fields { type { ofType { fields { type { ofType { fields { type { ofType { fields { type { ofType { fields { name } } } } } } } } } } } } } } }`,
		`{ citizen(idNumber: "310115198503120012") { enterprises { legalRepresentative { enterprises { legalRepresentative { enterprises { legalRepresentative { enterprises { legalRepresentative { enterprises { legalRepresentative { name } } } } } } } } } } } }`,
	} {
		if r := on.Post(on.Token("playground"), q, nil); len(r.Errors) == 0 || !refused(r.Errors[0].Extensions["code"]) {
			t.Errorf("deep query with introspection on: %.300s", r.Raw)
		}
	}

	off := Start(t, func(c *config.Config) { c.Introspection = false })
	for _, q := range []string{string(text), `{ __type(name: "Citizen") { name } }`, `{ me { consumer } x: __schema { queryType { name } } }`} {
		r := off.Post(off.Token("playground"), q, nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != errcode.IntrospectionDisabled || r.Get("__schema") != nil || r.Get("x") != nil {
			t.Errorf("introspection off: %.300s", r.Raw)
		}
	}
	// __typename is not introspection of the schema and stays allowed.
	if r := off.Post(off.Token("playground"), `{ me { __typename consumer } }`, nil); len(r.Errors) != 0 {
		t.Errorf("__typename with introspection off: %s", r.Raw)
	}
}

// purgeCache once counted only the purging replica's own entries, and with Redis down
// answered BAD_USER_INPUT quoting an internal dial error. It counts what it dropped from
// the shared layer too (each record once), and a purge that could not reach Redis says so
// with its own code.
func TestPurgeCountsTheSharedLayerAndSaysWhenItIsDown(t *testing.T) {
	_, b, prefix := SharedCachePair(t)
	q := `{ citizen(idNumber: "310115198503120012") { name } }`
	// b never loaded the record; a's copy is in Redis.
	r := b.Post(b.Token("psb-console"), `mutation { purgeCache(department: "psb", keys: ["310115198503120012"]) }`, nil)
	if n, _ := r.Get("purgeCache").(float64); n != 1 || len(r.Errors) != 0 {
		t.Errorf("purge through the replica that did not hold the record: %s", r.Raw)
	}

	dead := Start(t, func(c *config.Config) { c.Cache.RedisAddr, c.Cache.RedisPrefix = "127.0.0.1:1", prefix })
	dead.Post(dead.Token("online-hall"), q, nil)
	r = dead.Post(dead.Token("psb-console"), `mutation { purgeCache(department: "psb") }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != errcode.PurgeIncomplete || strings.Contains(r.Errors[0].Message, "dial") ||
		!strings.Contains(r.Errors[0].Message, "1 records were dropped on this gateway replica") {
		t.Errorf("purge with Redis down: %s", r.Raw)
	}
}

// The CSV adapter's log lines once carried department twice (the gateway added it, and
// the adapter too), which JSON log processors read as a duplicate key.
func TestCSVLogLinesNameTheirDepartmentOnce(t *testing.T) {
	g := Start(t)
	var seen bool
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if !strings.Contains(line, "adapter=csvdrop") {
			continue
		}
		seen = true
		if n := strings.Count(line, "department="); n != 1 {
			t.Errorf("%d department attributes: %s", n, line)
		}
	}
	if !seen {
		t.Skip("the CSV adapter logged nothing at start-up")
	}
}
