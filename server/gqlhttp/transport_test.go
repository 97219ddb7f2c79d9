package gqlhttp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"

	"pudong.gov.cn/gateway/errcode"
)

const (
	jsonCT = MediaTypeJSON + "; charset=utf-8"
	grCT   = MediaTypeGraphQLResponse + "; charset=utf-8"
	// recommended is the Accept header the specification recommends to clients.
	recommended = "application/graphql-response+json; charset=utf-8, application/json; charset=utf-8"
)

// newServer wires the transport the way server/graphql.go does: query cache, APQ, a
// complexity limit, and a response middleware whose mark proves that a response went
// through the executor's DispatchOperation or DispatchError.
func newServer(tr Transport, es *testSchema) *handler.Server {
	srv := handler.New(es)
	srv.AddTransport(tr)
	srv.SetQueryCache(lru.New[*ast.QueryDocument](100))
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(extension.FixedComplexityLimit(3))
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		graphql.RegisterExtension(ctx, "via", "executor")
		return next(ctx)
	})
	return srv
}

// result is a response as a client sees it.
type result struct {
	status  int
	header  http.Header
	hasData bool
	data    string // compact JSON of "data" when hasData
	errors  []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	extensions map[string]any
	raw        string
}

func (r result) code() string {
	if len(r.errors) == 0 {
		return ""
	}
	c, _ := r.errors[0].Extensions["code"].(string)
	return c
}

type request struct {
	method string
	query  string // raw URL query string
	ct     string // Content-Type; empty: none
	accept string // Accept; empty: none
	body   string
}

func do(t *testing.T, h http.Handler, rq request) result {
	t.Helper()
	target := "/graphql"
	if rq.query != "" {
		target += "?" + rq.query
	}
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req := httptest.NewRequest(rq.method, target, body)
	if rq.ct != "" {
		req.Header.Set("Content-Type", rq.ct)
	}
	if rq.accept != "" {
		req.Header.Set("Accept", rq.accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	res := result{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, rec.Body)
	}
	if d, ok := top["data"]; ok {
		res.hasData = true
		var c bytes.Buffer
		if err := json.Compact(&c, d); err != nil {
			t.Fatal(err)
		}
		res.data = c.String()
	}
	if e, ok := top["errors"]; ok {
		if err := json.Unmarshal(e, &res.errors); err != nil {
			t.Fatalf("errors: %v", err)
		}
	}
	if e, ok := top["extensions"]; ok {
		if err := json.Unmarshal(e, &res.extensions); err != nil {
			t.Fatalf("extensions: %v", err)
		}
	}
	return res
}

func q(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return v.Encode()
}

func post(ct, accept, body string) request {
	return request{method: http.MethodPost, ct: ct, accept: accept, body: body}
}

func get(accept, query string) request {
	return request{method: http.MethodGet, accept: accept, query: query}
}

const noData = "-" // want: the response has no "data" entry

func TestTransport(t *testing.T) {
	var tests []transportCase
	for _, group := range [][]transportCase{answeredCases, acceptCases, requestErrorCases, malformedCases, getCases} {
		tests = append(tests, group...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := newTestSchema()
			res := do(t, newServer(Transport{}, es), tt.req)
			checkTransportCase(t, tt, res, es)
		})
	}
}

// transportCase is a request and what the transport must answer.
type transportCase struct {
	name   string // the specification section the case checks
	req    request
	status int
	ct     string // response Content-Type
	data   string // compact JSON of data, or noData
	code   string // extensions.code of the first error; "" when errors are not expected
	errors bool   // errors expected (also without a code)
	allow  string
	ran    bool // a resolver ran
}

const (
	mtJSON     = MediaTypeJSON
	mtGR       = MediaTypeGraphQLResponse
	helloQuery = `{"query":"{hello}"}`
)

