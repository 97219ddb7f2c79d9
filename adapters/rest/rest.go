// Package rest adapts department systems that answer REST/JSON over HTTP. Nothing in it
// knows a particular department: paths, query templates, the JSON layout, paging and the
// key field all come from the binding's operation parameters.
//
// Operation parameters (config.Operation.Params):
//
//	path          required. Path under the endpoint, e.g. /v1/enterprises or
//	              /v1/enterprises/{key}. {key} is replaced by the path-escaped key.
//	query         query template, e.g. codes={keys} or legalRepId={key}&status=all.
//	              {key} is one key, {keys} every key of a batch; other values are sent as
//	              written. All values are query-escaped.
//	keySeparator  joins the keys of {keys} (default ","). A key that contains it cannot be
//	              sent in a batch and is reported absent.
//	records       dotted path of the JSON array of records, e.g. data or result.items;
//	              $ when the answer itself is the array. Empty: the whole answer is one
//	              record object.
//	total         dotted path of the total count (a number or a numeric string).
//	keyField      legacy field holding each record's key. Required with {keys}, where it
//	              groups the answer by key; elsewhere it guards against an upstream that
//	              ignores the key and answers with other subjects' records.
//	pageParam     query parameter naming the page (with sizeParam: the operation pages).
//	sizeParam     query parameter naming the page size.
//	firstPage     number of the first page (default 1; 0 for zero-based APIs).
//	maxPageSize   the largest page the system serves. Required when paging.
//	maxPages      how many pages Fetch reads for one key (default 10). A key with more
//	              records than maxPages×maxPageSize fails with ErrBadResponse rather than
//	              returning a silently truncated list; callers page with Page instead.
//
// A field's from (and keyField) may be a dotted path into nested objects of a record, e.g.
// basic.name for {"basic": {"name": …}}.
//
// An operation has one shape: {keys} (batch: one call per Fetch), {key} (one call, or one
// run of pages, per key, sequentially) or no key (a listing, Page only with key "").
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// MaxResponseBytes bounds how much of one upstream answer is read, so that a broken or
// hostile department cannot exhaust the gateway's memory.
const MaxResponseBytes = 8 << 20

// Source is one department's REST/JSON system. It is safe for concurrent use.
type Source struct {
	dept     string
	endpoint string // without a trailing slash
	header   string // API key header, "" for none
	key      string
	client   *http.Client
	mapping  *adapters.Mapping
	wanted   map[string]bool // legacy fields worth decoding: the mapped ones and key fields
	nested   map[string]bool // objects a dotted wanted field lies in: "basic" for basic.name
	ops      map[string]*operation
}

var (
	_ adapters.Source = (*Source)(nil)
	_ adapters.Pager  = (*Source)(nil)
)

// New validates department d's binding and returns its source. Every problem in the
// binding is reported at once, naming the department and operation. Requests go through
// client (nil: a client of its own), which the gateway shares for connection reuse;
// redirects are never followed, so an answer always comes from the path that was asked
// for. Deadlines are the caller's: resilience bounds every call (package adapters).
func New(d config.Department, client *http.Client) (*Source, error) {
	var errs []string
	if d.Protocol != "" && d.Protocol != config.ProtocolREST {
		errs = append(errs, fmt.Sprintf("protocol is %q, not rest", d.Protocol))
	}
	endpoint, err := parseEndpoint(d.Endpoint)
	if err != nil {
		errs = append(errs, err.Error())
	}
	header, key, err := apiKey(d.Auth)
	if err != nil {
		errs = append(errs, err.Error())
	}
	mapping, err := adapters.NewMapping(d.Fields, d.Codes)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(d.Operations) == 0 {
		errs = append(errs, "no operations")
	}
	ops := make(map[string]*operation, len(d.Operations))
	names := make([]string, 0, len(d.Operations))
	for n := range d.Operations {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		op, problems := parseOperation(n, d.Operations[n])
		for _, p := range problems {
			errs = append(errs, fmt.Sprintf("operation %s: %s", n, p))
		}
		ops[n] = op
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rest adapter for department %s: %s", d.ID, strings.Join(errs, "; "))
	}

	wanted := map[string]bool{}
	for _, f := range mapping.Legacy() {
		wanted[f] = true
	}
	for _, op := range ops {
		if op.keyField != "" {
			wanted[op.keyField] = true
		}
	}
	nested := map[string]bool{}
	for f := range wanted {
		for i := strings.IndexByte(f, '.'); i > 0; i = next(f, i) {
			nested[f[:i]] = true
		}
	}
	c := &http.Client{}
	if client != nil {
		cp := *client // shares the transport, hence the connection pool
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Source{
		dept: d.ID, endpoint: endpoint, header: header, key: key,
		client: c, mapping: mapping, wanted: wanted, nested: nested, ops: ops,
	}, nil
}

// next is the index of the dot after position i in f, or -1.
func next(f string, i int) int {
	if j := strings.IndexByte(f[i+1:], '.'); j >= 0 {
		return i + 1 + j
	}
	return -1
}

// Fetch implements adapters.Source. A batch operation makes one upstream call for up to
// its batch size of keys; a single-key operation makes one call (or one run of pages) per
// key, in order.
func (s *Source) Fetch(ctx context.Context, opName string, keys []string) (map[string][]adapters.Record, error) {
	op, err := s.operation(opName)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]adapters.Record, len(keys))
	switch op.place {
	case noKey:
		return nil, fmt.Errorf("%s: the operation takes no key; list it with Page", s.where(op))
	case batchKeys:
		var send []string
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			// A key holding the separator would reach the department as several keys;
			// it cannot name one record, so it is absent without being sent.
			if k == "" || seen[k] || strings.Contains(k, op.sep) {
				continue
			}
			seen[k] = true
			send = append(send, k)
		}
		for chunk := range slices.Chunk(send, op.batch) {
			if err := s.fetchBatch(ctx, op, chunk, out); err != nil {
				return nil, err
			}
		}
	default:
		for _, k := range keys {
			if _, done := out[k]; done || k == "" {
				continue
			}
			recs, err := s.fetchAll(ctx, op, k)
			if err != nil {
				return nil, err
			}
			if len(recs) > 0 {
				out[k] = recs
			}
		}
	}
	return out, nil
}

