package gateway

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

type (
	requestIDKey       struct{}
	clientRequestIDKey struct{}
	callerKey          struct{}
)

// WithRequestID puts the gateway's own id of a request in a context, so that department
// calls, logs and audit events of one request can be tied together. The gateway always
// generates it; a client never chooses it (docs/SECURITY.md).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id of a context, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithClientRequestID keeps the correlation id a client sent (X-Request-Id) beside the
// gateway's own request id, never in its place.
func WithClientRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientRequestIDKey{}, id)
}

// ClientRequestID returns the client's correlation id of a context, or "".
func ClientRequestID(ctx context.Context) string {
	id, _ := ctx.Value(clientRequestIDKey{}).(string)
	return id
}

// WithCaller returns ctx carrying the verified caller of a request.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the verified caller of the request ctx belongs to, or nil when there
// is none; code below authentication treats nil as "not authenticated".
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// TraceID returns the W3C trace id of the span ctx belongs to (32 hex digits), or "" when
// the request is not traced: audit events and log lines carry it so that an access can be
// followed into the trace of the request that made it (docs/operators.md, "Tracing").
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
