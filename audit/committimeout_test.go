package audit_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"pudong.gov.cn/gateway/audit"
)

// A store that stalls fails the commit at CommitTimeout: its callers learn it then, and
// the loop is free for the commits queued behind it once the store answers again.
func TestCommitTimeoutBoundsAStalledStore(t *testing.T) {
	s, _ := newStore(t)
	g := gated(s)
	const bound = 100 * time.Millisecond
	r := audit.NewRecorder(g, audit.Options{CommitTimeout: bound}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Close(context.Background()) })

	g.hold() // never released: the store stalls
	start := time.Now()
	err := r.Record(context.Background(), events("stalled", 2))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Record on a stalled store = %v, want the commit's deadline", err)
	}
	if took := time.Since(start); took > bound+time.Second {
		t.Fatalf("Record took %s with CommitTimeout %s", took, bound)
	}
	if st := r.Stats(); st.Failures != 1 || st.Events != 0 {
		t.Fatalf("stats after the stalled commit: %+v", st)
	}
	g.release()
	if err := r.Record(context.Background(), events("after", 1)); err != nil {
		t.Fatalf("Record once the store answers: %v", err)
	}
}
