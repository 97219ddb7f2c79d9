// Package errcode is the gateway's one vocabulary of errors: every extensions.code a
// client can receive, the HTTP status it comes with and what it means, and the one
// function (Presenter) that turns any error raised while answering a GraphQL request into
// what the client sees. docs/errors.md documents the same codes; a test keeps the two
// equal.
//
// Adding a code is a constant and its row in the vocabulary (both in this file) and a row
// in docs/errors.md; tests fail until all three are there. A code that is not in the
// vocabulary never reaches a client: Presenter answers INTERNAL_SERVER_ERROR instead, so
// a typo shows up in tests, not in production.
package errcode

import (
	"net/http"
	"slices"
)

// The codes, in extensions.code. Constants are untyped strings so they can be put into
// gqlerror extensions and compared with decoded JSON as they are.
const (
	// Field errors: one field (or one department's fields) is null, the rest stands.
	ForbiddenField    = "FORBIDDEN_FIELD"
	SourceUnavailable = "SOURCE_UNAVAILABLE"
	SourceError       = "SOURCE_ERROR"
	SourceNotOffered  = "SOURCE_NOT_OFFERED"
	BadUserInput      = "BAD_USER_INPUT"
	Forbidden         = "FORBIDDEN"
	NotFound          = "NOT_FOUND"
	AlreadyDecided    = "ALREADY_DECIDED"
	AlreadyRevoked    = "ALREADY_REVOKED"
	AlreadyResolved   = "ALREADY_RESOLVED"
	StoreUnavailable  = "STORE_UNAVAILABLE"
	AuditUnavailable  = "AUDIT_UNAVAILABLE"
	PurgeIncomplete   = "PURGE_INCOMPLETE"
	ForbiddenArgument = "FORBIDDEN_ARGUMENT"
	SubjectLimit      = "SUBJECT_LIMIT_EXCEEDED"
	CitizenOnly       = "CITIZEN_ONLY"
	// SealUnavailable comes beside the data: the answer stands, unattested.
	SealUnavailable = "SEAL_UNAVAILABLE"

	// GraphQL request errors: nothing ran.
	NotAllowlisted           = "OPERATION_NOT_ALLOWLISTED"
	QueryTooDeep             = "QUERY_TOO_DEEP"
	TooManyAliases           = "TOO_MANY_ALIASES"
	QueryTooComplex          = "QUERY_TOO_COMPLEX"
	ComplexityLimitExceeded  = "COMPLEXITY_LIMIT_EXCEEDED" // sent by gqlgen's complexity limit
	IntrospectionDisabled    = "INTROSPECTION_DISABLED"
	ParseFailed              = "GRAPHQL_PARSE_FAILED"      // sent by gqlgen
	ValidationFailed         = "GRAPHQL_VALIDATION_FAILED" // sent by gqlgen
	PersistedQueryNotFound   = "PERSISTED_QUERY_NOT_FOUND" // sent by gqlgen's APQ
	SubscriptionNotSupported = "SUBSCRIPTION_NOT_SUPPORTED"
	IncrementalNotSupported  = "INCREMENTAL_DELIVERY_NOT_SUPPORTED"
	BadSealRequest           = "BAD_SEAL_REQUEST"

	// HTTP request errors: refused before GraphQL saw the request.
	BadRequest           = "BAD_REQUEST"
	UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	NotAcceptable        = "NOT_ACCEPTABLE"
	MethodNotAllowed     = "METHOD_NOT_ALLOWED"
	HostNotAllowed       = "HOST_NOT_ALLOWED"
	OriginNotAllowed     = "ORIGIN_NOT_ALLOWED"
	BodyTooLarge         = "BODY_TOO_LARGE"
	Unauthenticated      = "UNAUTHENTICATED"
	RateLimited          = "RATE_LIMITED"

	// Internal is everything the gateway did not foresee; details stay in the logs.
	Internal = "INTERNAL_SERVER_ERROR"
)

// Info is what a code means on the wire.
type Info struct {
	// Status is the HTTP status of an answer refused as a whole with this code, under
	// application/json. A field error always comes in a 200 answer beside the data; a
	// GraphQL request error is 400 under application/graphql-response+json
	// (server/gqlhttp).
	Status  int
	Meaning string
}

