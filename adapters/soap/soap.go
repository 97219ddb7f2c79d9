// Package soap adapts department systems that speak SOAP 1.1 over HTTP (document/literal,
// one key per call) to adapters.Source. Nothing in it knows a particular department: the
// endpoint, each operation's action and element names, and the field map all come from
// the department's configuration.
//
// Operation params (config.Operation.Params):
//
//	action            required  the SOAPAction URI of the operation
//	element           required  local name of the request's body element, e.g. QueryPerson
//	keyElement        required  local name of the child of element that carries the key
//	result            required  local name of the answer's element holding one record;
//	                            its direct children are the legacy fields
//	namespace         optional  namespace of element and keyElement (none if empty)
//	notFoundFault     optional  fault error code meaning "no such key": the key is absent
//	errorCodeElement  optional  element inside a fault's <detail> carrying the error code
//	                            (default ErrorCode)
//	keyField          optional  unified field that must equal the key in every record, so
//	                            an answer about someone else is refused, not served
//
// The protocol has no batch call: handed several keys, Fetch asks for them one after the
// other; the gateway bounds concurrency across calls.
package soap

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// MaxResponseBytes bounds how much of one answer is read: a person's record is a few
// hundred bytes, and a department must not be able to exhaust the gateway's memory.
const MaxResponseBytes = 1 << 20

// Source is one department's SOAP service.
type Source struct {
	dept     string
	endpoint string
	client   *http.Client
	mapping  *adapters.Mapping
	ops      map[string]operation
}

// operation is one validated entry of the binding's operations.
type operation struct {
	name          string
	action        string
	namespace     string
	element       string
	keyElement    string
	notFoundFault string
	keyField      string
	shape         shape
}

var _ adapters.Source = (*Source)(nil)

// New validates department d's binding and returns its source; client carries the
// gateway's connection pool (nil means http.DefaultClient). Every problem in the binding
// is reported at once, so a department's configuration is fixed in one round.
func New(d config.Department, client *http.Client) (*Source, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var errs []string
	if d.Protocol != config.ProtocolSOAP {
		errs = append(errs, fmt.Sprintf("protocol is %q, want soap", d.Protocol))
	}
	if u, err := url.Parse(d.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Sprintf("endpoint %q: want an http or https URL", d.Endpoint))
	}
	mapping, err := adapters.NewMapping(d.Fields, d.Codes)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(d.Operations) == 0 {
		errs = append(errs, "no operations")
	}
	s := &Source{dept: d.ID, endpoint: d.Endpoint, client: client, mapping: mapping, ops: map[string]operation{}}
	names := make([]string, 0, len(d.Operations))
	for name := range d.Operations {
		names = append(names, name)
	}
	slices.Sort(names) // stable error messages
	for _, name := range names {
		op, opErrs := newOperation(name, d.Operations[name], d.Fields)
		errs = append(errs, opErrs...)
		s.ops[name] = op
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("department %s (soap): %s", d.ID, strings.Join(errs, "; "))
	}
	return s, nil
}

// knownParams lists the params an operation reads; anything else is a typo worth reporting.
const knownParams = "action, namespace, element, keyElement, result, notFoundFault, errorCodeElement, keyField"

func newOperation(name string, o config.Operation, fields []config.FieldMap) (operation, []string) {
	p := o.Params
	op := operation{
		name:          name,
		action:        strings.TrimSpace(p["action"]),
		namespace:     strings.TrimSpace(p["namespace"]),
		element:       strings.TrimSpace(p["element"]),
		keyElement:    strings.TrimSpace(p["keyElement"]),
		notFoundFault: strings.TrimSpace(p["notFoundFault"]),
		keyField:      strings.TrimSpace(p["keyField"]),
		shape: shape{
			result:    strings.TrimSpace(p["result"]),
			errorCode: strings.TrimSpace(p["errorCodeElement"]),
		},
	}
	if op.shape.errorCode == "" {
		op.shape.errorCode = "ErrorCode"
	}
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf("operation %s: "+format, append([]any{name}, args...)...))
	}
	if o.Batch < 0 {
		bad("batch %d: want 1 or more (0 means 1)", o.Batch)
	}
	switch {
	case op.action == "":
		bad("param action is required (the SOAPAction URI)")
	case strings.ContainsFunc(op.action, func(r rune) bool { return r == '"' || unicode.IsControl(r) }):
		bad("param action %q: quotes and control characters are not allowed", op.action)
	}
	if strings.ContainsFunc(op.namespace, unicode.IsControl) {
		bad("param namespace %q: control characters are not allowed", op.namespace)
	}
	for _, n := range []struct{ param, value string }{
		{"element", op.element}, {"keyElement", op.keyElement}, {"result", op.shape.result},
		{"errorCodeElement", op.shape.errorCode},
	} {
		switch {
		case n.value == "":
			bad("param %s is required", n.param)
		case !isNCName(n.value):
			bad("param %s %q is not an XML element name", n.param, n.value)
		}
	}
	if op.keyField != "" && !slices.ContainsFunc(fields, func(f config.FieldMap) bool { return f.To == op.keyField }) {
		bad("param keyField %q is not a field of the field map", op.keyField)
	}
	unknown := []string{}
	for k := range p {
		if !slices.Contains(strings.Split(knownParams, ", "), k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		bad("unknown param %q (known: %s)", k, knownParams)
	}
	return op, errs
}

