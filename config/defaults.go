package config

import "time"

// The defaults of every setting, in one block. WithDefaults fills a file's unset settings
// from them, and the packages that take these settings (cache, resilience, the SQL
// adapter, resolvers, sharing) fall back to the same constants when given zero, so a
// default is changed here and nowhere else. docs/operators.md lists them for operators.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultDataDir     = "data"
	DefaultStoreDriver = "sqlite"
	DefaultSQLiteFile  = "gateway.db" // in DataDir
	// DefaultStoreTimeout bounds each store call a request makes.
	DefaultStoreTimeout = 5 * time.Second
	// DefaultStoreOpenTimeout bounds opening the store at start: connecting, the schema
	// migrations (and the wait for another replica's) and replaying the audit journal.
	DefaultStoreOpenTimeout = 10 * time.Minute
	// DefaultAuditCommitTimeout bounds a response's wait for its audit events.
	DefaultAuditCommitTimeout = 5 * time.Second

	// Query limits.
	DefaultDepth      = 10
	DefaultComplexity = 5000
	DefaultAliases    = 50
	DefaultFields     = 10000
	DefaultSelections = 1000
	DefaultBodyBytes  = 1 << 20
	DefaultPageSize   = 100 // the largest `first` of a paged list
	DefaultBatchWait  = 250 * time.Microsecond

	// Each department binding.
	DefaultTimeout         = 3 * time.Second // per upstream call
	DefaultConcurrency     = 8               // upstream calls in flight at once
	DefaultRetries         = 1               // extra attempts when unavailable
	DefaultBreakerFailures = 5               // consecutive failures that open the circuit
	DefaultBreakerOpenFor  = 10 * time.Second

	// The record cache.
	DefaultCacheMaxRecords = 100000 // per department
	// DefaultCacheMaxBytes bounds one department's in-process entries: a packed
	// enterprise or person costs well under 1.5 KiB, so the default record bound fits
	// too (docs/PERFORMANCE.md, "Cache entries").
	DefaultCacheMaxBytes = 64 << 20
	DefaultStaleFor      = time.Hour
	DefaultNotFoundTTL   = 30 * time.Second
	DefaultRedisPrefix   = "pdgw:"

	DefaultDeadlineWorkingDays = 5 // for an owner to answer a sharing request
	DefaultLeeway              = 30 * time.Second
	DefaultJWKSRefresh         = 15 * time.Minute // auth.jwksURL fetched again this often
	DefaultTracingServiceName  = "pudong-gateway" // service.name of the gateway's spans
	DefaultLogFormat           = "json"           // "text" in the demo
	DefaultLogLevel            = "info"
)

// The protocols a department can be bound with: one adapter package each.
const (
	ProtocolSOAP = "soap"
	ProtocolREST = "rest"
	ProtocolSQL  = "sql"
	ProtocolCSV  = "csv"
)

// Protocols lists every protocol, in the order error messages name them.
var Protocols = []string{ProtocolSOAP, ProtocolREST, ProtocolSQL, ProtocolCSV}
