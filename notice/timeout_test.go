package notice

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/internal/ownsql/ownsqltest"
	"pudong.gov.cn/gateway/policy"
)

// Watching and unwatching, with the tables' database stalled, fail with
// STORE_UNAVAILABLE within Options.Timeout (store.timeout) instead of the 10 s a write
// waits for the lock; once the database answers again, so does the service.
func TestStalledTablesFailRequestsWithinTheBound(t *testing.T) {
	path, bound := filepath.Join(t.TempDir(), "notices.db"), 200*time.Millisecond
	db, err := Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := policy.NewCatalog(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sup := &config.Consumer{Name: "sup", Watch: true}
	s := New(Options{DB: db, Catalog: cat, Timeout: bound, Consumer: func(string) *config.Consumer { return sup }})
	ctx := gateway.WithCaller(context.Background(), &gateway.Caller{Consumer: "sup"})
	if _, err := s.Watch(ctx, []string{"91310115MA1FL0AB0P"}); err != nil {
		t.Fatal(err)
	}
	ownsqltest.FailWithinBound(t, path, bound, map[string]func() error{
		"watch":   func() error { _, err := s.Watch(ctx, []string{"91310115MA1HW2X39Q"}); return err },
		"unwatch": func() error { _, err := s.Unwatch(ctx, []string{"91310115MA1FL0AB0P"}); return err },
	})
	if n, err := s.Unwatch(ctx, []string{"91310115MA1FL0AB0P"}); err != nil || n != 1 {
		t.Errorf("after the stall: %d %v", n, err)
	}
}
