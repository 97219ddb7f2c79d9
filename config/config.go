// Package config is the gateway's one configuration file: the department bindings, which
// lookup each serves, the catalogue files, the consumers and their static grants,
// identity, storage, limits and caches. Load reports every mistake at once, each with its
// file and line, so an operator fixes a file in one pass.
package config

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	// Demo marks the embedded demo configuration: simulators, a generated key, a
	// token-minting endpoint for the playground. Never set in a production file.
	Demo bool `yaml:"-"`

	Addr    string `yaml:"addr,omitempty"`    // listen address; default 127.0.0.1:8080
	DataDir string `yaml:"dataDir,omitempty"` // SQLite store, keys; default ./data

	Departments []Department `yaml:"departments"`
	Sources     Sources      `yaml:"sources,omitempty"`
	// Catalog lists catalogue files (one per department is usual), relative to the
	// configuration file.
	Catalog   []string   `yaml:"catalog"`
	Consumers []Consumer `yaml:"consumers"`

	Auth    Auth    `yaml:"auth"`
	Store   Store   `yaml:"store,omitempty"`
	Limits  Limits  `yaml:"limits,omitempty"`
	Sharing Sharing `yaml:"sharing,omitempty"`
	Cache   Cache   `yaml:"cache,omitempty"`
	Log     Log     `yaml:"log,omitempty"`
	Tracing Tracing `yaml:"tracing,omitempty"`

	// Allowlist is the manifest of registered operations (written by `gateway allowlist
	// register`), relative to the configuration file; consumers with allowlistOnly may
	// send nothing else.
	Allowlist string `yaml:"allowlist,omitempty"`

	// Introspection allows schema introspection; on in the demo, off by default in a
	// production file.
	Introspection bool `yaml:"introspection,omitempty"`

	// BenchNoAudit turns audit recording off: demo-mode throughput comparisons only.
	BenchNoAudit bool `yaml:"-"`
	// Pprof serves /debug/pprof/ to administrators.
	Pprof bool `yaml:"-"`

	// CatalogData holds the catalogue files' contents by name, read at Load.
	CatalogData map[string][]byte `yaml:"-"`
	// Path is the file the configuration came from, "" for the demo.
	Path string `yaml:"-"`
}

// Ref names the department and operation that serve one kind of lookup.
type Ref struct {
	Department string `yaml:"department"`
	Operation  string `yaml:"operation"`
}

// Sources says which department serves which lookup of the unified schema. Unset
// lookups take the district's defaults: the PSB for persons, AMR for enterprises, the
// credit platform for credit records and HRSS for social insurance.
type Sources struct {
	Person              Ref `yaml:"person,omitempty"`
	Enterprise          Ref `yaml:"enterprise,omitempty"`
	EnterprisesByRep    Ref `yaml:"enterprisesByLegalRep,omitempty"`
	EnterpriseList      Ref `yaml:"enterpriseList,omitempty"`
	CreditBySubject     Ref `yaml:"creditBySubject,omitempty"`
	InsuranceByCitizen  Ref `yaml:"insuranceByCitizen,omitempty"`
	InsuranceByEmployer Ref `yaml:"insuranceByEmployer,omitempty"`
}

// DefaultSources are the lookups as the district's four systems serve them.
var DefaultSources = Sources{
	Person:              Ref{"psb", "person"},
	Enterprise:          Ref{"amr", "enterprise"},
	EnterprisesByRep:    Ref{"amr", "byLegalRep"},
	EnterpriseList:      Ref{"amr", "list"},
	CreditBySubject:     Ref{"credit", "bySubject"},
	InsuranceByCitizen:  Ref{"hrss", "byCitizen"},
	InsuranceByEmployer: Ref{"hrss", "byEmployer"},
}

// Each returns the lookups by their configuration names.
func (s Sources) Each() map[string]Ref {
	return map[string]Ref{
		"person": s.Person, "enterprise": s.Enterprise, "enterprisesByLegalRep": s.EnterprisesByRep,
		"enterpriseList": s.EnterpriseList, "creditBySubject": s.CreditBySubject,
		"insuranceByCitizen": s.InsuranceByCitizen, "insuranceByEmployer": s.InsuranceByEmployer,
	}
}

