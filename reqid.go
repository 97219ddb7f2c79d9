package gateway

import "context"

type requestIDKey struct{}

// WithRequestID puts the HTTP request id in a context, so that department calls, logs
// and audit events of one request can be tied together.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id of a context, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
