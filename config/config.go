// Package config is the gateway's one configuration file: the department bindings, which
// lookup each serves, the catalogue files, the consumers and their static grants,
// identity, storage, limits and caches. Load reports every mistake at once, each with its
// file and line, so an operator fixes a file in one pass.
package config

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway"
)

// Config is the whole configuration.
type Config struct {
	// Demo marks the embedded demo configuration: simulators, a generated key, a
	// token-minting endpoint for the playground. Never set in a production file.
	Demo bool `yaml:"-"`

	Addr string `yaml:"addr,omitempty"` // listen address; default 127.0.0.1:8080
	// MetricsAddr serves /metrics on a listener of its own, and not on Addr: the operators'
	// network can scrape it while the consumers' network cannot reach it. Empty: /metrics
	// is on Addr (docs/operators.md, "Health, readiness and metrics").
	MetricsAddr string `yaml:"metricsAddr,omitempty"`
	DataDir     string `yaml:"dataDir,omitempty"` // SQLite store, keys; default ./data

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
	Seal    Seal    `yaml:"seal,omitempty"`
	Audit   Audit   `yaml:"audit,omitempty"`
	Tracing Tracing `yaml:"tracing,omitempty"`

	// Purposes describe purposes of access for the citizen's data tracker, and mark the
	// confidential ones it withholds until their disclosure.
	Purposes []Purpose `yaml:"purposes,omitempty"`

	// Allowlist is the manifest of registered operations (written by `gateway allowlist
	// register`), relative to the configuration file; consumers with allowlistOnly may
	// send nothing else.
	Allowlist string `yaml:"allowlist,omitempty"`

	// Introspection allows schema introspection; on in the demo, off by default in a
	// production file.
	Introspection bool `yaml:"introspection,omitempty"`

	// AllowUnsafe names settings a production configuration may use only on purpose:
	// "demo-key" (the demo issuer or signing key, as `gateway sim` writes them, for
	// trying the gateway against the simulators), "world-writable-keys" (key files anyone
	// may replace) and "introspection" (on without a warning). Start-up refuses the first
	// two and warns about the third unless they are listed (docs/operators.md).
	AllowUnsafe []string `yaml:"allowUnsafe,omitempty"`

	// CatalogData holds the catalogue files' contents by name, read at Load.
	CatalogData map[string][]byte `yaml:"-"`
	// Path is the file the configuration came from, "" for the demo.
	Path string `yaml:"-"`
	// lines are the line of every key and list item, by path ("departments[0].auth").
	lines map[string]int
	// faulty are the paths Load found problems at.
	faulty []string
}

// Faulty reports whether Load found a problem at path or under it, so that later checks
// of the same setting (an adapter's, at start-up) do not report it a second time.
func (c *Config) Faulty(path string) bool {
	for _, f := range c.faulty {
		if f == path || strings.HasPrefix(f, path+".") || strings.HasPrefix(f, path+"[") {
			return true
		}
	}
	return false
}

// At returns "FILE:LINE" of a setting by its path, such as "departments[1].dsn" or
// "cache.redisAddr": the nearest line the file has for it (its parent's when the setting
// is absent), or just the file. Checks made after Load, at start-up or by `gateway config
// check`, report their problems with it, in the form Load uses.
func (c *Config) At(path string) string {
	for p := path; p != ""; {
		if l, ok := c.lines[p]; ok {
			return fmt.Sprintf("%s:%d", c.Path, l)
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	if c.Path == "" {
		return "configuration"
	}
	return c.Path
}

// Ref names the department and operation that serve one kind of lookup, or says that no
// department of this deployment offers it.
type Ref struct {
	Department string `yaml:"department"`
	Operation  string `yaml:"operation"`
	// None is written `lookup: none` in the file: no department offers this lookup (a
	// registry without a list operation, say). The gateway starts without it, and the
	// fields that need it answer SOURCE_NOT_OFFERED naming it (docs/errors.md).
	None bool `yaml:"-"`
}

// NoSource is how a configuration file says a lookup is not offered.
const NoSource = "none"

// UnmarshalYAML reads a Ref as {department, operation}, or as the word none.
func (r *Ref) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != NoSource {
			// A TypeError, so that decoding goes on and reports the file's other mistakes.
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q: want {department: …, operation: …} or %s", n.Line, n.Value, NoSource)}}
		}
		*r = Ref{None: true}
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value != "department" && k.Value != "operation" {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found in a source (department, operation)", k.Line, k.Value)}}
			}
		}
	}
	type plain Ref // without this method, so decoding does not recurse
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*r = Ref(p)
	return nil
}