// vocabulary is every code a client can receive. docs/errors.md has one row per code.
var vocabulary = map[string]Info{
	ForbiddenField:    {http.StatusOK, "the sharing policy denies one field to this caller"},
	SourceUnavailable: {http.StatusOK, "a department is down or too slow; its fields are null"},
	SourceError:       {http.StatusOK, "a department answered something unreadable; its fields are null"},
	SourceNotOffered:  {http.StatusOK, "no department of this deployment offers the lookup the field needs"},
	BadUserInput:      {http.StatusOK, "an argument breaks a rule the message names"},
	Forbidden:         {http.StatusOK, "the caller may not use this operation"},
	NotFound:          {http.StatusOK, "the sharing request, grant or data issue does not exist"},
	AlreadyDecided:    {http.StatusOK, "the sharing request was already decided"},
	AlreadyRevoked:    {http.StatusOK, "the grant was already revoked"},
	AlreadyResolved:   {http.StatusOK, "the data issue was already answered; an answer is final"},
	StoreUnavailable:  {http.StatusOK, "the gateway's database did not answer"},
	AuditUnavailable:  {http.StatusOK, "the audit trail could not be written, so the answer is withheld"},
	PurgeIncomplete:   {http.StatusOK, "this replica's cache was purged, the shared cache did not answer"},
	ForbiddenArgument: {http.StatusOK, "the field looks up, filters or counts by a datum the caller may not read"},
	SubjectLimit:      {http.StatusOK, "the end user has reached more distinct people than its budget allows"},
	CitizenOnly:       {http.StatusOK, "only a citizen's self-service token reads a data tracker"},
	SealUnavailable:   {http.StatusOK, "the answer could not be sealed; its data are not attested"},

	NotAllowlisted:           {http.StatusOK, "a consumer in allowlist mode sent an unregistered operation"},
	QueryTooDeep:             {http.StatusOK, "the query is nested too deep"},
	TooManyAliases:           {http.StatusOK, "the query uses too many aliases"},
	QueryTooComplex:          {http.StatusOK, "the query expands to too many field selections"},
	ComplexityLimitExceeded:  {http.StatusOK, "the query's estimated cost is over the limit"},
	IntrospectionDisabled:    {http.StatusOK, "introspection is off in this deployment"},
	ParseFailed:              {http.StatusOK, "the query is not GraphQL"},
	ValidationFailed:         {http.StatusOK, "the query does not fit the schema, or a variable its type"},
	PersistedQueryNotFound:   {http.StatusOK, "the persisted-query hash is unknown; send the query text with it"},
	SubscriptionNotSupported: {http.StatusOK, "subscriptions are not served over GET or POST"},
	IncrementalNotSupported:  {http.StatusOK, "@defer and @stream are refused: each answer is sent whole"},
	BadSealRequest:           {http.StatusOK, "extensions.seal or X-Gateway-Seal is not a boolean"},

	BadRequest:           {http.StatusBadRequest, "the HTTP request is not a well-formed GraphQL request"},
	UnsupportedMediaType: {http.StatusUnsupportedMediaType, "the body is not application/json in UTF-8"},
	NotAcceptable:        {http.StatusNotAcceptable, "the Accept header names no media type the gateway answers in"},
	MethodNotAllowed:     {http.StatusMethodNotAllowed, "a method other than GET or POST, or a mutation sent by GET"},
	HostNotAllowed:       {http.StatusMisdirectedRequest, "the gateway does not answer for this host name"},
	OriginNotAllowed:     {http.StatusForbidden, "the caller's consumer may not be called from this page's origin"},
	BodyTooLarge:         {http.StatusRequestEntityTooLarge, "the request body exceeds the limit"},
	Unauthenticated:      {http.StatusUnauthorized, "no valid bearer token, or claims its consumer does not have"},
	RateLimited:          {http.StatusTooManyRequests, "the caller's rate limit is reached"},

	Internal: {http.StatusInternalServerError, "a failure the gateway did not foresee"},
}

// Lookup returns what code means, and whether it is in the vocabulary.
func Lookup(code string) (Info, bool) {
	i, ok := vocabulary[code]
	return i, ok
}

// Status is the HTTP status of an answer refused as a whole with code; a code outside
// the vocabulary is a server error.
func Status(code string) int {
	if i, ok := vocabulary[code]; ok {
		return i.Status
	}
	return http.StatusInternalServerError
}

// Codes returns every code of the vocabulary, sorted.
func Codes() []string {
	out := make([]string, 0, len(vocabulary))
	for c := range vocabulary {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
