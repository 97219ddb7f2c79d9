package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func readNone(name string) ([]byte, error) { return []byte("# catalogue"), nil }

const good = `
addr: 127.0.0.1:9000
departments:
  - id: psb
    protocol: soap
    endpoint: http://rk.example/PopulationService
    operations: {person: {batch: 1, action: QueryPerson}}
    fields: [{from: SFZH, to: idNumber}]
catalog: [psb.yaml]
consumers:
  - name: online-hall
    purpose: administrative-approval
auth: {issuer: i, audience: a, keyFiles: [k.pem]}
sources:
  person: {department: psb, operation: person}
  enterprise: {department: psb, operation: person}
  enterprisesByLegalRep: {department: psb, operation: person}
  enterpriseList: {department: psb, operation: person}
  creditBySubject: {department: psb, operation: person}
  insuranceByCitizen: {department: psb, operation: person}
  insuranceByEmployer: {department: psb, operation: person}
`

func TestParseAndDefaults(t *testing.T) {
	c, err := Parse([]byte(good), "gw.yaml", readNone)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.Store.Driver != "sqlite" || c.Limits.Depth != 10 || c.Limits.BodyBytes != 1<<20 ||
		c.Cache.NotFoundTTL != 30*time.Second || c.Store.OpenTimeout != 10*time.Minute || c.Sharing.DeadlineWorkingDays != 5 || c.Log.Format != "json" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Departments[0].Operations["person"].Params["action"] != "QueryPerson" {
		t.Errorf("operation params: %+v", c.Departments[0].Operations)
	}
	if string(c.CatalogData["psb.yaml"]) != "# catalogue" {
		t.Error("catalogue files are read")
	}
}

// Every mistake is reported at once, each with its file and line.
func TestParseReportsEveryMistakeWithItsLine(t *testing.T) {
	bad := `departments:
  - id: psb
    protocol: corba
    operations: {}
    fields: []
  - id: psb
    protocol: rest
consumers:
  - name: hall
    roles: [admin]
catalog: []
store: {driver: oracle}
unknownKey: 1
purposes:
  - name: investigation
    confidential: true
`
	_, err := Parse([]byte(bad), "bad.yaml", readNone)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	for _, want := range []string{
		"bad.yaml:13: ",                         // unknown key
		"bad.yaml:3: departments[0].protocol",   // corba
		"bad.yaml:4: departments[0].operations", // none
		"bad.yaml:6: departments[1].id",         // bound twice
		"departments[1].endpoint",               // rest without endpoint
		"bad.yaml:9: consumers[0].purpose",      // no purpose
		"consumers[0].roles",                    // admin
		"bad.yaml:11: catalog",
		"bad.yaml:12: store.driver",
		"auth.issuer",
		"purposes[0].consumers", // confidential, withheld for nobody named
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the report lacks %q:\n%v", want, err)
		}
	}
	if len(ce.Problems) < 10 {
		t.Errorf("%d problems reported", len(ce.Problems))
	}
}

func TestConsumerLimitsByKind(t *testing.T) {
	play := Consumer{Name: "playground"}
	hall := Consumer{Name: "online-hall"}
	citizen := Consumer{Name: "portal", SelfService: true}
	pu, _ := play.Limits()
	hu, hc := hall.Limits()
	cu, _ := citizen.Limits()
	if pu.PerSecond > 10 || cu.PerSecond > 10 || hu.PerSecond < 1000 || hc.PerSecond < 1000 {
		t.Errorf("playground %v, citizen %v, backend %v/%v", pu, cu, hu, hc)
	}
	hall.RateLimit = &Rate{PerSecond: 1, Burst: 1}
	if u, _ := hall.Limits(); u.PerSecond != 1 {
		t.Error("a configured limit wins")
	}
}

func TestDemo(t *testing.T) {
	c, err := Demo("d")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demo || c.Log.Format != "text" || c.Consumer("online-hall") == nil || len(c.CatalogData) != 1 || !c.Introspection {
		t.Errorf("demo: %+v", c)
	}
}

