// Package logging builds the gateway's structured logger: JSON in production, text in
// the demo, and every record made with a request's context carries its request id and,
// when tracing is on, its trace id.
package logging

import (
	"context"
	"io"
	"log/slog"

	"pudong.gov.cn/gateway"
)

// New returns a logger writing format ("json" or "text") at level to w.
func New(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

// requestIDHandler adds request_id (and trace_id, when the request is traced) to records
// logged with a request's context, so that a department call's warning can be found
// from the X-Request-Id a client reports, and from the trace of a slow request.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	id, trace := gateway.RequestID(ctx), gateway.TraceID(ctx)
	if id != "" || trace != "" {
		hasID, hasTrace := false, false
		r.Attrs(func(a slog.Attr) bool {
			hasID = hasID || a.Key == "request_id"
			hasTrace = hasTrace || a.Key == "trace_id"
			return !(hasID && hasTrace)
		})
		if id != "" && !hasID {
			r.AddAttrs(slog.String("request_id", id))
			if client := gateway.ClientRequestID(ctx); client != "" {
				r.AddAttrs(slog.String("client_request_id", client))
			}
		}
		if trace != "" && !hasTrace {
			r.AddAttrs(slog.String("trace_id", trace))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