// isNCName reports whether s can be an unprefixed XML element name, so that config can
// never inject markup into an envelope.
func isNCName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return s != ""
}

// Fetch runs op once per key, in order. A fault with the operation's not-found code
// leaves the key out; anything else that goes wrong fails the whole call.
func (s *Source) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	o, ok := s.ops[op]
	if !ok {
		return nil, fmt.Errorf("%w: department %s has no operation %q", adapters.ErrUnavailable, s.dept, op)
	}
	out := make(map[string][]adapters.Record, len(keys))
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: department %s operation %s: %w", adapters.ErrUnavailable, s.dept, op, err)
		}
		recs, err := s.call(ctx, &o, key)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			out[key] = recs
		}
	}
	return out, nil
}

// call asks for one key.
func (s *Source) call(ctx context.Context, o *operation, key string) ([]adapters.Record, error) {
	where := fmt.Sprintf("department %s operation %s key %s", s.dept, o.name, cut(key))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(o.envelope(key)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", adapters.ErrUnavailable, where, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("SOAPAction", `"`+o.action+`"`)
	adapters.SetRequestID(ctx, req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", adapters.ErrUnavailable, where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the answer: %w", adapters.ErrUnavailable, where, err)
	}
	if len(body) > MaxResponseBytes {
		return nil, fmt.Errorf("%w: %s: answer larger than %d bytes", adapters.ErrBadResponse, where, MaxResponseBytes)
	}

	a, err := decode(body, o.shape)
	switch {
	case err != nil && resp.StatusCode == http.StatusOK:
		// The parser quotes what it choked on, which may be personal data: redact it.
		return nil, fmt.Errorf("%w: %s: %s", adapters.ErrBadResponse, where, redact(err.Error()))
	case err != nil:
		// A failing server or a proxy's error page, not a SOAP answer.
		return nil, fmt.Errorf("%w: %s: HTTP %d without a SOAP answer", adapters.ErrUnavailable, where, resp.StatusCode)
	case a.fault != nil && o.notFoundFault != "" && a.fault.ErrorCode == o.notFoundFault:
		return nil, nil
	case a.fault != nil:
		return nil, fmt.Errorf("%s: %w", where, a.fault)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s: HTTP %d", adapters.ErrUnavailable, where, resp.StatusCode)
	}

	recs := make([]adapters.Record, 0, len(a.records))
	for _, raw := range a.records {
		rec, err := s.mapping.Apply(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if o.keyField != "" && !strings.EqualFold(rec[o.keyField], key) {
			return nil, fmt.Errorf("%w: %s: answered a record whose %s is not the key asked for",
				adapters.ErrBadResponse, where, o.keyField)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// envelope is the request for key. The key is escaped as character data, so whatever it
// holds reaches the department as the literal text asked for, never as markup.
func (o *operation) envelope(key string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soap:Envelope xmlns:soap="` + envelopeNS + `"><soap:Body><` + o.element)
	if o.namespace != "" {
		b.WriteString(` xmlns="`)
		xml.EscapeText(&b, []byte(o.namespace))
		b.WriteString(`"`)
	}
	b.WriteString("><" + o.keyElement + ">")
	xml.EscapeText(&b, []byte(key))
	b.WriteString("</" + o.keyElement + "></" + o.element + "></soap:Body></soap:Envelope>")
	return b.Bytes()
}

// cut shortens a key for error messages to its first 6 and last 4 characters, so no
// message carries a full ID number or phone number.
func cut(key string) string {
	r := []rune(key)
	if len(r) <= 10 {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%q", string(r[:6])+"…"+string(r[len(r)-4:]))
}
