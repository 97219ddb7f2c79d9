package sqlite

import (
	"strings"
	"testing"
)

// DSN refuses a path that would read as parameters, and puts the shared settings before
// the caller's own.
func TestDSN(t *testing.T) {
	for _, bad := range []string{"", "gateway.db?mode=ro"} {
		if dsn, err := DSN(bad); err == nil {
			t.Errorf("DSN(%q) = %q, want an error", bad, dsn)
		}
	}
	dsn, err := DSN("/var/lib/gw/own.db", Immediate)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/var/lib/gw/own.db" + params + Immediate; dsn != want {
		t.Errorf("DSN = %q, want %q", dsn, want)
	}
	if !strings.Contains(dsn, "synchronous(FULL)") || !strings.Contains(dsn, "busy_timeout(") {
		t.Errorf("DSN %q lacks the durable settings", dsn)
	}
}
