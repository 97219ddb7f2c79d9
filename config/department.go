package config

import "time"

// Department binds one department's existing system to a protocol adapter. Everything
// that differs between two systems of the same protocol lives here, not in code: a
// department that moves its endpoint or renames a field is changed in configuration.
type Department struct {
	ID       string `yaml:"id"`       // short id used everywhere: psb, amr, credit, hrss
	Name     string `yaml:"name"`     // human name, for logs and the catalogue
	Protocol string `yaml:"protocol"` // soap, rest, sql or csv

	Endpoint string     `yaml:"endpoint,omitempty"` // soap, rest: base URL
	Auth     HeaderAuth `yaml:"auth,omitempty"`     // rest: API key header
	Driver   string     `yaml:"driver,omitempty"`   // sql: "sqlite" or "mysql"
	DSN      string     `yaml:"dsn,omitempty"`      // sql: data source name
	Dir      string     `yaml:"dir,omitempty"`      // csv: the drop directory

	Timeout     time.Duration `yaml:"timeout,omitempty"`     // per upstream call; default 3s
	Concurrency int           `yaml:"concurrency,omitempty"` // upstream calls in flight at once; default 8
	Retries     int           `yaml:"retries,omitempty"`     // extra attempts when unavailable; default 1, -1 for none
	// Breaker: consecutive failures that open the circuit (default 5) and how long it
	// stays open before a probe (default 10s).
	BreakerFailures int           `yaml:"breakerFailures,omitempty"`
	BreakerOpenFor  time.Duration `yaml:"breakerOpenFor,omitempty"`

	// Operations are the lookups the system offers, by the gateway's operation name.
	Operations map[string]Operation `yaml:"operations"`
	// Fields maps the system's legacy field names to the unified schema's.
	Fields []FieldMap `yaml:"fields"`
	// Codes are the code tables used by Fields, by table name: legacy code → unified value.
	Codes map[string]map[string]string `yaml:"codes,omitempty"`
}

// HeaderAuth is an API key sent in a request header. The key may come from the
// environment so that it stays out of the configuration file.
type HeaderAuth struct {
	Header string `yaml:"header,omitempty"`
	Key    string `yaml:"key,omitempty"`
	KeyEnv string `yaml:"keyEnv,omitempty"`
}

// Operation is one lookup of a department system. Batch is how many keys one upstream
// call may carry (1: one key per call, as the PSB's QueryPerson). Params are the
// protocol's own settings (a SOAP action, a REST path, an SQL query, a CSV key column);
// each adapter documents and validates the ones it reads.
type Operation struct {
	Batch  int               `yaml:"batch,omitempty"`
	Params map[string]string `yaml:",inline"`
}

// FieldMap maps one legacy field to one unified field, with at most one conversion:
// Code (a code table name), Date or Month (the legacy layout, in Go's reference-time
// notation, converted to ISO 8601), or Scale (a decimal multiplier, e.g. "10000" for
// amounts kept in units of 10,000 CNY; the result has two decimals).
type FieldMap struct {
	From  string `yaml:"from"`
	To    string `yaml:"to"`
	Code  string `yaml:"code,omitempty"`
	Date  string `yaml:"date,omitempty"`
	Month string `yaml:"month,omitempty"`
	Scale string `yaml:"scale,omitempty"`
}
