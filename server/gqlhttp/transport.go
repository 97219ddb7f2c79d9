// Package gqlhttp is a gqlgen transport that serves GraphQL over plain HTTP GET and POST
// as the GraphQL over HTTP specification (graphql/graphql-over-http, "Stage 2: Draft")
// asks, replacing gqlgen's transport.GET and transport.POST.
//
// What it changes compared with gqlgen's stock transports:
//
//   - Parse and validation errors are answered 200 under application/json and 400 under
//     application/graphql-response+json ("Status Codes"); the stock transports answer 422,
//     which the specification does not know, and 200 for some request errors (for example
//     an unknown persisted query) under application/graphql-response+json, where a
//     response without data MUST be 4xx.
//   - A request error has no "data" entry at all, as the GraphQL specification says for
//     errors raised before execution; gqlgen writes "data": null.
//   - Requests that are not well-formed (bad JSON, wrong parameter types, missing query,
//     not UTF-8, a batch) get 400; a body that is not application/json in UTF-8 gets 415;
//     an Accept header naming neither response type gets 406; a mutation sent by GET gets
//     405 with Allow: POST, and is not executed.
//   - The response Content-Type carries charset=utf-8, and Vary: Accept, because the
//     status code and media type depend on it.
//
// Errors written by the transport itself look like any GraphQL response,
// {"errors":[{"message":…,"extensions":{"code":…}}]}, with a stable code from the gateway's vocabulary (errcode).
package gqlhttp

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/99designs/gqlgen/graphql"
	gqlerrcode "github.com/99designs/gqlgen/graphql/errcode"

	"pudong.gov.cn/gateway/errcode"
)

// Transport serves GraphQL queries by GET and POST, and mutations by POST. Its zero value
// is ready to use:
//
//	srv := handler.New(es)
//	srv.AddTransport(transport.Websocket{…}) // transports for other methods or upgrades first
//	srv.AddTransport(gqlhttp.Transport{})
//
// It claims every request that is not an OPTIONS request or a protocol upgrade, so that
// other methods get 405 and other POST bodies get 415 rather than gqlgen's generic
// "transport not supported"; add it after any transport that should see such requests
// (transport.Options, transport.SSE, transport.MultipartForm).
//
// Batching (a JSON array of operations) is refused with 400: one HTTP request runs at most
// one operation, so rate and size limits in front of the gateway keep meaning what they say.
//
// The request body is read whole; bound it in front (the gateway's limitBody middleware).
type Transport struct {
	// PreferGraphQLResponse answers requests that state no preference (no Accept header,
	// or only wildcards such as */*) with application/graphql-response+json instead of
	// application/json.
	//
	// The specification's legacy watershed says a server SHOULD make that switch from
	// 2025-01-01. It is off by default because clients that send no Accept header are
	// the legacy ones, which read 200 + errors as "the query was wrong" and may treat a
	// 400 as a network failure; turn it on once such clients are known to cope.
	PreferGraphQLResponse bool
}

var _ graphql.Transport = Transport{}

// Supports claims every plain HTTP request except OPTIONS (left to CORS handling or
// transport.Options) and protocol upgrades (left to the WebSocket transport).
func (Transport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method != http.MethodOptions
}

// Do answers one GraphQL-over-HTTP request. Requests that are not well-formed are refused
// before gqlgen sees them; well-formed ones go through exec exactly as with gqlgen's own
// transports (CreateOperationContext, then DispatchOperation or DispatchError), so
// extensions such as APQ, complexity limits, tracing and the error presenter apply.
//
// Do expects the request context to carry gqlgen's operation start time, which
// handler.Server sets with graphql.StartOperationTrace before calling a transport.
func (t Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Add("Vary", "Accept")
	mediaType, acceptable := negotiate(r.Header.Values("Accept"), t.PreferGraphQLResponse)
	errorType := mediaType
	if !acceptable {
		// Nothing the client accepts exists; the error body has to be in some type.
		errorType = MediaTypeJSON
	}

	start := graphql.Now()
	var params *graphql.RawParams
	var rerr *requestError
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodPost:
		rerr = &requestError{code: errcode.MethodNotAllowed, allow: "GET, POST",
			message: "GraphQL is served by GET (queries only) and POST"}
	case !acceptable:
		rerr = &requestError{code: errcode.NotAcceptable,
			message: "the Accept header must include " + MediaTypeGraphQLResponse + " or " + MediaTypeJSON}
	case r.Method == http.MethodGet:
		params, rerr = decodeQueryString(r.URL.RawQuery)
	default:
		if rerr = checkContentType(r.Header.Get("Content-Type")); rerr == nil {
			params, rerr = readBody(r)
		}
	}
	if rerr != nil {
		writeRequestError(w, errorType, rerr)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	ctx := r.Context()
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		if r.Method == http.MethodGet && namesMutation(opCtx, errs) {
			writeRequestError(w, mediaType, mutationByGET())
			return
		}
		// Everything CreateOperationContext refuses (parse, validation, variable coercion,
		// unknown persisted query, complexity) is a GraphQL request error: nothing ran.
		writeGraphQLRequestError(w, mediaType, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs))
		return
	}
	switch op := opCtx.Operation.Operation; {
	case op == ast.Subscription:
		err := errcode.Request(errcode.SubscriptionNotSupported, "subscriptions are not served by GET or POST; send queries and mutations here")
		writeGraphQLRequestError(w, mediaType, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), gqlerror.List{err}))
		return
	case op == ast.Mutation && r.Method == http.MethodGet:
		writeRequestError(w, mediaType, mutationByGET())
		return
	}

	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	if resp == nil {
		// Only a cancelled request or a misbehaving extension ends the stream before the
		// first response; there is nothing truthful to send but a server error.
		writeRequestError(w, mediaType, &requestError{code: errcode.Internal,
			message: "the operation produced no response"})
		return
	}
	// The operation ran: the response keeps its "data" (null if execution could not
	// produce any) and is a 200 under both media types, field errors or not.
	writeJSON(w, http.StatusOK, mediaType, resp)
}