func (s *Sources) fill() {
	for _, p := range []struct {
		dst *Ref
		def Ref
	}{
		{&s.Person, DefaultSources.Person}, {&s.Enterprise, DefaultSources.Enterprise},
		{&s.EnterprisesByRep, DefaultSources.EnterprisesByRep}, {&s.EnterpriseList, DefaultSources.EnterpriseList},
		{&s.CreditBySubject, DefaultSources.CreditBySubject}, {&s.InsuranceByCitizen, DefaultSources.InsuranceByCitizen},
		{&s.InsuranceByEmployer, DefaultSources.InsuranceByEmployer},
	} {
		if p.dst.Department == "" && p.dst.Operation == "" {
			*p.dst = p.def
		}
	}
}

// Consumer is one calling app.
type Consumer struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description,omitempty"`
	Purpose     string   `yaml:"purpose"`               // the purpose its tokens carry by default
	Dept        string   `yaml:"dept,omitempty"`        // department consoles
	Roles       []string `yaml:"roles,omitempty"`       // approver, auditor, cio
	SelfService bool     `yaml:"selfService,omitempty"` // tokens carry citizen_id
	Grants      []Grant  `yaml:"grants,omitempty"`      // static grants on conditional items
	Origins     []string `yaml:"origins,omitempty"`     // browser origins allowed by CORS
	// RateLimit bounds each end user (token subject) of this consumer, and
	// ConsumerRateLimit the consumer as a whole. Defaults depend on the kind of
	// consumer: low for the playground and citizens' sessions, high for service backends.
	RateLimit         *Rate `yaml:"rateLimit,omitempty"`
	ConsumerRateLimit *Rate `yaml:"consumerRateLimit,omitempty"`
	// AllowlistOnly restricts the consumer to the operations registered in the
	// allowlist manifest (production front ends).
	AllowlistOnly bool `yaml:"allowlistOnly,omitempty"`
}

// Limits returns the consumer's rate limits, with the defaults for its kind.
func (c *Consumer) Limits() (endUser, consumer Rate) {
	switch {
	case c.Name == "playground":
		endUser, consumer = Rate{PerSecond: 5, Burst: 20}, Rate{PerSecond: 50, Burst: 100}
	case c.SelfService:
		endUser, consumer = Rate{PerSecond: 5, Burst: 20}, Rate{PerSecond: 2000, Burst: 4000}
	case c.Dept != "" || len(c.Roles) > 0:
		endUser, consumer = Rate{PerSecond: 50, Burst: 100}, Rate{PerSecond: 200, Burst: 400}
	default: // service backends: one service account serves many people
		endUser, consumer = Rate{PerSecond: 5000, Burst: 10000}, Rate{PerSecond: 10000, Burst: 20000}
	}
	if c.RateLimit != nil {
		endUser = *c.RateLimit
	}
	if c.ConsumerRateLimit != nil {
		consumer = *c.ConsumerRateLimit
	}
	return endUser, consumer
}

// Grant is a static, purpose-bound grant of catalogue codes.
type Grant struct {
	Purpose    string    `yaml:"purpose"`
	Codes      []string  `yaml:"codes"`
	ValidUntil time.Time `yaml:"validUntil,omitempty"`
}

// Rate is a token-bucket limit.
type Rate struct {
	PerSecond float64 `yaml:"perSecond"`
	Burst     int     `yaml:"burst"`
}

// Auth is how tokens are verified.
type Auth struct {
	Issuer   string   `yaml:"issuer"`
	Audience string   `yaml:"audience"`
	KeyFiles []string `yaml:"keyFiles,omitempty"` // PEM public keys, relative to the config file
	JWKSFile string   `yaml:"jwksFile,omitempty"`
	// JWKSURL is the identity provider's published key set, fetched every JWKSRefresh
	// (default 15m) and again when a token names an unknown key (docs/operators.md, "Key rotation").
	JWKSURL     string        `yaml:"jwksURL,omitempty"`
	JWKSRefresh time.Duration `yaml:"jwksRefresh,omitempty"`
	Leeway      time.Duration `yaml:"leeway,omitempty"`
}

