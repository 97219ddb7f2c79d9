package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestWarnLogsOncePerIntervalAndCountsTheRest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	at := time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC)
	l := Limiter{Every: 10 * time.Second, Now: func() time.Time { return at }}
	ctx := context.Background()

	l.Warn(ctx, log, "get", "redis down")
	l.Warn(ctx, log, "get", "redis down")
	l.Warn(ctx, log, "get", "redis down")
	l.Warn(ctx, log, "set", "redis down") // another kind is not held back
	at = at.Add(10 * time.Second)
	l.Warn(ctx, log, "get", "redis down")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("logged %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "dropped") || !strings.Contains(lines[2], "dropped=2") {
		t.Fatalf("dropped counts wrong:\n%s", buf.String())
	}
}
