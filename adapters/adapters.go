// Package adapters defines the one small interface that every protocol adapter (soap,
// rest, sqldb, csvdrop) implements, and what they share: the mapping from a department's
// legacy field names and codes to the unified schema. What lives around the interface
// (batch splitting, concurrency limits, timeouts, breakers, caching) is the federation
// layer's, so that no protocol package repeats it.
package adapters

import (
	"context"
	"errors"
	"net/http"
	"time"

	"pudong.gov.cn/gateway"
)

// RequestIDHeader carries the gateway's request id to HTTP department systems, so their
// logs can be tied to the gateway's.
const RequestIDHeader = "X-Request-Id"

// SetRequestID copies the request id of ctx, if any, into an upstream request's headers.
func SetRequestID(ctx context.Context, h http.Header) {
	if id := gateway.RequestID(ctx); id != "" {
		h.Set(RequestIDHeader, id)
	}
}

// Record is one department record under unified field names (idNumber, name, …), with
// values already normalised: ISO dates, enum names, decimal CNY. An empty or missing
// value means the department has none.
type Record map[string]string

// Source is one department system seen through its protocol adapter.
type Source interface {
	// Fetch runs operation op for keys (never more than the operation's batch size) and
	// returns the records found for each key. A key the department does not know is
	// absent from the map: that is not an error. An error means the whole call failed
	// and wraps ErrUnavailable or ErrBadResponse.
	Fetch(ctx context.Context, op string, keys []string) (map[string][]Record, error)
}

// Pager is implemented by sources whose operations can list records page by page.
type Pager interface {
	// Page runs operation op for one key ("" for operations without one) and returns
	// limit records starting at offset, with the total count.
	Page(ctx context.Context, op, key string, offset, limit int) (Page, error)
}

// Page is one page of records and the total number the department has.
type Page struct {
	Records []Record
	Total   int
}

// Errors every adapter wraps, so the gateway can tell callers what went wrong without
// knowing the protocol.
var (
	// ErrUnavailable: the department could not be reached, timed out, or answered that
	// it is failing (HTTP 5xx, a SOAP server fault, a database error).
	ErrUnavailable = errors.New("department system unavailable")
	// ErrBadResponse: the department answered with something that cannot be read (bad
	// XML or encoding, unexpected JSON, a malformed row).
	ErrBadResponse = errors.New("department system answered with an unreadable response")
)

// Outcome names how a department call ended, for metrics and traces: "ok", "canceled"
// (the caller gave up), "bad_response" or "unavailable".
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrBadResponse):
		return "bad_response"
	}
	return "unavailable"
}

// Snapshot is implemented by sources that serve a copy of the department's data taken
// at some time (a batch export) rather than asking the live system: the gateway reports
// the copy's age, and marks it stale once it is older than the owner's update cycle.
type Snapshot interface {
	// SnapshotTime is when the copy being served was taken; zero when there is none.
	SnapshotTime() time.Time
}