// Store is where grants, sharing requests and audit events are kept.
type Store struct {
	Driver string `yaml:"driver,omitempty"` // sqlite (default) or postgres
	DSN    string `yaml:"dsn,omitempty"`    // postgres DSN; for sqlite, a file path (default DataDir/gateway.db)
}

// Limits protect the departments and the gateway from expensive queries.
type Limits struct {
	Depth      int   `yaml:"depth,omitempty"`      // default 10
	Complexity int   `yaml:"complexity,omitempty"` // default 5000; lists count as their page size
	Aliases    int   `yaml:"aliases,omitempty"`    // default 50
	Fields     int   `yaml:"fields,omitempty"`     // field selections once fragments are spread; default 10000
	Selections int   `yaml:"selections,omitempty"` // selections written in one document, checked before validation; default 1000
	BodyBytes  int64 `yaml:"bodyBytes,omitempty"`  // default 1 MiB
	PageSize   int   `yaml:"pageSize,omitempty"`   // max `first`; default 100
	// RateLimitsOff turns per-consumer and per-user rate limits off (load tests only).
	RateLimitsOff bool `yaml:"rateLimitsOff,omitempty"`
	// RedisAddr shares rate limits across replicas through this Redis (an address or a
	// redis:// or rediss:// URL); default cache.redisAddr. Without either, or with
	// LocalLimits, each replica counts on its own.
	RedisAddr string `yaml:"redisAddr,omitempty"`
	// BatchWait is how long a loader waits to gather keys into one department call.
	BatchWait time.Duration `yaml:"batchWait,omitempty"` // default 250µs
}

// LocalLimits as limits.redisAddr counts rate limits in each replica's memory even when
// the cache shares records through Redis.
const LocalLimits = "local"

// Sharing configures the sharing-request loop.
type Sharing struct {
	DeadlineWorkingDays int `yaml:"deadlineWorkingDays,omitempty"` // default 5
}

// Cache configures the record cache.
type Cache struct {
	Disabled    bool          `yaml:"disabled,omitempty"`
	MaxRecords  int           `yaml:"maxRecords,omitempty"`  // per department; default 100000
	StaleFor    time.Duration `yaml:"staleFor,omitempty"`    // stale-if-error window past the TTL; default 1h
	NotFoundTTL time.Duration `yaml:"notFoundTTL,omitempty"` // default 30s
	RedisAddr   string        `yaml:"redisAddr,omitempty"`   // optional shared layer
	RedisPrefix string        `yaml:"redisPrefix,omitempty"` // default "pdgw:"
}

// Tracing configures OpenTelemetry tracing (docs/operators.md, "Tracing"). The standard
// OTEL_* environment variables override it; OTEL_EXPORTER_OTLP_ENDPOINT alone turns
// tracing on, in any mode.
type Tracing struct {
	// Endpoint is the OTLP/HTTP collector: a base URL (http://collector:4318, to which
	// /v1/traces is added) or the full traces URL. Empty: tracing is off.
	Endpoint string `yaml:"endpoint,omitempty"`
	// Headers go with every export (a hosted backend's API key).
	Headers map[string]string `yaml:"headers,omitempty"`
	// ServiceName is the service.name of the gateway's spans; default pudong-gateway.
	ServiceName string `yaml:"serviceName,omitempty"`
	// SampleRatio is the share of new traces recorded, in (0, 1]; a caller's
	// traceparent decides for traces it started. Default 1.
	SampleRatio float64 `yaml:"sampleRatio,omitempty"`
}

// Log configures structured logs.
type Log struct {
	Format string `yaml:"format,omitempty"` // json (production default) or text (demo)
	Level  string `yaml:"level,omitempty"`  // debug, info (default), warn, error
}