// answeredCases: Request / POST / JSON Encoding, Response / Body.
var answeredCases = []transportCase{
	{name: "POST: application/json request, application/json response",
		req: post(mtJSON, mtJSON, helloQuery), status: 200, ct: jsonCT, data: `{"hello":"world"}`, ran: true},
	{name: "Body: application/graphql-response+json response",
		req: post(mtJSON, mtGR, helloQuery), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "POST: charset=utf-8 is accepted",
		req: post(mtJSON+"; charset=utf-8", mtGR, helloQuery), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "POST: charset is matched case-insensitively",
		req: post("Application/JSON; Charset=UTF-8", mtGR, helloQuery), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "Request Parameters: operationName, variables and extensions may be null",
		req:    post(mtJSON, mtGR, `{"query":"{hello}","operationName":null,"variables":null,"extensions":null}`),
		status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "Request Parameters: operationName selects the operation",
		req:    post(mtJSON, mtGR, `{"query":"query A{a:hello} query B{b:hello}","operationName":"B"}`),
		status: 200, ct: grCT, data: `{"b":"world"}`, ran: true},
	{name: "JSON Encoding: variables reach the operation",
		req:    post(mtJSON, mtGR, `{"query":"query($n:Int!){echo(n:$n)}","variables":{"n":7}}`),
		status: 200, ct: grCT, data: `{"echo":7}`, ran: true},
	{name: "JSON Encoding: unknown members are reserved, not errors",
		req: post(mtJSON, mtGR, `{"query":"{hello}","id":"x"}`), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
}

// acceptCases: Accept and Legacy Watershed.
var acceptCases = []transportCase{
	{name: "Legacy Watershed: no Accept header is answered as application/json",
		req: post(mtJSON, "", helloQuery), status: 200, ct: jsonCT, data: `{"hello":"world"}`, ran: true},
	{name: "Body: */* leaves the choice to the server: application/json",
		req: post(mtJSON, "*/*", helloQuery), status: 200, ct: jsonCT, data: `{"hello":"world"}`, ran: true},
	{name: "Accept: the recommended client header gets the preferred type",
		req: post(mtJSON, recommended, helloQuery), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "Body: the highest weighted supported type wins",
		req: post(mtJSON, "application/graphql-response+json;q=0.5, application/json;q=0.9", helloQuery), status: 200, ct: jsonCT, data: `{"hello":"world"}`, ran: true},
	{name: "Body: a named type beats a wildcard of equal weight",
		req: post(mtJSON, "*/*, application/json", helloQuery), status: 200, ct: jsonCT, data: `{"hello":"world"}`, ran: true},
	{name: "Body: no supported type in Accept gives 406 and stops processing",
		req: post(mtJSON, "text/html", helloQuery), status: 406, ct: jsonCT, data: noData, code: errcode.NotAcceptable},
	{name: "Body: q=0 refuses a type, 406",
		req: post(mtJSON, "application/json;q=0", helloQuery), status: 406, ct: jsonCT, data: noData, code: errcode.NotAcceptable},
}

// requestErrorCases: Status Codes: GraphQL request errors never carry data; 200 vs 400 by media type.
var requestErrorCases = []transportCase{
	{name: "application/json / Document parsing failure: 200",
		req: post(mtJSON, mtJSON, `{"query":"{"}`), status: 200, ct: jsonCT, data: noData, code: "GRAPHQL_PARSE_FAILED"},
	{name: "application/graphql-response+json / Document parsing failure: 400",
		req: post(mtJSON, mtGR, `{"query":"{"}`), status: 400, ct: grCT, data: noData, code: "GRAPHQL_PARSE_FAILED"},
	{name: "application/json / Document validation failure: 200",
		req: post(mtJSON, mtJSON, `{"query":"{nope}"}`), status: 200, ct: jsonCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "application/graphql-response+json / Document validation failure: 400",
		req: post(mtJSON, mtGR, `{"query":"{nope}"}`), status: 400, ct: grCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "application/json / Operation cannot be determined: 200",
		req: post(mtJSON, mtJSON, `{"query":"query A{hello} query B{hello}"}`), status: 200, ct: jsonCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "application/graphql-response+json / Operation cannot be determined: 400",
		req: post(mtJSON, mtGR, `{"query":"query A{hello} query B{hello}"}`), status: 400, ct: grCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "application/json / Variable coercion failure: 200",
		req: post(mtJSON, mtJSON, `{"query":"query($n:Int!){echo(n:$n)}","variables":{"n":"x"}}`), status: 200, ct: jsonCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "application/graphql-response+json / Variable coercion failure: 400",
		req: post(mtJSON, mtGR, `{"query":"query($n:Int!){echo(n:$n)}","variables":{"n":"x"}}`), status: 400, ct: grCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "Validation: an extension's extra rule (complexity) is a request error, 400",
		req: post(mtJSON, mtGR, `{"query":"{a:hello b:hello c:hello d:hello}"}`), status: 400, ct: grCT, data: noData, code: "COMPLEXITY_LIMIT_EXCEEDED"},
	{name: "application/json / Field errors encountered during execution: 200 with data",
		req: post(mtJSON, mtJSON, `{"query":"{hello broken}"}`), status: 200, ct: jsonCT, data: `{"hello":"world","broken":null}`, errors: true, ran: true},
	{name: "application/graphql-response+json / Field errors encountered during execution: 200 with data",
		req: post(mtJSON, mtGR, `{"query":"{hello broken}"}`), status: 200, ct: grCT, data: `{"hello":"world","broken":null}`, errors: true, ran: true},
	{name: "Overview: subscriptions are out of scope, a request error",
		req: post(mtJSON, mtGR, `{"query":"subscription{ticks}"}`), status: 400, ct: grCT, data: noData, code: errcode.SubscriptionNotSupported},
	{name: "application/json: a refused subscription is still 200",
		req: post(mtJSON, mtJSON, `{"query":"subscription{ticks}"}`), status: 200, ct: jsonCT, data: noData, code: errcode.SubscriptionNotSupported},
	{name: "POST: mutations run by POST",
		req: post(mtJSON, mtGR, `{"query":"mutation{bump}"}`), status: 200, ct: grCT, data: `{"bump":1}`, ran: true},
}

// malformedCases: Status Codes: requests that are not well-formed GraphQL-over-HTTP requests.
var malformedCases = []transportCase{
	{name: "JSON parsing failure: NONSENSE, 400",
		req: post(mtJSON, mtJSON, `NONSENSE`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "JSON parsing failure: truncated JSON, 400 (graphql-response+json)",
		req: post(mtJSON, mtGR, `{"query":`), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "JSON parsing failure: data after the object, 400",
		req: post(mtJSON, mtGR, `{"query":"{hello}"} {}`), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "JSON parsing failure: empty body, 400",
		req: request{method: http.MethodPost, ct: mtJSON, accept: mtGR}, status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "JSON Encoding: a JSON array (batch) is refused, 400",
		req: post(mtJSON, mtJSON, `[{"query":"{hello}"}]`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "JSON Encoding: a JSON value that is not an object, 400",
		req: post(mtJSON, mtJSON, `null`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: query missing ({\"qeury\":…}), 400",
		req: post(mtJSON, mtJSON, `{"qeury":"{hello}"}`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: query null, 400",
		req: post(mtJSON, mtGR, `{"query":null}`), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: query not a string, 400",
		req: post(mtJSON, mtJSON, `{"query":1}`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: operationName not a string, 400",
		req: post(mtJSON, mtJSON, `{"query":"{hello}","operationName":["A"]}`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: variables [7], not an object, 400",
		req: post(mtJSON, mtJSON, `{"query":"query Q($i:Int!){echo(n:$i)}","variables":[7]}`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: variables a string, 400",
		req: post(mtJSON, mtGR, `{"query":"{hello}","variables":"{}"}`), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "Invalid parameters: extensions not an object, 400",
		req: post(mtJSON, mtJSON, `{"query":"{hello}","extensions":true}`), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "Media Types: the body must be UTF-8, 400",
		req: post(mtJSON, mtGR, "{\"query\":\"{hello}\xff\"}"), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "POST: no Content-Type, 415",
		req: post("", mtGR, helloQuery), status: 415, ct: grCT, data: noData, code: errcode.UnsupportedMediaType},
	{name: "POST: unsupported Content-Type text/plain, 415",
		req: post("text/plain", mtGR, helloQuery), status: 415, ct: grCT, data: noData, code: errcode.UnsupportedMediaType},
	{name: "Security: form-encoded POST (no CORS preflight) is refused, 415",
		req: post("application/x-www-form-urlencoded", mtJSON, "query=%7Bhello%7D"), status: 415, ct: jsonCT, data: noData, code: errcode.UnsupportedMediaType},
	{name: "POST: application/graphql bodies are not a recognized type, 415",
		req: post("application/graphql", mtJSON, "{hello}"), status: 415, ct: jsonCT, data: noData, code: errcode.UnsupportedMediaType},
	{name: "POST: a charset other than utf-8, 415",
		req: post(mtJSON+"; charset=iso-8859-1", mtGR, helloQuery), status: 415, ct: grCT, data: noData, code: errcode.UnsupportedMediaType},
	{name: "Request: methods other than GET and POST, 405 with Allow",
		req: request{method: http.MethodPut, ct: mtJSON, accept: mtGR, body: helloQuery}, status: 405, ct: grCT, data: noData, code: errcode.MethodNotAllowed, allow: "GET, POST"},
}

// getCases: Request / GET.
var getCases = []transportCase{
	{name: "GET: a query",
		req: get(mtGR, q("query", "{hello}")), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "GET: variables as JSON",
		req: get(mtJSON, q("query", "query($n:Int!){echo(n:$n)}", "variables", `{"n":3}`)), status: 200, ct: jsonCT, data: `{"echo":3}`, ran: true},
	{name: "GET: empty operationName is the same as none, variables=null the same as none",
		req: get(mtGR, q("query", "{hello}", "operationName", "", "variables", "null")), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "GET: a mutation is 405 with Allow: POST and does not run",
		req: get(mtGR, q("query", "mutation{bump}")), status: 405, ct: grCT, data: noData, code: errcode.MethodNotAllowed, allow: "POST"},
	{name: "GET: a mutation is 405 under application/json too",
		req: get(mtJSON, q("query", "mutation{bump}")), status: 405, ct: jsonCT, data: noData, code: errcode.MethodNotAllowed, allow: "POST"},
	{name: "GET: a mutation that fails validation is still 405",
		req: get(mtGR, q("query", "mutation{nope}")), status: 405, ct: grCT, data: noData, code: errcode.MethodNotAllowed, allow: "POST"},
	{name: "GET: operationName selecting a mutation, 405",
		req: get(mtGR, q("query", "query Q{hello} mutation M{bump}", "operationName", "M")), status: 405, ct: grCT, data: noData, code: errcode.MethodNotAllowed, allow: "POST"},
	{name: "GET: operationName selecting the query of a document with a mutation runs",
		req: get(mtGR, q("query", "query Q{hello} mutation M{bump}", "operationName", "Q")), status: 200, ct: grCT, data: `{"hello":"world"}`, ran: true},
	{name: "GET: a validation error is a request error, 400 (graphql-response+json)",
		req: get(mtGR, q("query", "{nope}")), status: 400, ct: grCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "GET: a validation error is a request error, 200 (application/json)",
		req: get(mtJSON, q("query", "{nope}")), status: 200, ct: jsonCT, data: noData, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "GET: variables that are not JSON, 400",
		req: get(mtJSON, q("query", "{hello}", "variables", "{n:3")), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "GET: variables that are JSON but not an object, 400",
		req: get(mtGR, q("query", "{hello}", "variables", "[3]")), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "GET: extensions that are not JSON, 400",
		req: get(mtGR, q("query", "{hello}", "extensions", "persisted")), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "GET: query missing, 400",
		req: get(mtJSON, q("operationName", "A")), status: 400, ct: jsonCT, data: noData, code: errcode.BadRequest},
	{name: "GET: a parameter given twice, 400",
		req: get(mtGR, "query=%7Bhello%7D&query=%7Bhello%7D"), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "GET: a parameter that is not UTF-8 after decoding, 400",
		req: get(mtGR, "query=%7Bhello%FF%7D"), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "GET: a query string that cannot be decoded, 400",
		req: get(mtGR, "query=%zz"), status: 400, ct: grCT, data: noData, code: errcode.BadRequest},
	{name: "GET: no supported type in Accept, 406",
		req: get("text/html", q("query", "{hello}")), status: 406, ct: jsonCT, data: noData, code: errcode.NotAcceptable},
}

// checkTransportCase checks res, the answer to tt.req from a server on es.
func checkTransportCase(t *testing.T, tt transportCase, res result, es *testSchema) {
	t.Helper()
	if res.status != tt.status {
		t.Errorf("status %d, want %d\n%s", res.status, tt.status, res.raw)
	}
	if got := res.header.Get("Content-Type"); got != tt.ct {
		t.Errorf("Content-Type %q, want %q", got, tt.ct)
	}
	if got := res.header.Get("Vary"); got != "Accept" {
		t.Errorf("Vary %q, want Accept", got)
	}
	if got := res.header.Get("Allow"); got != tt.allow {
		t.Errorf("Allow %q, want %q", got, tt.allow)
	}
	switch {
	case tt.data == noData && res.hasData:
		t.Errorf("response has a data entry %s; a request error must have none", res.data)
	case tt.data != noData && !res.hasData:
		t.Errorf("response has no data entry, want %s", tt.data)
	case tt.data != noData && res.data != tt.data:
		t.Errorf("data %s, want %s", res.data, tt.data)
	}
	wantErrors := tt.errors || tt.code != ""
	if wantErrors != (len(res.errors) > 0) {
		t.Errorf("errors %v, want errors: %v", res.errors, wantErrors)
	}
	if res.code() != tt.code {
		t.Errorf("error code %q, want %q (%v)", res.code(), tt.code, res.errors)
	}
	for _, e := range res.errors {
		if e.Message == "" {
			t.Errorf("error without a message: %v", e)
		}
	}
	ran := es.queries.Load()+es.mutations.Load()+es.subs.Load() > 0
	if ran != tt.ran {
		t.Errorf("a resolver ran: %v, want %v", ran, tt.ran)
	}
	// Every response the executor produced, request error or not, went through
	// its response middleware; the transport's own refusals did not reach it.
	throughExecutor := tt.ran || strings.HasPrefix(tt.code, "GRAPHQL_") || tt.code == "COMPLEXITY_LIMIT_EXCEEDED" || tt.code == errcode.SubscriptionNotSupported
	if got := res.extensions["via"] == "executor"; got != throughExecutor {
		t.Errorf("response middleware ran: %v, want %v (extensions %v)", got, throughExecutor, res.extensions)
	}
}

// TestPreferGraphQLResponse covers the post-watershed default ("Legacy Watershed": from
// 2025-01-01 a request without Accept SHOULD be treated as asking for
// application/graphql-response+json).
func TestPreferGraphQLResponse(t *testing.T) {
	srv := newServer(Transport{PreferGraphQLResponse: true}, newTestSchema())
	for _, accept := range []string{"", "*/*", "application/*"} {
		res := do(t, srv, post(MediaTypeJSON, accept, `{"query":"{nope}"}`))
		if ct := res.header.Get("Content-Type"); ct != grCT || res.status != 400 {
			t.Errorf("Accept %q: %d %q, want 400 %q", accept, res.status, ct, grCT)
		}
	}
	// A client that names application/json still gets it.
	res := do(t, srv, post(MediaTypeJSON, MediaTypeJSON, `{"query":"{nope}"}`))
	if ct := res.header.Get("Content-Type"); ct != jsonCT || res.status != 200 {
		t.Errorf("Accept application/json: %d %q, want 200 %q", res.status, ct, jsonCT)
	}
}

// TestPersistedQueryByGET: a GET carrying only the APQ hash in extensions must reach
// gqlgen's APQ extension (RawParams.Extensions), and an unknown hash is a request error.
func TestPersistedQueryByGET(t *testing.T) {
	es := newTestSchema()
	srv := newServer(Transport{}, es)
	hash := func(query string) string {
		sum := sha256.Sum256([]byte(query))
		return hex.EncodeToString(sum[:])
	}
	ext := func(query string) string {
		return `{"persistedQuery":{"version":1,"sha256Hash":"` + hash(query) + `"}}`
	}
	const query = "{hello}"
	const mutation = "mutation{bump}"

	// Unknown hash: a request error, so no data; 200 for legacy clients (Apollo's link
	// reads the body), 400 under graphql-response+json.
	res := do(t, srv, get(MediaTypeJSON, q("extensions", ext(query))))
	if res.status != 200 || res.hasData || len(res.errors) != 1 || res.errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash, application/json: %d %s", res.status, res.raw)
	}
	res = do(t, srv, get(MediaTypeGraphQLResponse, q("extensions", ext(query))))
	if res.status != 400 || res.hasData || res.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("unknown hash, graphql-response+json: %d %s", res.status, res.raw)
	}

	// The client registers the query by sending it with its hash, then GETs by hash only.
	res = do(t, srv, post(MediaTypeJSON, MediaTypeGraphQLResponse, `{"query":"`+query+`","extensions":`+ext(query)+`}`))
	if res.status != 200 || res.data != `{"hello":"world"}` {
		t.Fatalf("register: %d %s", res.status, res.raw)
	}
	res = do(t, srv, get(MediaTypeGraphQLResponse, q("extensions", ext(query))))
	if res.status != 200 || res.data != `{"hello":"world"}` {
		t.Fatalf("GET by hash: %d %s", res.status, res.raw)
	}

	// A persisted mutation is still a mutation: by GET it is 405 and does not run.
	res = do(t, srv, post(MediaTypeJSON, MediaTypeGraphQLResponse, `{"query":"`+mutation+`","extensions":`+ext(mutation)+`}`))
	if res.status != 200 || res.data != `{"bump":1}` {
		t.Fatalf("register mutation: %d %s", res.status, res.raw)
	}
	res = do(t, srv, get(MediaTypeGraphQLResponse, q("extensions", ext(mutation))))
	if res.status != 405 || res.header.Get("Allow") != "POST" || res.hasData {
		t.Fatalf("persisted mutation by GET: %d %v %s", res.status, res.header, res.raw)
	}
	if n := es.mutations.Load(); n != 1 {
		t.Fatalf("the mutation ran %d times, want once (by POST only)", n)
	}
}

// TestSupports: the transport leaves upgrades to the WebSocket transport and OPTIONS to
// CORS handling, and claims the rest so that it can answer 405 and 415 itself.
func TestSupports(t *testing.T) {
	for _, tt := range []struct {
		method, upgrade string
		want            bool
	}{
		{http.MethodGet, "", true},
		{http.MethodPost, "", true},
		{http.MethodPut, "", true},
		{http.MethodOptions, "", false},
		{http.MethodGet, "websocket", false},
	} {
		r := httptest.NewRequest(tt.method, "/graphql", nil)
		if tt.upgrade != "" {
			r.Header.Set("Upgrade", tt.upgrade)
		}
		if got := (Transport{}).Supports(r); got != tt.want {
			t.Errorf("Supports(%s, Upgrade=%q) = %v, want %v", tt.method, tt.upgrade, got, tt.want)
		}
	}
}
