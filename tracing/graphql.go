package tracing

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway"
)

// Extension is the gqlgen extension that makes one span per GraphQL operation, named
// by its type and name, with the calling consumer and purpose. Register it before the
// policy enforcer, so that the audit commit's span falls inside the operation's.
func (t *Tracing) Extension() graphql.HandlerExtension { return operationSpans{t} }

type operationSpans struct{ t *Tracing }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = operationSpans{}

func (operationSpans) ExtensionName() string                   { return "Tracing" }
func (operationSpans) Validate(graphql.ExecutableSchema) error { return nil }

func (o operationSpans) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	typ, name := "unknown", ""
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil {
		typ, name = string(oc.Operation.Operation), oc.Operation.Name
	}
	attrs := []attribute.KeyValue{attribute.String("graphql.operation.type", typ)}
	// The client's name, unless it could carry an identifier: then the span is named by
	// the operation's type alone and says the name was withheld.
	if n, ok := gateway.TelemetryName(name); ok {
		name = n
		attrs = append(attrs, attribute.String("graphql.operation.name", name))
	} else {
		name = ""
		attrs = append(attrs, attribute.Bool("gateway.operation_name_withheld", true))
	}
	if c := gateway.CallerFrom(ctx); c != nil {
		// The app and its declared purpose; never the end user (sub) or the citizen.
		attrs = append(attrs, attribute.String("gateway.consumer", c.Consumer), attribute.String("gateway.purpose", c.Purpose))
	}
	spanName := typ
	if name != "" {
		spanName += " " + name
	}
	ctx, span := o.t.tracer.Start(ctx, spanName, trace.WithAttributes(attrs...))
	h := next(ctx)
	done := false
	return func(rctx context.Context) *graphql.Response {
		// The transport calls back with its own context; the operation's span must stay
		// the parent of what runs now (resolvers, department calls, the audit commit).
		resp := h(trace.ContextWithSpan(rctx, span))
		if !done {
			done = true
			if resp != nil && len(resp.Errors) > 0 {
				span.SetAttributes(attribute.Int("graphql.errors", len(resp.Errors)))
				code := ""
				if c, ok := resp.Errors[0].Extensions["code"].(string); ok {
					code = c
				}
				span.SetAttributes(attribute.String("graphql.error.code", code))
				if len(resp.Data) == 0 || string(resp.Data) == "null" {
					span.SetStatus(codes.Error, code)
				}
			}
			span.End()
		}
		return resp
	}
}

// Recorder is where audit events go (enforce.Recorder's shape).
type Recorder interface {
	Record(ctx context.Context, events []gateway.AuditEvent) error
}

// Recorder wraps r so that each audit commit of a response is a span, and each event
// carries the request's trace id (gateway.TraceID) unless it has one already.
func (t *Tracing) Recorder(r Recorder) Recorder { return tracedRecorder{t: t, next: r} }

type tracedRecorder struct {
	t    *Tracing
	next Recorder
}

func (r tracedRecorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	ctx, span := r.t.tracer.Start(ctx, "audit commit", trace.WithAttributes(attribute.Int("gateway.audit.events", len(events))))
	defer span.End()
	if id := gateway.TraceID(ctx); id != "" {
		for i := range events {
			if events[i].TraceID == "" {
				events[i].TraceID = id
			}
		}
	}
	err := r.next.Record(ctx, events)
	if err != nil {
		// The store's message is left out: it is the logs' to carry, not the trace's.
		span.SetStatus(codes.Error, "audit commit failed")
	}
	return err
}