// WithDefaults fills every unset setting with its default.
func (c *Config) WithDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	c.Sources.fill()
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" {
		c.Store.DSN = filepath.Join(c.DataDir, "gateway.db")
	}
	l := &c.Limits
	if l.Depth == 0 {
		l.Depth = 10
	}
	if l.Complexity == 0 {
		l.Complexity = 5000
	}
	if l.Aliases == 0 {
		l.Aliases = 50
	}
	if l.Fields == 0 {
		l.Fields = 10000
	}
	if l.Selections == 0 {
		l.Selections = 1000
	}
	if l.BodyBytes == 0 {
		l.BodyBytes = 1 << 20
	}
	if l.PageSize == 0 {
		l.PageSize = 100
	}
	if l.BatchWait == 0 {
		l.BatchWait = 250 * time.Microsecond
	}
	if c.Sharing.DeadlineWorkingDays == 0 {
		c.Sharing.DeadlineWorkingDays = 5
	}
	if c.Cache.MaxRecords == 0 {
		c.Cache.MaxRecords = 100000
	}
	if c.Cache.StaleFor == 0 {
		c.Cache.StaleFor = time.Hour
	}
	if c.Cache.NotFoundTTL == 0 {
		c.Cache.NotFoundTTL = 30 * time.Second
	}
	if c.Cache.RedisPrefix == "" {
		c.Cache.RedisPrefix = "pdgw:"
	}
	if c.Auth.Leeway == 0 {
		c.Auth.Leeway = 30 * time.Second
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
		if c.Demo {
			c.Log.Format = "text"
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// Consumer returns a consumer by name, or nil.
func (c *Config) Consumer(name string) *Consumer {
	for i := range c.Consumers {
		if c.Consumers[i].Name == name {
			return &c.Consumers[i]
		}
	}
	return nil
}

// Department returns a department binding by id, or nil.
func (c *Config) Department(id string) *Department {
	for i := range c.Departments {
		if c.Departments[i].ID == id {
			return &c.Departments[i]
		}
	}
	return nil
}

//go:embed demo/*.yaml
var demoFiles embed.FS

// Demo returns the embedded demo configuration. Its departments are left empty: the
// caller starts the simulators and adds their bindings.
func Demo(dataDir string) (*Config, error) {
	data, err := demoFiles.ReadFile("demo/consumers.yaml")
	if err != nil {
		return nil, err
	}
	c := &Config{Demo: true, DataDir: dataDir, Introspection: true}
	if err := decodeStrict(data, "demo/consumers.yaml", c); err != nil {
		return nil, err
	}
	catalog, err := demoFiles.ReadFile("demo/catalog.yaml")
	if err != nil {
		return nil, err
	}
	c.Catalog = []string{"demo/catalog.yaml"}
	c.CatalogData = map[string][]byte{"demo/catalog.yaml": catalog}
	c.WithDefaults()
	return c, nil
}

// Error lists every mistake found in a configuration file.
type Error struct {
	Problems []string // each "file:line: what was wrong and what was expected"
}

func (e *Error) Error() string {
	return fmt.Sprintf("configuration has %d problem(s):\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

func decodeStrict(data []byte, name string, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			probs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				probs[i] = withFileLine(name, m)
			}
			return &Error{Problems: probs}
		}
		return &Error{Problems: []string{withFileLine(name, err.Error())}}
	}
	return nil
}

// withFileLine turns yaml's "line 13: msg" (or "yaml: line 13: msg") into "file:13: msg",
// the form every other problem has.
func withFileLine(name, msg string) string {
	m := strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(m, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			return name + ":" + rest[:i] + ": " + rest[i+2:]
		}
	}
	return name + ": " + m
}

// Load reads a configuration file and the catalogue files it names, and validates it.
// Every problem is reported at once, with file and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return ParseEnv(data, path, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(path), name)
		}
		return os.ReadFile(name)
	}, os.LookupEnv)
}

// Parse decodes and validates configuration bytes; readFile reads the files it names.
// ${NAME} references are not expanded (see ParseEnv).
func Parse(data []byte, name string, readFile func(string) ([]byte, error)) (*Config, error) {
	return ParseEnv(data, name, readFile, nil)
}

