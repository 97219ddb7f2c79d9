package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway"
)

func TestRequestIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "json", "info").With("department", "psb")
	ctx := gateway.WithRequestID(context.Background(), "req-12345678")
	log.WarnContext(ctx, "department call timed out")
	log.InfoContext(ctx, "explicit", "request_id", "other-id")
	log.Debug("below the level")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var first, second map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first["request_id"] != "req-12345678" || first["department"] != "psb" {
		t.Errorf("request id from the context: %v", first)
	}
	if second["request_id"] != "other-id" || strings.Count(lines[1], "request_id") != 1 {
		t.Errorf("an explicit request id is kept once: %s", lines[1])
	}
	var text bytes.Buffer
	New(&text, "text", "info").InfoContext(ctx, "hello")
	if !strings.Contains(text.String(), "request_id=req-12345678") {
		t.Errorf("text format: %s", text.String())
	}
}

// A traced request's log lines carry its trace id; an untraced one's carry none.
func TestTraceIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "json", "info")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(gateway.WithRequestID(context.Background(), "req-12345678"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "traced")
	log.InfoContext(gateway.WithRequestID(context.Background(), "req-87654321"), "untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first, second map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || first["request_id"] != "req-12345678" {
		t.Errorf("traced line: %v", first)
	}
	if _, ok := second["trace_id"]; ok {
		t.Errorf("an untraced request has no trace id: %v", second)
	}
}
