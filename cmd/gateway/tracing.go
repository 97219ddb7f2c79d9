package main

import (
	"net/url"
	"strings"

	"pudong.gov.cn/gateway/config"
)

// resolveTracing lays the standard OTEL_* environment variables over the tracing
// section (docs/operators.md, "Tracing") and returns it with Endpoint as the full
// OTLP/HTTP traces URL, or empty when tracing is off.
func resolveTracing(t config.Tracing, getenv func(string) string) config.Tracing {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return config.Tracing{}
	}
	switch {
	case getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		t.Endpoint = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") // the signal's own URL is used as given
	case getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "":
		t.Endpoint = tracesURL(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	case t.Endpoint != "":
		t.Endpoint = tracesURL(t.Endpoint)
	}
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		t.ServiceName = v
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		for _, kv := range strings.Split(getenv(name), ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				continue
			}
			if t.Headers == nil {
				t.Headers = map[string]string{}
			}
			uv, err := url.QueryUnescape(strings.TrimSpace(v))
			if err != nil {
				uv = strings.TrimSpace(v)
			}
			t.Headers[strings.TrimSpace(k)] = uv
		}
	}
	if getenv("OTEL_TRACES_SAMPLER") != "" {
		t.SampleRatio = 0 // the SDK reads OTEL_TRACES_SAMPLER and its argument itself
	}
	return t
}

// tracesURL adds the OTLP/HTTP traces path to a collector's base URL.
func tracesURL(base string) string {
	if strings.HasSuffix(strings.TrimRight(base, "/"), "/v1/traces") {
		return base
	}
	return strings.TrimRight(base, "/") + "/v1/traces"
}
