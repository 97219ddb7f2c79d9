package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// demo starts small simulators and returns the demo configuration bound to them.
func demo(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	sims, err := legacysim.Start(t.Context(), legacysim.Options{Dir: filepath.Join(dir, "sim"),
		Size: dataset.Size{Citizens: 10, Enterprises: 10, CreditRecords: 10}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sims.Close(ctx)
	})
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Departments = sims.Bindings
	return cfg
}

// settles waits, with a deadline, until no more goroutines run than before: what New
// started (grant watcher, store poller, cache listeners) has stopped.
func settles(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines still run, %d before New:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The gateway New builds answers GraphQL with the policy applied, reports readiness,
// and Close stops everything it started.
func TestNewServesAndCloses(t *testing.T) {
	cfg := demo(t)
	before := runtime.NumGoroutine()
	g, err := New(t.Context(), cfg, Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler)
	tok, err := DemoMinter(cfg)("online-hall", "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql",
		strings.NewReader(`{"query":"{ citizen(idNumber: \"310115198503120012\") { name phone } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// online-hall holds a grant on the name, none on the phone (docs/architecture.md).
	if !strings.Contains(string(body), `"name":"张伟"`) || !strings.Contains(string(body), "FORBIDDEN_FIELD") {
		t.Errorf("answer: %s", body)
	}
	res, err = srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		OK         bool              `json:"ok"`
		Components map[string]string `json:"components"`
	}
	json.NewDecoder(res.Body).Decode(&h)
	res.Body.Close()
	if !h.OK || h.Components["store"] != "up" || h.Components["department:psb"] == "" {
		t.Errorf("readiness: %+v", h)
	}
	srv.Close()
	g.Close(t.Context())
	settles(t, before)
}

// A gateway that cannot be built leaves nothing running: what New had opened before the
// failure (store, audit recorder, grant watcher) is closed again.
func TestNewReleasesWhatItOpenedWhenItFails(t *testing.T) {
	cfg := demo(t)
	cfg.Allowlist = filepath.Join(t.TempDir(), "missing.json") // fails after the store is open
	before := runtime.NumGoroutine()
	g, err := New(t.Context(), cfg, Options{}, slog.New(slog.DiscardHandler))
	if err == nil || g != nil {
		t.Fatalf("a missing allowlist manifest must refuse start-up: %v", err)
	}
	settles(t, before)
}

// A catalogue that does not match the schema refuses start-up, naming the problem.
func TestNewChecksTheCatalogue(t *testing.T) {
	cfg := demo(t)
	cfg.CatalogData = map[string][]byte{cfg.Catalog[0]: []byte("entries: []\n")}
	if _, err := New(t.Context(), cfg, Options{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "catalogue") {
		t.Errorf("an empty catalogue: %v", err)
	}
}

// TestCloseIsBoundedByItsContext: a part whose Close ignores its context (a database that
// stopped answering) no longer holds the process at shutdown; the parts opened before it
// are still closed.
func TestCloseIsBoundedByItsContext(t *testing.T) {
	g := &Gateway{log: slog.New(slog.DiscardHandler)}
	stuck := make(chan struct{})
	defer close(stuck)
	var closed []string
	g.onClose("first opened", func(context.Context) error { closed = append(closed, "first opened"); return nil })
	g.onClose("stalled store", func(context.Context) error { <-stuck; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	returned := make(chan struct{})
	go func() { g.Close(ctx); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a part that never closes")
	}
	if len(closed) != 1 {
		t.Errorf("the part opened before the stalled one was not closed: %v", closed)
	}
}
