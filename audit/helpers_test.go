package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/sqlstore"
)

// newStore opens a SQLite store in a temporary directory and returns it with the file's
// path, for tests that tamper with the file directly.
func newStore(tb testing.TB) (*sqlstore.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "gateway.db")
	s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

// events makes n audit events tagged with the caller that records them.
func events(caller string, n int) []gateway.AuditEvent {
	out := make([]gateway.AuditEvent, n)
	for i := range out {
		out[i] = gateway.AuditEvent{
			At:        time.Date(2026, 11, 27, 10, 0, i, 0, time.UTC),
			Consumer:  "online-hall",
			EndUser:   "clerk-7",
			Purpose:   "administrative-approval",
			RequestID: caller,
			Code:      "310115-PSB-RK01-002",
			Owner:     "psb",
			Subject:   fmt.Sprintf("3101151985031200%02d", i%100),
			Decision:  gateway.Allow,
		}
	}
	return out
}

// gatedStore is a real Store whose AppendAudit can be held at a gate, to line callers up
// behind a commit in flight, and made to fail, as a full disk or a lost database would.
type gatedStore struct {
	store.Store
	entered chan struct{} // receives once per AppendAudit call, as it starts

	mu    sync.Mutex
	gate  chan struct{} // while non-nil and open, AppendAudit waits
	fail  error
	sizes []int // events per AppendAudit call
}

func gated(s store.Store) *gatedStore {
	return &gatedStore{Store: s, entered: make(chan struct{}, 1000)}
}

func (g *gatedStore) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedStore) release() {
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
}

func (g *gatedStore) failWith(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

func (g *gatedStore) calls() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

func (g *gatedStore) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	g.entered <- struct{}{}
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.mu.Lock()
	g.sizes = append(g.sizes, len(events))
	fail := g.fail
	g.mu.Unlock()
	if fail != nil {
		return fail
	}
	return g.Store.AppendAudit(ctx, events)
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func waitEntered(t *testing.T, g *gatedStore) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("AppendAudit was not called")
	}
}

// all reads the whole chain.
func all(t *testing.T, s store.Store) []gateway.AuditEvent {
	t.Helper()
	var out []gateway.AuditEvent
	if err := s.ScanAudit(context.Background(), func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