// ParseEnv is Parse with ${NAME} references replaced from the environment (lookup), so
// that secrets such as a database password stay out of the file:
// dsn: "gw_readonly:${CREDIT_DB_PASSWORD}@tcp(db:3306)/credit". A reference to a
// variable that is not set is a problem reported with its line.
func ParseEnv(data []byte, name string, readFile func(string) ([]byte, error), lookup func(string) (string, bool)) (*Config, error) {
	var envProblems []string
	if lookup != nil {
		data, envProblems = expandEnv(data, name, lookup)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: []string{withFileLine(name, err.Error())}}
	}
	c := &Config{Path: name}
	problems := envProblems
	if err := decodeStrict(data, name, c); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			problems = append(problems, ce.Problems...)
		} else {
			return nil, err
		}
	}
	lines := map[string]int{}
	indexLines(&root, "", lines)
	at := func(path string) string {
		// The nearest known line: the path itself, else its closest parent.
		for p := path; p != ""; {
			if l, ok := lines[p]; ok {
				return fmt.Sprintf("%s:%d", name, l)
			}
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		return name
	}
	c.WithDefaults()
	problems = append(problems, c.validate(at)...)
	c.CatalogData = map[string][]byte{}
	for i, f := range c.Catalog {
		b, err := readFile(f)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: catalog[%d]: cannot read %q: %v", at(fmt.Sprintf("catalog[%d]", i)), i, f, err))
			continue
		}
		c.CatalogData[f] = b
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// indexLines records the line of every mapping key and sequence item by its path, like
// "departments[0].protocol".
func indexLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			indexLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
}

var protocols = []string{"soap", "rest", "sql", "csv"}

