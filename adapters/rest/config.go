package rest

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"pudong.gov.cn/gateway/config"
)

// Placeholders in an operation's path and query templates.
const (
	keyPlaceholder  = "{key}"  // one key, escaped for where it stands
	keysPlaceholder = "{keys}" // every key of a batch, joined by keySeparator
)

// The parameters an operation may set (config.Operation.Params).
const (
	paramPath         = "path"
	paramQuery        = "query"
	paramKeySeparator = "keySeparator"
	paramRecords      = "records"
	paramTotal        = "total"
	paramKeyField     = "keyField"
	paramPageParam    = "pageParam"
	paramSizeParam    = "sizeParam"
	paramFirstPage    = "firstPage"
	paramMaxPageSize  = "maxPageSize"
	paramMaxPages     = "maxPages"
)

func knownParams() []string {
	return []string{paramPath, paramQuery, paramKeySeparator, paramRecords, paramTotal,
		paramKeyField, paramPageParam, paramSizeParam, paramFirstPage, paramMaxPageSize, paramMaxPages}
}

// bodyPath as records says the answer itself is the array of records, as in
// GET /api/citizens?ids=a,b → [{…},{…}].
const bodyPath = "$"

// defaultMaxPages bounds how many pages Fetch reads for one key when the binding does not say.
const defaultMaxPages = 10

// keyPlace is where an operation puts its key in the request.
type keyPlace int

const (
	noKey     keyPlace = iota // a listing without a key: Page only
	pathKey                   // one key as a path segment, one call per key
	queryKey                  // one key as a query value, one call (or one page run) per key
	batchKeys                 // many keys in one query value, one call per batch
)

// queryParam is one name=value of a query template; value may be a placeholder.
type queryParam struct{ name, value string }

// operation is one validated config.Operation.
type operation struct {
	name        string
	path        string // escaped path template, may hold {key}
	query       []queryParam
	place       keyPlace
	batch       int
	sep         string
	records     []string // dotted path to the array of records; nil: the body is one record
	bodyIsList  bool     // records: $, the body itself is the array of records
	total       []string // dotted path to the total count
	keyField    string   // legacy field holding each record's key
	pageParam   string
	sizeParam   string
	firstPage   int
	maxPageSize int
	maxPages    int
}

func (op *operation) paged() bool { return op.pageParam != "" }

