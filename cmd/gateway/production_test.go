package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/auth"
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
	g := newTG(t, func(c *config.Config) { c.Store = config.Store{Driver: "postgres", DSN: dsn} })
	res, err := http.Get(g.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz on PostgreSQL: %d, components %v", res.StatusCode, g.readyz())
	}
	g.parts.Store.Close()
	if c := g.readyz(); c["store"] != "down" {
		t.Errorf("/readyz with the store closed: %v", c)
	}
}

// A store that stalls (behind a proxy that stopped forwarding) once held every audited
// request for as long as it stalled. With audit.commitTimeout the answer is withheld with
// AUDIT_UNAVAILABLE within that bound, and no data leaves unaudited.
func TestStalledStoreFailsAuditedRequestsFast(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallProxy(t, u.Host)
	u.Host = proxy.addr()
	const bound = 300 * time.Millisecond
	g := newTG(t, func(c *config.Config) {
		c.Store = config.Store{Driver: "postgres", DSN: u.String(), Timeout: bound}
		c.Audit.CommitTimeout = bound
	})
	t.Cleanup(proxy.close) // before the gateway closes: nothing may wait on the stall
	tok := g.token("online-hall")
	q := `{ citizen(idNumber: "310115199001010029") { name birthDate } }`
	if r := g.post(tok, q, nil); r.str("citizen.name") == "" {
		t.Fatalf("before the stall: %s", r.Raw)
	}
	proxy.stall()
	for range 3 { // the first commit stalls; the later ones queue behind it
		start := time.Now()
		r := g.post(tok, q, nil)
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
	r := g.post(g.token("psb-console"), `{ sharingRequests { id } }`, nil)
	if took := time.Since(start); took > bound+time.Second {
		t.Errorf("a store read took %s with store.timeout %s", took, bound)
	}
	if e := r.errorAt("sharingRequests"); e == nil || e.Extensions["code"] != errcode.StoreUnavailable {
		t.Errorf("sharingRequests with the store stalled: %s", r.Raw)
	}
}

// One department failing nulls only its own fields: with the enterprise registry down,
// the citizen's name from the PSB is still delivered next to a null enterprises (it was
// "data": null, because enterprises and creditRecords were non-null root fields).
func TestDepartmentFailureNullsOnlyItsOwnRootField(t *testing.T) {
	var creditQuery string
	g := newTG(t, func(c *config.Config) {
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
	g.sims.AMR.SetFault(simhttp.Fault{Mode: simhttp.ModeDown})
	r := g.post(g.token("supervision-platform"), `{ citizen(idNumber: "310115198503120012") { name }
		enterprises(first: 5) { edges { node { name } } }
		creditRecords(subject: "310115198503120012") { kind } }`, nil)
	if r.str("citizen.name") != "张伟" {
		t.Errorf("the PSB's answer is lost when other departments fail: %s", r.Raw)
	}
	for _, f := range []string{"enterprises", "creditRecords"} {
		if v, ok := r.Data[f]; !ok || v != nil {
			t.Errorf("%s: want null, got %v: %s", f, v, r.Raw)
		}
		if e := r.errorAt(f); e == nil || e.Extensions["code"] != errcode.SourceUnavailable {
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
	r = g.post(g.token("amr-console"), `{ enterprises(first: 5) { totalCount } }`, nil)
	if s, _ := r.Extensions["sources"].(map[string]any)["amr"].(map[string]any); s == nil || s["failed"] != 1.0 || s["fetched"] != nil {
		t.Errorf("extensions.sources.amr for its own console: %s", r.Raw)
	}
	// The caller sees SOURCE_UNAVAILABLE; the operator needs the department and the cause
	// (a missing table once gave no log line at all).
	var logged bool
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "department=credit") && strings.Contains(line, "no_such_table") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no error-level log line names the credit department and its missing table:\n%s", g.logs.String())
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
	on := newTG(t)
	r := on.post(on.token("playground"), string(text), nil)
	if len(r.Errors) != 0 || r.str("__schema.queryType.name") != "Query" {
		t.Fatalf("the standard introspection query with introspection on: %.600s", r.Raw)
	}
	types, _ := r.get("__schema.types").([]any)
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
		if r := on.post(on.token("playground"), q, nil); len(r.Errors) == 0 || !refused(r.Errors[0].Extensions["code"]) {
			t.Errorf("deep query with introspection on: %.300s", r.Raw)
		}
	}

	off := newTG(t, func(c *config.Config) { c.Introspection = false })
	for _, q := range []string{string(text), `{ __type(name: "Citizen") { name } }`, `{ me { consumer } x: __schema { queryType { name } } }`} {
		r := off.post(off.token("playground"), q, nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != errcode.IntrospectionDisabled || r.get("__schema") != nil || r.get("x") != nil {
			t.Errorf("introspection off: %.300s", r.Raw)
		}
	}
	// __typename is not introspection of the schema and stays allowed.
	if r := off.post(off.token("playground"), `{ me { __typename consumer } }`, nil); len(r.Errors) != 0 {
		t.Errorf("__typename with introspection off: %s", r.Raw)
	}
}

// What `gateway sim` writes (the demo issuer and key, introspection on) once started
// silently as mode=production. Now it needs allowUnsafe to say so; without it the demo
// issuer and key are refused, introspection is warned about, and so is a key file anyone
// may replace.
func TestProductionRefusesDemoKeysUnlessAllowed(t *testing.T) {
	g := newTG(t)
	dataDir := t.TempDir()
	demo, err := config.Demo(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "sim"), 0o700); err != nil {
		t.Fatal(err)
	}
	path, err := writeSimConfig(dataDir, demo, g.cfg.Departments)
	if err != nil {
		t.Fatal(err)
	}
	check := func() (string, error) {
		var out bytes.Buffer
		err := run(t.Context(), []string{"config", "check", path}, os.Getenv, &out)
		return out.String(), err
	}
	if out, err := check(); err != nil || strings.Contains(out, "warning") {
		t.Fatalf("what gateway sim writes, with its allowUnsafe: %v\n%s", err, out)
	}

	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stripped := regexp.MustCompile(`(?m)^allowUnsafe:\n(\s+- .*\n)+`).ReplaceAll(written, nil)
	if bytes.Equal(stripped, written) {
		t.Fatalf("no allowUnsafe in what gateway sim writes:\n%s", written)
	}
	if err := os.WriteFile(path, stripped, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := check()
	if err == nil || !strings.Contains(err.Error(), "auth.issuer: \"pudong-gateway-demo\" is the demo issuer") ||
		!strings.Contains(err.Error(), "is the demo signing key") {
		t.Errorf("the demo issuer and key without allowUnsafe: %v", err)
	}
	if !strings.Contains(out, "warning: ") || !strings.Contains(out, "introspection is on in production") {
		t.Errorf("introspection on in production is not warned about: %q", out)
	}
	// The server refuses it the same way, before it listens.
	if err := run(t.Context(), []string{"--config", path}, os.Getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "demo issuer") {
		t.Errorf("the server started with the demo issuer: %v", err)
	}

	// A world-writable key file is refused, whoever's key it is.
	withDemo := regexp.MustCompile(`(?m)^introspection: true\n`).ReplaceAll(stripped, []byte("introspection: true\nallowUnsafe: [demo-key]\n"))
	if err := os.WriteFile(path, withDemo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := check(); err != nil {
		t.Fatalf("with allowUnsafe: [demo-key]: %v", err)
	}
	key := auth.DemoPublicKeyFile(dataDir)
	if err := os.Chmod(key, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := check(); err == nil || !strings.Contains(err.Error(), "writable by everyone") {
		t.Errorf("a world-writable key file: %v", err)
	}
}

// purgeCache once counted only the purging replica's own entries, and with Redis down
// answered BAD_USER_INPUT quoting an internal dial error. It counts what it dropped from
// the shared layer too (each record once), and a purge that could not reach Redis says so
// with its own code.
func TestPurgeCountsTheSharedLayerAndSaysWhenItIsDown(t *testing.T) {
	_, b, prefix := sharedCachePair(t)
	q := `{ citizen(idNumber: "310115198503120012") { name } }`
	// b never loaded the record; a's copy is in Redis.
	r := b.post(b.token("psb-console"), `mutation { purgeCache(department: "psb", keys: ["310115198503120012"]) }`, nil)
	if n, _ := r.get("purgeCache").(float64); n != 1 || len(r.Errors) != 0 {
		t.Errorf("purge through the replica that did not hold the record: %s", r.Raw)
	}

	dead := newTG(t, func(c *config.Config) { c.Cache.RedisAddr, c.Cache.RedisPrefix = "127.0.0.1:1", prefix })
	dead.post(dead.token("online-hall"), q, nil)
	r = dead.post(dead.token("psb-console"), `mutation { purgeCache(department: "psb") }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != errcode.PurgeIncomplete || strings.Contains(r.Errors[0].Message, "dial") ||
		!strings.Contains(r.Errors[0].Message, "1 records were dropped on this gateway replica") {
		t.Errorf("purge with Redis down: %s", r.Raw)
	}
}

// The CSV adapter's log lines once carried department twice (the gateway added it, and
// the adapter too), which JSON log processors read as a duplicate key.
func TestCSVLogLinesNameTheirDepartmentOnce(t *testing.T) {
	g := newTG(t)
	var seen bool
	for _, line := range strings.Split(g.logs.String(), "\n") {
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

// sharedCachePair starts two gateways sharing Redis under a prefix of their own, and
// has the first load 310115198503120012 into it. It skips when no Redis is configured.
func sharedCachePair(t *testing.T) (a, b *tg, prefix string) {
	t.Helper()
	addr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("GATEWAY_TEST_REDIS_ADDR is not set; set it (e.g. 127.0.0.1:6379) to run the shared-cache tests")
	}
	prefix = "gwtest:" + rand.Text()[:10] + ":"
	useRedis := func(c *config.Config) { c.Cache.RedisAddr, c.Cache.RedisPrefix = addr, prefix }
	a, b = newTG(t, useRedis), newTG(t, useRedis)
	if r := a.post(a.token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name } }`, nil); r.str("citizen.name") != "张伟" {
		t.Fatal(string(r.Raw))
	}
	return a, b, prefix
}
