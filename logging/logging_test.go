package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

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