// Page implements adapters.Pager: it fetches the one or two upstream pages (more when
// limit exceeds the system's maxPageSize) that hold records offset to offset+limit-1.
func (s *Source) Page(ctx context.Context, opName, key string, offset, limit int) (adapters.Page, error) {
	op, err := s.operation(opName)
	if err != nil {
		return adapters.Page{}, err
	}
	switch {
	case !op.paged():
		return adapters.Page{}, fmt.Errorf("%s: the operation does not page", s.where(op))
	case op.place == noKey && key != "":
		return adapters.Page{}, fmt.Errorf("%s: the operation takes no key", s.where(op))
	case op.place != noKey && key == "":
		return adapters.Page{}, fmt.Errorf("%s: the operation needs a key", s.where(op))
	case offset < 0 || limit < 0:
		return adapters.Page{}, fmt.Errorf("%s: offset %d and limit %d must not be negative", s.where(op), offset, limit)
	}
	size := min(max(limit, 1), op.maxPageSize)
	first := offset / size
	last := (offset + max(limit, 1) - 1) / size
	var (
		recs  []adapters.Record
		total int
	)
	for p := first; p <= last; p++ {
		got, t, found, err := s.call(ctx, op, key, p, size)
		if err != nil {
			return adapters.Page{}, err
		}
		if !found {
			return adapters.Page{}, nil
		}
		total = t
		if p == first {
			skip := offset - p*size
			got = got[min(skip, len(got)):]
		}
		recs = append(recs, got...)
		if len(recs) >= limit || len(got) == 0 || (p+1)*size >= total {
			break
		}
	}
	return adapters.Page{Records: recs[:min(limit, len(recs))], Total: total}, nil
}

func (s *Source) operation(name string) (*operation, error) {
	op, ok := s.ops[name]
	if !ok {
		return nil, fmt.Errorf("rest adapter for department %s: no operation %q", s.dept, name)
	}
	return op, nil
}

// where names a call in messages: department and operation, never a key.
func (s *Source) where(op *operation) string { return s.dept + " " + op.name }

func (s *Source) fetchBatch(ctx context.Context, op *operation, keys []string, out map[string][]adapters.Record) error {
	recs, keyOf, err := s.callRaw(ctx, op, "", keys, 0, 0)
	if err != nil {
		return err
	}
	asked := make(map[string]string, len(keys))
	for _, k := range keys {
		asked[strings.ToUpper(k)] = k
	}
	for i, raw := range recs.records {
		k, ok := asked[strings.ToUpper(keyOf[i])]
		if !ok {
			return fmt.Errorf("%w: %s: a record's %s is not one of the keys asked for", adapters.ErrBadResponse, s.where(op), op.keyField)
		}
		rec, err := s.mapping.Apply(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", s.where(op), err)
		}
		out[k] = append(out[k], rec)
	}
	return nil
}

// fetchAll returns every record of one key, reading page after page when the operation
// pages, up to maxPages.
func (s *Source) fetchAll(ctx context.Context, op *operation, key string) ([]adapters.Record, error) {
	if !op.paged() {
		recs, _, _, err := s.call(ctx, op, key, 0, 0)
		return recs, err
	}
	var all []adapters.Record
	for p := 0; p < op.maxPages; p++ {
		recs, total, found, err := s.call(ctx, op, key, p, op.maxPageSize)
		if err != nil || !found {
			return nil, err
		}
		all = append(all, recs...)
		if len(recs) < op.maxPageSize || len(all) >= total {
			return all, nil
		}
	}
	return nil, fmt.Errorf("%w: %s: one key has more than %d records (maxPages %d × maxPageSize %d); page through them instead",
		adapters.ErrBadResponse, s.where(op), op.maxPages*op.maxPageSize, op.maxPages, op.maxPageSize)
}

