package app

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel"

	"pudong.gov.cn/gateway/tracing"
)

// startTracing starts the OTLP exporter when cfg.Tracing names an endpoint (cmd/gateway
// lays the standard OTEL_* environment over the file first); otherwise g.Tracing stays
// nil and every tracing hook is left out (docs/operators.md, "Tracing").
func (g *Gateway) startTracing(ctx context.Context) error {
	t := g.cfg.Tracing
	if t.Endpoint == "" {
		return nil
	}
	tr, err := tracing.New(ctx, tracing.Options{Endpoint: t.Endpoint, Headers: t.Headers, ServiceName: t.ServiceName, SampleRatio: t.SampleRatio})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	g.Tracing = tr
	g.onClose("tracing", tr.Shutdown)
	// The SDK reports failed exports to its one process-wide handler (by default, to
	// standard error in its own format); send them to the gateway's log instead.
	log := g.log
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: spans could not be exported", "err", err)
	}))
	where := t.Endpoint
	if u, err := url.Parse(t.Endpoint); err == nil {
		where = u.Scheme + "://" + u.Host + u.Path // never credentials in a log line
	}
	g.log.Info("tracing on", "otlp", where)
	return nil
}