func (c *Config) validate(at func(string) string) []string {
	var p []string
	bad := func(path, format string, args ...any) {
		p = append(p, at(path)+": "+path+": "+fmt.Sprintf(format, args...))
	}
	ids := map[string]bool{}
	for i, d := range c.Departments {
		dp := fmt.Sprintf("departments[%d]", i)
		switch {
		case d.ID == "":
			bad(dp+".id", "a department needs an id (e.g. psb)")
		case ids[d.ID]:
			bad(dp+".id", "department %q is bound twice", d.ID)
		}
		ids[d.ID] = true
		if !slices.Contains(protocols, d.Protocol) {
			bad(dp+".protocol", "protocol %q: want one of %s", d.Protocol, strings.Join(protocols, ", "))
		}
		switch d.Protocol {
		case "soap", "rest":
			if d.Endpoint == "" {
				bad(dp+".endpoint", "a %s department needs an endpoint URL", d.Protocol)
			}
		case "sql":
			if d.Driver != "sqlite" && d.Driver != "mysql" {
				bad(dp+".driver", "driver %q: want sqlite or mysql", d.Driver)
			}
			if d.DSN == "" {
				bad(dp+".dsn", "an sql department needs a dsn")
			}
		case "csv":
			if d.Dir == "" {
				bad(dp+".dir", "a csv department needs the export directory")
			}
		}
		if d.Timeout < 0 {
			bad(dp+".timeout", "timeout must be positive")
		}
		if d.Concurrency < 0 {
			bad(dp+".concurrency", "concurrency must be positive")
		}
		if len(d.Operations) == 0 {
			bad(dp+".operations", "a department needs at least one operation")
		}
		if len(d.Fields) == 0 {
			bad(dp+".fields", "a department needs a field map")
		}
	}
	names := make([]string, 0, len(c.Sources.Each()))
	for n := range c.Sources.Each() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := c.Sources.Each()[n]
		d := c.Department(r.Department)
		switch {
		case d == nil && !c.Demo:
			bad("sources."+n, "department %q is not bound (bound: %s)", r.Department, strings.Join(sortedKeys(ids), ", "))
		case d != nil:
			if _, ok := d.Operations[r.Operation]; !ok {
				bad("sources."+n, "department %q has no operation %q", r.Department, r.Operation)
			}
		}
	}
	if len(c.Catalog) == 0 {
		bad("catalog", "name at least one catalogue file")
	}
	seen := map[string]bool{}
	for i, cons := range c.Consumers {
		cp := fmt.Sprintf("consumers[%d]", i)
		if cons.Name == "" {
			bad(cp+".name", "a consumer needs a name")
		} else if seen[cons.Name] {
			bad(cp+".name", "consumer %q is listed twice", cons.Name)
		}
		seen[cons.Name] = true
		if cons.Purpose == "" {
			bad(cp+".purpose", "a consumer needs the purpose its tokens carry by default")
		}
		for _, r := range cons.Roles {
			if r != "approver" && r != "auditor" && r != "cio" {
				bad(cp+".roles", "role %q: want approver, auditor or cio", r)
			}
		}
		for j, g := range cons.Grants {
			gp := fmt.Sprintf("%s.grants[%d]", cp, j)
			if g.Purpose == "" {
				bad(gp+".purpose", "a grant is bound to a purpose")
			}
			if len(g.Codes) == 0 {
				bad(gp+".codes", "a grant names catalogue codes")
			}
		}
	}
	if len(c.Consumers) == 0 {
		bad("consumers", "list the consumers allowed to call the gateway")
	}
	if !c.Demo {
		if c.Auth.Issuer == "" {
			bad("auth.issuer", "the issuer tokens must carry is required")
		}
		if c.Auth.Audience == "" {
			bad("auth.audience", "the audience tokens must carry is required")
		}
		if len(c.Auth.KeyFiles) == 0 && c.Auth.JWKSFile == "" && c.Auth.JWKSURL == "" {
			bad("auth", "name the public keys that sign tokens (keyFiles, jwksFile or jwksURL)")
		}
	}
	if u := c.Auth.JWKSURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		bad("auth.jwksURL", "%q: want the identity provider's https:// URL", u)
	}
	if r := c.Tracing.SampleRatio; r < 0 || r > 1 {
		bad("tracing.sampleRatio", "%v: want a share in (0, 1]", r)
	}
	if u := c.Tracing.Endpoint; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		bad("tracing.endpoint", "%q: want the collector's OTLP/HTTP URL (http://collector:4318)", u)
	}
	if c.Auth.JWKSRefresh < 0 {
		bad("auth.jwksRefresh", "must not be negative")
	}
	if c.Store.Driver != "sqlite" && c.Store.Driver != "postgres" {
		bad("store.driver", "driver %q: want sqlite or postgres", c.Store.Driver)
	}
	if c.Store.Driver == "postgres" && c.Store.DSN == "" {
		bad("store.dsn", "postgres needs a dsn")
	}
	if c.Limits.PageSize > 1000 {
		bad("limits.pageSize", "at most 1000")
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "format %q: want json or text", c.Log.Format)
	}
	return p
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// expandEnv replaces ${NAME} (letters, digits, underscores) with the variable's value.
// Values may not contain line breaks, so line numbers stay those of the file.
func expandEnv(data []byte, file string, lookup func(string) (string, bool)) ([]byte, []string) {
	var problems []string
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		var b strings.Builder
		rest := line
		for {
			start := strings.Index(rest, "${")
			if start < 0 {
				b.WriteString(rest)
				break
			}
			end := strings.IndexByte(rest[start:], '}')
			if end < 0 || !envName(rest[start+2:start+end]) {
				b.WriteString(rest[:start+2])
				rest = rest[start+2:]
				continue
			}
			key := rest[start+2 : start+end]
			v, ok := lookup(key)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s:%d: ${%s} is not set in the environment", file, i+1, key))
			case strings.ContainsAny(v, "\r\n"):
				problems = append(problems, fmt.Sprintf("%s:%d: ${%s} contains a line break", file, i+1, key))
			}
			b.WriteString(rest[:start])
			b.WriteString(v)
			rest = rest[start+end+1:]
		}
		lines[i] = b.String()
	}
	return []byte(strings.Join(lines, "\n")), problems
}

func envName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