// MarshalYAML writes a Ref that is not offered as the word none.
func (r Ref) MarshalYAML() (any, error) {
	if r.None {
		return NoSource, nil
	}
	type plain Ref
	return plain(r), nil
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
	Person:              Ref{Department: "psb", Operation: "person"},
	Enterprise:          Ref{Department: "amr", Operation: "enterprise"},
	EnterprisesByRep:    Ref{Department: "amr", Operation: "byLegalRep"},
	EnterpriseList:      Ref{Department: "amr", Operation: "list"},
	CreditBySubject:     Ref{Department: "credit", Operation: "bySubject"},
	InsuranceByCitizen:  Ref{Department: "hrss", Operation: "byCitizen"},
	InsuranceByEmployer: Ref{Department: "hrss", Operation: "byEmployer"},
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
		if p.dst.Department == "" && p.dst.Operation == "" && !p.dst.None {
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
	// Watch grants a watch list of enterprises and persons with notices of their
	// changes (the supervision platform in the demo).
	Watch bool `yaml:"watch,omitempty"`
	// Webhook receives the consumer's notices (POST, signed with the seal key); without
	// it the consumer polls them.
	Webhook string `yaml:"webhook,omitempty"`
	// RateLimit bounds each end user (token subject) of this consumer, and
	// ConsumerRateLimit the consumer as a whole. Defaults depend on the kind of
	// consumer: low for the playground and citizens' sessions, high for service backends.
	RateLimit         *Rate `yaml:"rateLimit,omitempty"`
	ConsumerRateLimit *Rate `yaml:"consumerRateLimit,omitempty"`
	// AllowlistOnly restricts the consumer to the operations registered in the
	// allowlist manifest (production front ends).
	AllowlistOnly bool `yaml:"allowlistOnly,omitempty"`
	// SubjectLimit bounds how many distinct people other than themselves one end user
	// may read or look up, per request and per minute (cost-based limits: aliases,
	// lists and relations all count by the people they reach). Defaults depend on the
	// kind of consumer; 0 means no bound.
	SubjectLimit *SubjectLimit `yaml:"subjectLimit,omitempty"`
}

// SubjectLimit is a budget of distinct people.
type SubjectLimit struct {
	PerRequest int `yaml:"perRequest"`
	PerMinute  int `yaml:"perMinute"`
}

// Subjects returns the consumer's budget of distinct people, with the defaults for its
// kind: small for the playground and citizens' sessions, large for service backends
// that serve many clerks, none for department consoles (which read their own data).
func (c *Consumer) Subjects() SubjectLimit {
	var l SubjectLimit
	switch {
	case c.Name == "playground":
		l = SubjectLimit{PerRequest: 10, PerMinute: 30}
	case c.SelfService:
		l = SubjectLimit{PerRequest: 5, PerMinute: 10}
	case c.Dept != "" || len(c.Roles) > 0:
		l = SubjectLimit{}
	default:
		l = SubjectLimit{PerRequest: 200, PerMinute: 6000}
	}
	if c.SubjectLimit != nil {
		l = *c.SubjectLimit
	}
	return l
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

// Seal is the key that seals answers (docs/sealed-answers.md).
type Seal struct {
	// KeyFile is the Ed25519 private key (PKCS#8 PEM, mode 0600), relative to the
	// configuration file; apart from the token and audit keys. Without it, requests
	// for a sealed answer get SEAL_UNAVAILABLE. The demo keeps one in its data directory.
	KeyFile string `yaml:"keyFile,omitempty"`
}

// Store is where grants, sharing requests and audit events are kept.
type Store struct {
	Driver string `yaml:"driver,omitempty"` // sqlite (default) or postgres
	DSN    string `yaml:"dsn,omitempty"`    // postgres DSN; for sqlite, a file path (default DataDir/gateway.db)
	// Timeout bounds each store call a request makes (sharing requests, grants, audit
	// queries), so a stalled database fails them with STORE_UNAVAILABLE. Default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// OpenTimeout bounds opening the store at start (and for the audit commands):
	// connecting, the schema migrations, the wait for another replica that is migrating,
	// and replaying the audit journal. Default 10m.
	OpenTimeout time.Duration `yaml:"openTimeout,omitempty"`
	// Replica names this gateway's audit chain, so that replicas sharing a database do
	// not queue on one chain head. Default: an id generated once and kept in
	// DataDir/replica-id. Two replicas must not share a data directory without it.
	Replica string `yaml:"replica,omitempty"`
	// AuditJournal is a file on this replica's own disk where audit events are durable
	// before they reach a PostgreSQL store, so that an audited answer waits for one
	// local append instead of a database commit (docs/audit.md, "The journal"); relative
	// to DataDir. Default: none. A SQLite store always keeps its journal beside its file.
	AuditJournal string `yaml:"auditJournal,omitempty"`
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
	MaxBytes    int64         `yaml:"maxBytes,omitempty"`    // per department, in bytes; default 64 MiB
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

// WithDefaults fills every unset setting with its default (defaults.go).
func (c *Config) WithDefaults() {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	c.Sources.fill()
	c.Store.Driver = cmp.Or(c.Store.Driver, DefaultStoreDriver)
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" {
		c.Store.DSN = filepath.Join(c.DataDir, DefaultSQLiteFile)
	}
	c.Store.AuditJournal = relativeTo(c.DataDir, c.Store.AuditJournal)
	l := &c.Limits
	l.Depth = cmp.Or(l.Depth, DefaultDepth)
	l.Complexity = cmp.Or(l.Complexity, DefaultComplexity)
	l.Aliases = cmp.Or(l.Aliases, DefaultAliases)
	l.Fields = cmp.Or(l.Fields, DefaultFields)
	l.Selections = cmp.Or(l.Selections, DefaultSelections)
	l.BodyBytes = cmp.Or(l.BodyBytes, DefaultBodyBytes)
	l.PageSize = cmp.Or(l.PageSize, DefaultPageSize)
	l.BatchWait = cmp.Or(l.BatchWait, DefaultBatchWait)
	c.Sharing.DeadlineWorkingDays = cmp.Or(c.Sharing.DeadlineWorkingDays, DefaultDeadlineWorkingDays)
	c.Cache.MaxRecords = cmp.Or(c.Cache.MaxRecords, DefaultCacheMaxRecords)
	c.Cache.MaxBytes = cmp.Or(c.Cache.MaxBytes, DefaultCacheMaxBytes)
	c.Cache.StaleFor = cmp.Or(c.Cache.StaleFor, DefaultStaleFor)
	c.Cache.NotFoundTTL = cmp.Or(c.Cache.NotFoundTTL, DefaultNotFoundTTL)
	c.Cache.RedisPrefix = cmp.Or(c.Cache.RedisPrefix, DefaultRedisPrefix)
	c.Auth.Leeway = cmp.Or(c.Auth.Leeway, DefaultLeeway)
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
		if c.Demo {
			c.Log.Format = "text"
		}
	}
	c.Log.Level = cmp.Or(c.Log.Level, DefaultLogLevel)
	c.Store.Timeout = cmp.Or(c.Store.Timeout, DefaultStoreTimeout)
	c.Store.OpenTimeout = cmp.Or(c.Store.OpenTimeout, DefaultStoreOpenTimeout)
	c.Audit.withDefaults(c.DataDir)
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
// Every problem is reported at once, with file and line. With an *Error it still returns
// what could be read (nil only when the file is not YAML at all), so that `gateway config
// check` can go on to the checks of start-up and report their problems too.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	dir := filepath.Dir(path)
	c, err := ParseEnv(data, path, func(name string) ([]byte, error) {
		return os.ReadFile(relativeTo(dir, name))
	}, os.LookupEnv)
	if c != nil {
		c.resolvePaths(dir)
	}
	return c, err
}

// resolvePaths makes the files a configuration names relative to its own directory
// (allowlist, key files, JWKS file, seal key) absolute, once, so that no user of the configuration
// needs to know where it came from. Catalogue files are read relative to it at Load.
func (c *Config) resolvePaths(dir string) {
	c.Allowlist = relativeTo(dir, c.Allowlist)
	c.Auth.JWKSFile = relativeTo(dir, c.Auth.JWKSFile)
	c.Seal.KeyFile = relativeTo(dir, c.Seal.KeyFile)
	for i, k := range c.Auth.KeyFiles {
		c.Auth.KeyFiles[i] = relativeTo(dir, k)
	}
}

// relativeTo is name read from dir: name itself when absolute or empty.
func relativeTo(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
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
	c.lines = map[string]int{}
	indexLines(&root, "", c.lines)
	at := c.At
	c.WithDefaults()
	problems = append(problems, c.validate(at)...)
	if lookup != nil {
		for i, d := range c.Departments {
			if k := d.Auth.KeyEnv; k != "" && d.Auth.Key == "" {
				if v, ok := lookup(k); !ok || v == "" {
					path := fmt.Sprintf("departments[%d].auth.keyEnv", i)
					c.faulty = append(c.faulty, path)
					problems = append(problems, fmt.Sprintf("%s: %s: the environment variable %s is not set", at(path), path, k))
				}
			}
		}
	}
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
		return c, &Error{Problems: problems}
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

func (c *Config) validate(at func(string) string) []string {
	var p []string
	bad := func(path, format string, args ...any) {
		p = append(p, at(path)+": "+path+": "+fmt.Sprintf(format, args...))
		c.faulty = append(c.faulty, path)
	}
	ids := c.validateDepartments(bad)
	c.validateSources(ids, bad)
	if len(c.Catalog) == 0 {
		bad("catalog", "name at least one catalogue file")
	}
	c.validateConsumers(bad)
	c.validateAuthAndTracing(bad)
	c.validateStore(bad)
	c.Audit.validate(bad)
	validatePurposes(c.Purposes, bad)
	c.validateLogAndServer(bad)
	c.validateNotNegative(bad)
	c.validateDepartmentResilience(bad)
	return p
}

// validateDepartments checks each department's id, protocol and what its
// protocol needs, and returns the ids bound.
func (c *Config) validateDepartments(bad func(path, format string, args ...any)) map[string]bool {
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
		if !slices.Contains(Protocols, d.Protocol) {
			bad(dp+".protocol", "protocol %q: want one of %s", d.Protocol, strings.Join(Protocols, ", "))
		}
		switch d.Protocol {
		case ProtocolSOAP, ProtocolREST:
			if d.Endpoint == "" {
				bad(dp+".endpoint", "a %s department needs an endpoint URL", d.Protocol)
			}
		case ProtocolSQL:
			if d.Driver != "sqlite" && d.Driver != "mysql" {
				bad(dp+".driver", "driver %q: want sqlite or mysql", d.Driver)
			}
			if d.DSN == "" {
				bad(dp+".dsn", "an sql department needs a dsn")
			}
		case ProtocolCSV:
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
	return ids
}

// validateSources checks that each source names a bound department (required
// outside the demo) and, when bound, one of its operations.
func (c *Config) validateSources(ids map[string]bool, bad func(path, format string, args ...any)) {
	names := make([]string, 0, len(c.Sources.Each()))
	for n := range c.Sources.Each() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := c.Sources.Each()[n]
		if r.None {
			continue
		}
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
}

// validateConsumers checks each consumer's name, purpose, roles, webhook and grants.
func (c *Config) validateConsumers(bad func(path, format string, args ...any)) {
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
			if !slices.Contains(gateway.Roles, r) {
				bad(cp+".roles", "role %q: want one of %s", r, strings.Join(gateway.Roles, ", "))
			}
		}
		if cons.Webhook != "" {
			if u, err := url.Parse(cons.Webhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad(cp+".webhook", "webhook %q: want an http(s) URL", cons.Webhook)
			} else if !cons.Watch {
				bad(cp+".webhook", "a webhook receives watch notices: set watch: true as well")
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
}

// validateAuthAndTracing checks where tokens' keys come from, what they must
// carry outside the demo, and where traces go.
func (c *Config) validateAuthAndTracing(bad func(path, format string, args ...any)) {
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
}

// validateStore checks the store's driver, DSN and replica name, and the page size.
func (c *Config) validateStore(bad func(path, format string, args ...any)) {
	if c.Store.Driver != "sqlite" && c.Store.Driver != "postgres" {
		bad("store.driver", "driver %q: want sqlite or postgres", c.Store.Driver)
	}
	if c.Store.Driver == "postgres" && c.Store.DSN == "" {
		bad("store.dsn", "postgres needs a dsn")
	}
	if c.Store.Replica != "" && !gateway.ValidChain(c.Store.Replica) {
		bad("store.replica", "replica %q: up to 64 letters, digits, '.', '_' or '-'", c.Store.Replica)
	}
	if c.Store.AuditJournal != "" && c.Store.Driver != "postgres" {
		bad("store.auditJournal", "only for a postgres store; a sqlite store keeps its audit journal beside its file")
	}
	if c.Limits.PageSize > 1000 {
		bad("limits.pageSize", "at most 1000")
	}
}

// validateLogAndServer checks the log's format and level, the unsafe settings
// allowed, and the listen address.
func (c *Config) validateLogAndServer(bad func(path, format string, args ...any)) {
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "format %q: want json or text", c.Log.Format)
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		bad("log.level", "level %q: want one of %s", c.Log.Level, strings.Join(logLevels, ", "))
	}
	for i, u := range c.AllowUnsafe {
		if !slices.Contains(unsafeSettings, u) {
			bad(fmt.Sprintf("allowUnsafe[%d]", i), "%q: want one of %s", u, strings.Join(unsafeSettings, ", "))
		}
	}
	if msg := checkListenAddr(c.Addr); msg != "" {
		bad("addr", "%s", msg)
	}
	if c.MetricsAddr != "" {
		if msg := checkListenAddr(c.MetricsAddr); msg != "" {
			bad("metricsAddr", "%s", msg)
		} else if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") { // port 0: two ports the system picks
			bad("metricsAddr", "%q is addr too: give the metrics a listener of their own, or leave metricsAddr out to serve them on addr", c.MetricsAddr)
		}
	}
}

// validateNotNegative checks the numbers and durations whose zero means the default.
func (c *Config) validateNotNegative(bad func(path, format string, args ...any)) {
	for _, n := range []struct {
		path string
		v    int64
	}{
		{"limits.depth", int64(c.Limits.Depth)}, {"limits.complexity", int64(c.Limits.Complexity)},
		{"limits.aliases", int64(c.Limits.Aliases)}, {"limits.fields", int64(c.Limits.Fields)},
		{"limits.selections", int64(c.Limits.Selections)}, {"limits.bodyBytes", c.Limits.BodyBytes},
		{"limits.pageSize", int64(c.Limits.PageSize)}, {"limits.batchWait", int64(c.Limits.BatchWait)},
		{"sharing.deadlineWorkingDays", int64(c.Sharing.DeadlineWorkingDays)},
		{"cache.maxRecords", int64(c.Cache.MaxRecords)}, {"cache.maxBytes", c.Cache.MaxBytes}, {"cache.staleFor", int64(c.Cache.StaleFor)},
		{"cache.notFoundTTL", int64(c.Cache.NotFoundTTL)}, {"auth.leeway", int64(c.Auth.Leeway)},
		{"audit.commitTimeout", int64(c.Audit.CommitTimeout)}, {"store.timeout", int64(c.Store.Timeout)},
		{"store.openTimeout", int64(c.Store.OpenTimeout)},
	} {
		if n.v < 0 {
			bad(n.path, "must not be negative; leave it out for the default")
		}
	}
}

// validateDepartmentResilience checks each department's retries and breaker settings.
func (c *Config) validateDepartmentResilience(bad func(path, format string, args ...any)) {
	for i, d := range c.Departments {
		dp := fmt.Sprintf("departments[%d]", i)
		if d.Retries < -1 {
			bad(dp+".retries", "retries %d: want -1 (none), 0 (the default) or more", d.Retries)
		}
		if d.BreakerFailures < 0 {
			bad(dp+".breakerFailures", "must not be negative")
		}
		if d.BreakerOpenFor < 0 {
			bad(dp+".breakerOpenFor", "must not be negative")
		}
	}
}

// Unsafe settings AllowUnsafe can name.
const (
	UnsafeDemoKey           = "demo-key"
	UnsafeWorldWritableKeys = "world-writable-keys"
	UnsafeIntrospection     = "introspection"
)

var unsafeSettings = []string{UnsafeDemoKey, UnsafeWorldWritableKeys, UnsafeIntrospection}

// Allows reports whether AllowUnsafe names setting.
func (c *Config) Allows(setting string) bool { return slices.Contains(c.AllowUnsafe, setting) }

// logLevels are the values of log.level.
var logLevels = []string{"debug", "info", "warn", "error"}

// checkListenAddr says what is wrong with a listen address, or "".
func checkListenAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not HOST:PORT (e.g. 0.0.0.0:8080): %v", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("port %q of %q: want a number from 0 to 65535", port, addr)
	}
	return ""
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