// parseOperation validates one operation and returns every problem found.
func parseOperation(name string, o config.Operation) (*operation, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	p := o.Params
	op := &operation{name: name, batch: max(o.Batch, 1), sep: ",", firstPage: 1, maxPages: defaultMaxPages}

	var unknown []string
	known := knownParams()
	for k := range p {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		bad("unknown parameter %q (known: %s)", k, strings.Join(known, ", "))
	}

	placeholders := 0
	op.path = p[paramPath]
	switch {
	case op.path == "":
		bad("path is required")
	case !strings.HasPrefix(op.path, "/") || strings.ContainsAny(op.path, "?#"):
		bad("path %q must start with / and hold no query or fragment", op.path)
	case strings.Contains(op.path, keysPlaceholder):
		bad("path %q: {keys} may only stand in the query", op.path)
	default:
		if _, err := url.Parse(op.path); err != nil {
			bad("path %q is not a valid URL path: %v", op.path, err)
		}
		if n := strings.Count(op.path, keyPlaceholder); n > 0 {
			placeholders += n
			op.place = pathKey
		}
	}

	if q := p[paramQuery]; q != "" {
		vals, err := url.ParseQuery(q)
		if err != nil {
			bad("query %q is not name=value pairs joined by &: %v", q, err)
		}
		names := make([]string, 0, len(vals))
		for n := range vals {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			for _, v := range vals[n] {
				switch {
				case v == keyPlaceholder:
					placeholders++
					op.place = queryKey
				case v == keysPlaceholder:
					placeholders++
					op.place = batchKeys
				case strings.Contains(v, "{key"):
					bad("query parameter %q: a placeholder must be the whole value", n)
				}
				op.query = append(op.query, queryParam{n, v})
			}
		}
	}
	if placeholders > 1 {
		bad("path and query hold %d key placeholders; at most one of {key} or {keys}", placeholders)
	}

	if s, ok := p[paramKeySeparator]; ok {
		if s == "" {
			bad("keySeparator is empty")
		}
		op.sep = s
	}
	op.keyField = p[paramKeyField]
	op.records = dotted(p[paramRecords])
	op.total = dotted(p[paramTotal])
	for _, f := range []string{paramRecords, paramTotal, paramKeyField} {
		if v := p[f]; v != "" && slices.Contains(dotted(v), "") {
			bad("%s %q has an empty segment", f, v)
		}
	}
	if p[paramRecords] == bodyPath {
		op.bodyIsList = true
		if op.total != nil {
			bad("records %s (the answer is the array) leaves no object to hold total", bodyPath)
		}
	}

	switch {
	case op.place == batchKeys:
		if op.keyField == "" {
			bad("a batch operation ({keys}) needs keyField to tell which record answers which key")
		}
		if op.records == nil {
			bad("a batch operation ({keys}) needs records, the field holding the array")
		}
	case op.batch > 1:
		bad("batch %d needs {keys} in the query; without it each call carries one key", op.batch)
	}

	op.pageParam, op.sizeParam = p[paramPageParam], p[paramSizeParam]
	if (op.pageParam == "") != (op.sizeParam == "") {
		bad("pageParam and sizeParam go together")
	}
	if op.paged() {
		if op.place == batchKeys {
			bad("a batch operation ({keys}) cannot page")
		}
		if op.records == nil || op.total == nil {
			bad("a paged operation needs records and total")
		}
		op.maxPageSize = positive(p, paramMaxPageSize, 0, bad)
		if op.maxPageSize == 0 && p[paramMaxPageSize] == "" {
			bad("a paged operation needs maxPageSize")
		}
		op.firstPage = whole(p, paramFirstPage, 1, bad)
		op.maxPages = positive(p, paramMaxPages, defaultMaxPages, bad)
	} else {
		for _, f := range []string{paramFirstPage, paramMaxPageSize, paramMaxPages} {
			if _, ok := p[f]; ok {
				bad("%s only applies with pageParam and sizeParam", f)
			}
		}
		if op.place == noKey {
			bad("an operation without a key placeholder must page (pageParam, sizeParam)")
		}
	}
	return op, errs
}

// positive reads a parameter that must be a whole number ≥ 1, or def when absent.
func positive(p map[string]string, name string, def int, bad func(string, ...any)) int {
	s, ok := p[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		bad("%s %q is not a whole number from 1", name, s)
		return def
	}
	return n
}

// whole reads a parameter that must be a whole number ≥ 0, or def when absent.
func whole(p map[string]string, name string, def int, bad func(string, ...any)) int {
	s, ok := p[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		bad("%s %q is not a whole number from 0", name, s)
		return def
	}
	return n
}

func dotted(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

// parseEndpoint checks the department's base URL.
func parseEndpoint(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("endpoint is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("endpoint %q must be an http or https URL without query or fragment", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// apiKey resolves the key of a header auth: Key itself, or the environment variable KeyEnv
// names, so that production keys stay out of configuration files.
func apiKey(a config.HeaderAuth) (header, key string, err error) {
	key = a.Key
	if key == "" && a.KeyEnv != "" {
		if key = os.Getenv(a.KeyEnv); key == "" {
			return "", "", fmt.Errorf("auth: environment variable %s (keyEnv) is empty", a.KeyEnv)
		}
	}
	switch {
	case a.Header == "" && key != "":
		return "", "", fmt.Errorf("auth: a key is set but no header to send it in")
	case a.Header != "" && key == "":
		return "", "", fmt.Errorf("auth: header %s has no key (set key or keyEnv)", a.Header)
	}
	return a.Header, key, nil
}