// call runs one upstream request for key (page p of size, counted from 0, when size > 0)
// and maps the records. found is false when a single-key path answered 404.
func (s *Source) call(ctx context.Context, op *operation, key string, p, size int) (recs []adapters.Record, total int, found bool, err error) {
	raw, keyOf, err := s.callRaw(ctx, op, key, nil, p, size)
	if err != nil || !raw.found {
		return nil, 0, false, err
	}
	recs = make([]adapters.Record, 0, len(raw.records))
	for i, r := range raw.records {
		if op.keyField != "" && op.place != noKey && !strings.EqualFold(keyOf[i], key) {
			return nil, 0, false, fmt.Errorf("%w: %s: the answer holds a record whose %s is not the key asked for",
				adapters.ErrBadResponse, s.where(op), op.keyField)
		}
		rec, err := s.mapping.Apply(r)
		if err != nil {
			return nil, 0, false, fmt.Errorf("%s: %w", s.where(op), err)
		}
		recs = append(recs, rec)
	}
	return recs, raw.total, true, nil
}

// answer is one decoded upstream answer, still under legacy field names.
type answer struct {
	found   bool
	records []map[string]string
	total   int
}

func (s *Source) callRaw(ctx context.Context, op *operation, key string, keys []string, p, size int) (answer, []string, error) {
	target := s.url(op, key, keys, p, size)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return answer{}, nil, fmt.Errorf("%w: %s: building the request: %w", adapters.ErrBadResponse, s.where(op), withoutURL(err))
	}
	req.Header.Set("Accept", "application/json")
	adapters.SetRequestID(ctx, req.Header)
	if s.header != "" {
		req.Header.Set(s.header, s.key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{}, nil, fmt.Errorf("%w: %s: %w", adapters.ErrUnavailable, s.where(op), withoutURL(err))
	}
	defer resp.Body.Close()
	if err := s.status(op, resp); err != nil {
		return answer{}, nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // lets the connection be reused
		return answer{}, nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return answer{}, nil, fmt.Errorf("%w: %s: reading the answer: %w", adapters.ErrUnavailable, s.where(op), withoutURL(err))
	}
	if len(body) > MaxResponseBytes {
		return answer{}, nil, fmt.Errorf("%w: %s: the answer exceeds %d bytes", adapters.ErrBadResponse, s.where(op), MaxResponseBytes)
	}
	a, keyOf, err := s.decode(op, body)
	if err != nil {
		return answer{}, nil, fmt.Errorf("%w: %s: %w", adapters.ErrBadResponse, s.where(op), err)
	}
	a.found = true
	return a, keyOf, nil
}

// status turns an HTTP status into the error the gateway understands. A 404 for a key in
// the path is the department saying "no such record", which is not an error.
func (s *Source) status(op *operation, resp *http.Response) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 || code == http.StatusNotFound && op.place == pathKey {
		return nil
	}
	detail := ""
	if c := upstreamCode(resp.Body); c != "" {
		detail = " " + c
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: %s: the department refused the API key (HTTP %d%s); check auth in the binding",
			adapters.ErrUnavailable, s.where(op), code, detail)
	case code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("%w: %s: HTTP %d%s", adapters.ErrUnavailable, s.where(op), code, detail)
	case code >= 300 && code < 400:
		return fmt.Errorf("%w: %s: HTTP %d redirect refused; point the binding at the final address",
			adapters.ErrBadResponse, s.where(op), code)
	default:
		return fmt.Errorf("%w: %s: the department rejected the request: HTTP %d%s",
			adapters.ErrBadResponse, s.where(op), code, detail)
	}
}

// upstreamCode returns the machine-readable code of an error answer such as
// {"code":"NOT_FOUND","message":"…"}, or "". Only the code is kept: the message may quote
// the key, and the code is checked to be a plain identifier.
func upstreamCode(body io.Reader) string {
	var e struct {
		Code string `json:"code"`
	}
	b, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil || json.Unmarshal(b, &e) != nil || e.Code == "" || len(e.Code) > 40 {
		return ""
	}
	for _, r := range e.Code {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '.' {
			return ""
		}
	}
	return e.Code
}

// url builds the request URL. Keys are always escaped for where they stand, so that a
// key can never add a path segment or a query parameter.
func (s *Source) url(op *operation, key string, keys []string, p, size int) string {
	var b strings.Builder
	b.WriteString(s.endpoint)
	b.WriteString(strings.ReplaceAll(op.path, keyPlaceholder, escapeSegment(key)))
	q := make(url.Values, len(op.query)+2)
	for _, qp := range op.query {
		v := qp.value
		switch v {
		case keyPlaceholder:
			v = key
		case keysPlaceholder:
			v = strings.Join(keys, op.sep)
		}
		q.Add(qp.name, v)
	}
	if size > 0 {
		q.Set(op.pageParam, strconv.Itoa(op.firstPage+p))
		q.Set(op.sizeParam, strconv.Itoa(size))
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// escapeSegment escapes a key as one path segment. Dots are escaped too, so that "." and
// ".." never reach the department as dot-segments that a server could resolve.
func escapeSegment(k string) string {
	return strings.ReplaceAll(url.PathEscape(k), ".", "%2E")
}

// withoutURL drops the *url.Error wrapper, whose message quotes the whole URL and with it
// the key (an ID number must never appear in a message).
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
