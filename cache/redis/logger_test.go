package redis

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

// go-redis's own messages become JSON lines of the gateway's log, not plain text.
func TestLoggerWritesStructuredLines(t *testing.T) {
	var buf bytes.Buffer
	Logger(slog.New(slog.NewJSONHandler(&buf, nil))).Printf(t.Context(), "redis: connection pool: failed to dial after %d attempts", 5)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not a JSON line: %q", buf.String())
	}
	if line["level"] != "WARN" || line["component"] != "go-redis" || line["msg"] != "redis: connection pool: failed to dial after 5 attempts" {
		t.Errorf("line: %v", line)
	}
}
