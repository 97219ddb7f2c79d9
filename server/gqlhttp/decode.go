package gqlhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"

	"pudong.gov.cn/gateway/errcode"
)

// requestError is a failure found before GraphQL sees the request. Its status is its
// code's (errcode), because the specification fixes it independently of the response
// media type.
type requestError struct {
	code    string
	message string
	allow   string // the Allow header of a 405
}

func (e *requestError) status() int { return errcode.Status(e.code) }

func badRequest(format string, args ...any) *requestError {
	return &requestError{code: errcode.BadRequest, message: fmt.Sprintf(format, args...)}
}

// checkContentType accepts only application/json in UTF-8 ("POST": servers MUST support it
// and MUST assume UTF-8 when no charset is given). Everything else is refused with 415:
// other charsets because we would misread the text, and form or text types because a
// browser may send those cross-site without a CORS preflight ("Security").
func checkContentType(header string) *requestError {
	unsupported := &requestError{
		code:    errcode.UnsupportedMediaType,
		message: "send the request body as JSON with the header Content-Type: application/json (UTF-8)",
	}
	if header == "" {
		return unsupported
	}
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != MediaTypeJSON {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		unsupported.message = fmt.Sprintf("the charset %q is not supported; encode the body in UTF-8", cs)
		return unsupported
	}
	return nil
}

// decodeBody reads a POST body ("JSON Encoding"). It refuses what is not a single JSON
// object: an array would be a batch, which this transport does not run, so that one HTTP
// request never costs more than one operation.
func decodeBody(body []byte) (*graphql.RawParams, *requestError) {
	if !utf8.Valid(body) {
		return nil, badRequest("the request body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, badRequest("batched requests (a JSON array) are not accepted; send one operation per request as a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, badRequest(`the request body is not a JSON object; send {"query": "...", "variables": {...}}`)
	}
	p := &graphql.RawParams{}
	var err *requestError
	if p.Query, err = jsonString(fields, "query"); err != nil {
		return nil, err
	}
	if p.OperationName, err = jsonString(fields, "operationName"); err != nil {
		return nil, err
	}
	if p.Variables, err = jsonObject("variables", fields["variables"]); err != nil {
		return nil, err
	}
	if p.Extensions, err = jsonObject("extensions", fields["extensions"]); err != nil {
		return nil, err
	}
	if err := requireQuery(p, isAbsent(fields["query"])); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeQueryString reads the parameters of a GET ("GET"): query and operationName as
// plain strings, variables and extensions as JSON text. A parameter given twice is refused
// rather than guessing which copy the client meant.
func decodeQueryString(rawQuery string) (*graphql.RawParams, *requestError) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("the URL query string could not be decoded: %v", err)
	}
	get := func(name string) (string, bool, *requestError) {
		vs, ok := values[name]
		switch {
		case !ok:
			return "", false, nil
		case len(vs) > 1:
			return "", true, badRequest("the parameter %q is given %d times; give it once", name, len(vs))
		case !utf8.ValidString(vs[0]):
			return "", true, badRequest("the parameter %q is not valid UTF-8", name)
		}
		return vs[0], true, nil
	}
	p := &graphql.RawParams{}
	var rerr *requestError
	var hasQuery bool
	if p.Query, hasQuery, rerr = get("query"); rerr != nil {
		return nil, rerr
	}
	if p.OperationName, _, rerr = get("operationName"); rerr != nil {
		return nil, rerr
	}
	for _, obj := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &p.Variables}, {"extensions", &p.Extensions}} {
		s, ok, rerr := get(obj.name)
		if rerr != nil {
			return nil, rerr
		}
		if !ok {
			continue
		}
		if *obj.dst, rerr = jsonObject(obj.name, json.RawMessage(s)); rerr != nil {
			return nil, rerr
		}
	}
	if err := requireQuery(p, !hasQuery); err != nil {
		return nil, err
	}
	return p, nil
}

// requireQuery enforces that query is present ("Request Parameters": it is required),
// except for an automatic persisted query, where the client sends only the hash in
// extensions and gqlgen's APQ extension fills the query in from its cache.
func requireQuery(p *graphql.RawParams, queryAbsent bool) *requestError {
	if queryAbsent && p.Extensions["persistedQuery"] == nil {
		return badRequest(`the parameter "query" is required and must be a string holding the GraphQL document`)
	}
	return nil
}

// isAbsent treats JSON null like a missing parameter, as the specification says
// ("Specifying null for optional request parameters is equivalent to not specifying them").
func isAbsent(raw json.RawMessage) bool {
	return raw == nil || string(bytes.TrimSpace(raw)) == "null"
}

// jsonString reads an optional string member of the body.
func jsonString(fields map[string]json.RawMessage, name string) (string, *requestError) {
	raw := fields[name]
	if isAbsent(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest("the parameter %q must be a string", name)
	}
	return s, nil
}

// jsonObject reads an optional JSON object (variables, extensions). Numbers stay
// json.Number so that large integers reach gqlgen's input coercion unrounded.
func jsonObject(name string, raw json.RawMessage) (map[string]any, *requestError) {
	if isAbsent(raw) {
		return nil, nil
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, badRequest("the parameter %q must be a JSON object", name)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, badRequest("the parameter %q is not valid JSON: %v", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("the parameter %q has data after its JSON object", name)
	}
	return m, nil
}