func TestEnvironmentReferences(t *testing.T) {
	src := strings.Replace(good, "keyFiles: [k.pem]", "keyFiles: [${KEY_DIR}/k.pem]", 1) +
		"# a comment with ${NOT_EXPANDED}\nstore: {driver: postgres, dsn: \"postgres://gw:${PG_PASS}@db/gw\"}\n"
	env := map[string]string{"KEY_DIR": "/etc/gw", "PG_PASS": "s3cr$t"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := ParseEnv([]byte(src), "gw.yaml", readNone, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.KeyFiles[0] != "/etc/gw/k.pem" || c.Store.DSN != "postgres://gw:s3cr$t@db/gw" {
		t.Errorf("expanded: %v %q", c.Auth.KeyFiles, c.Store.DSN)
	}
	delete(env, "PG_PASS")
	_, err = ParseEnv([]byte(src), "gw.yaml", readNone, lookup)
	if err == nil || !strings.Contains(err.Error(), "gw.yaml:23: ${PG_PASS} is not set") {
		t.Errorf("a missing variable is reported with its line: %v", err)
	}
}

// The tracing section, the JWKS URL and the rate-limit Redis are read and checked.
func TestTracingJWKSAndSharedLimits(t *testing.T) {
	src := strings.Replace(good, "auth: {issuer: i, audience: a, keyFiles: [k.pem]}",
		"auth: {issuer: i, audience: a, jwksURL: https://idp.example/jwks.json, jwksRefresh: 5m}\n"+
			"limits: {redisAddr: 'rediss://gw@cache:6380/0'}\n"+
			"tracing: {endpoint: 'http://otel:4318', serviceName: gw-east, sampleRatio: 0.25, headers: {api-key: k}}", 1)
	c, err := Parse([]byte(src), "gw.yaml", readNone)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.JWKSURL != "https://idp.example/jwks.json" || c.Auth.JWKSRefresh != 5*time.Minute || c.Limits.RedisAddr != "rediss://gw@cache:6380/0" ||
		c.Tracing.Endpoint != "http://otel:4318" || c.Tracing.ServiceName != "gw-east" || c.Tracing.SampleRatio != 0.25 || c.Tracing.Headers["api-key"] != "k" {
		t.Errorf("parsed: %+v %+v %+v", c.Auth, c.Limits, c.Tracing)
	}
	bad := strings.Replace(good, "auth: {issuer: i, audience: a, keyFiles: [k.pem]}",
		"auth: {issuer: i, audience: a, jwksURL: 'idp.example/jwks.json'}\ntracing: {endpoint: 'otel:4318', sampleRatio: 2}", 1)
	_, err = Parse([]byte(bad), "gw.yaml", readNone)
	for _, want := range []string{"auth.jwksURL", "tracing.endpoint", "tracing.sampleRatio"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the report lacks %q: %v", want, err)
		}
	}
}

// A lookup no department offers is declared `none`; a typo is refused with its line.
func TestSourceNotOffered(t *testing.T) {
	c := &Config{}
	if err := decodeStrict([]byte("sources:\n  enterpriseList: none\n  person: {department: psb, operation: person}\n"), "f.yaml", c); err != nil {
		t.Fatal(err)
	}
	c.Sources.fill()
	if !c.Sources.EnterpriseList.None || c.Sources.Person.Department != "psb" || c.Sources.Enterprise != DefaultSources.Enterprise {
		t.Errorf("sources: %+v", c.Sources)
	}
	out, err := yaml.Marshal(c.Sources)
	if err != nil || !strings.Contains(string(out), "enterpriseList: none") {
		t.Errorf("marshalled: %s %v", out, err)
	}
	err = decodeStrict([]byte("sources:\n  enterpriseList: nothing\n  person: {department: psb, operaton: person}\n"), "f.yaml", &Config{})
	if err == nil || !strings.Contains(err.Error(), `f.yaml:2: "nothing"`) || !strings.Contains(err.Error(), "f.yaml:3: field operaton") {
		t.Errorf("typos: %v", err)
	}
}

// TestStoreAuditJournal: a PostgreSQL store's journal is resolved against the data
// directory; a SQLite store, which keeps its own beside its file, refuses one.
func TestStoreAuditJournal(t *testing.T) {
	c, err := Parse([]byte(good+"dataDir: /var/lib/gw\nstore: {driver: postgres, dsn: \"postgres://db/gw\", auditJournal: audit.journal}\n"), "gw.yaml", readNone)
	if err != nil || c.Store.AuditJournal != "/var/lib/gw/audit.journal" {
		t.Fatalf("postgres with a journal: %v, %q", err, c.Store.AuditJournal)
	}
	_, err = Parse([]byte(good+"store: {auditJournal: audit.journal}\n"), "gw.yaml", readNone)
	if err == nil || !strings.Contains(err.Error(), "store.auditJournal") {
		t.Errorf("sqlite with a journal: err = %v, want a store.auditJournal problem", err)
	}
}

// TestStoreReplica: a replica name becomes the audit chain's name, so one that is not a
// chain name is refused where it is written.
func TestStoreReplica(t *testing.T) {
	c, err := Parse([]byte(good+"store: {replica: gw-2.prod}\n"), "gw.yaml", readNone)
	if err != nil || c.Store.Replica != "gw-2.prod" {
		t.Fatalf("store.replica gw-2.prod: %v, %+v", err, c.Store)
	}
	_, err = Parse([]byte(good+"store: {replica: \"gw 2/prod\"}\n"), "gw.yaml", readNone)
	if err == nil || !strings.Contains(err.Error(), "store.replica") {
		t.Errorf("store.replica with a space and a slash: err = %v, want a store.replica problem", err)
	}
}

// Load resolves the files a configuration names relative to the file itself, once, so
// that the gateway started from another directory reads the same files.
func TestLoadResolvesPathsOnce(t *testing.T) {
	dir := t.TempDir()
	conf := good + "allowlist: ops.json\nseal: {keyFile: keys/seal.pem}\n"
	conf = strings.Replace(conf, "keyFiles: [k.pem]", "keyFiles: [k.pem, /etc/abs.pem], jwksFile: keys/jwks.json", 1)
	if err := os.WriteFile(filepath.Join(dir, "gw.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "psb.yaml"), []byte("# catalogue"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(filepath.Join(dir, "gw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "k.pem"), "/etc/abs.pem"}
	if !slices.Equal(c.Auth.KeyFiles, want) || c.Auth.JWKSFile != filepath.Join(dir, "keys/jwks.json") ||
		c.Allowlist != filepath.Join(dir, "ops.json") || c.Seal.KeyFile != filepath.Join(dir, "keys/seal.pem") {
		t.Errorf("paths: keys %v, jwks %q, allowlist %q, seal key %q", c.Auth.KeyFiles, c.Auth.JWKSFile, c.Allowlist, c.Seal.KeyFile)
	}
	if string(c.CatalogData["psb.yaml"]) != "# catalogue" {
		t.Error("the catalogue file is read beside the configuration")
	}
}

// TestMetricsAddr: a metrics listener of its own is a listen address other than addr.
func TestMetricsAddr(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"10.0.8.5:9090", ""},
		{"127.0.0.1:9000", "metricsAddr: \"127.0.0.1:9000\" is addr too"},
		{"10.0.8.5", "metricsAddr: \"10.0.8.5\" is not HOST:PORT"},
	} {
		c, err := Parse([]byte(good+"metricsAddr: "+tc.addr+"\n"), "gw.yaml", readNone)
		switch {
		case tc.want == "" && (err != nil || c.MetricsAddr != tc.addr):
			t.Errorf("metricsAddr %s: %v", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("metricsAddr %s: %v, want %q", tc.addr, err, tc.want)
		}
	}
}