// readBody reads and decodes a POST body.
func readBody(r *http.Request) (*graphql.RawParams, *requestError) {
	if r.Body == nil {
		return decodeBody(nil)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, badRequest("the request body could not be read")
	}
	return decodeBody(body)
}

// mutationByGET is the answer the specification prescribes ("GET": MUST respond 405 and
// halt execution), because GET is a safe method that caches and crawlers may repeat.
func mutationByGET() *requestError {
	return &requestError{code: errcode.MethodNotAllowed, allow: http.MethodPost,
		message: "mutations cannot be sent by GET; send them by POST"}
}

// namesMutation reports whether a GET that CreateOperationContext refused selects a
// mutation: such a request must get 405 even when the mutation would not have validated.
// When validation failed gqlgen keeps no document, so the query is parsed again; that is
// bounded, because the executor's own parse (with its token limit) already succeeded.
func namesMutation(opCtx *graphql.OperationContext, errs gqlerror.List) bool {
	if opCtx == nil {
		return false
	}
	if opCtx.Operation != nil {
		return opCtx.Operation.Operation == ast.Mutation
	}
	validationFailed := false
	for _, err := range errs {
		if code, _ := err.Extensions["code"].(string); code == gqlerrcode.ValidationFailed {
			validationFailed = true
		}
	}
	if !validationFailed {
		return false
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: opCtx.RawQuery})
	if err != nil {
		return false
	}
	op := doc.Operations.ForName(opCtx.OperationName)
	return op != nil && op.Operation == ast.Mutation
}

// requestErrorStatus is the status of a GraphQL request error: 200 under application/json,
// where the specification wants 200 for every well-formed request because a 4xx might be
// a proxy's; 400 under application/graphql-response+json, where a response without data
// MUST be 4xx or 5xx.
func requestErrorStatus(mediaType string) int {
	if mediaType == MediaTypeGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// errorsOnly is a GraphQL response without a "data" entry, which is what the GraphQL
// specification requires when an error was raised before execution began.
type errorsOnly struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// writeGraphQLRequestError writes the executor's answer to a request that did not run.
func writeGraphQLRequestError(w http.ResponseWriter, mediaType string, resp *graphql.Response) {
	body := errorsOnly{Errors: resp.Errors, Extensions: resp.Extensions}
	if body.Errors == nil {
		// An error presenter may drop every error; the response must still say why.
		body.Errors = gqlerror.List{{Message: "the request was refused"}}
	}
	writeJSON(w, requestErrorStatus(mediaType), mediaType, body)
}

// writeRequestError writes an error found by the transport itself.
func writeRequestError(w http.ResponseWriter, mediaType string, e *requestError) {
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	writeJSON(w, e.status(), mediaType, errorsOnly{Errors: gqlerror.List{{
		Message:    e.message,
		Extensions: map[string]any{"code": e.code},
	}}})
}

// writeJSON writes v with the chosen media type, always in UTF-8 ("Body": the server
// SHOULD indicate the encoding).
func writeJSON(w http.ResponseWriter, status int, mediaType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a resolver producing invalid raw JSON gets here; say so without echoing it.
		status = http.StatusInternalServerError
		b = errcode.Body(errcode.Internal, "the response could not be encoded", nil)
	}
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
