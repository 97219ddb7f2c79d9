package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/storetest"
)

// demoStore opens the store of a fresh demo data directory, closed when the test ends.
func demoStore(t *testing.T) (string, *config.Config, store.Store, *slog.Logger) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := app.OpenStore(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return dir, cfg, st, log
}

// auditData is a demo data directory whose store holds n events in the default chain,
// checkpointed by the gateway's own wiring (signing key generated, shutdown checkpoint).
func auditData(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir, cfg, st, log := demoStore(t)
	cp, err := app.StartCheckpoints(cfg, st, "", log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ev := gateway.AuditEvent{At: time.Date(2026, 11, 27, 10, i, 0, 0, time.UTC), Consumer: "online-hall", Purpose: "administrative-approval",
			RequestID: fmt.Sprint("req-", i), Code: "310115-PSB-RK01-002", Owner: "psb", Subject: "310115198503120012", Decision: gateway.Allow}
		if err := st.AppendAudit(ctx, []gateway.AuditEvent{ev}); err != nil {
			t.Fatal(err)
		}
		cp.Observe(1)
	}
	if err := cp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func auditCmd(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"audit"}, args...), func(string) string { return "" }, &out)
	return out.String(), err
}

func TestAuditVerifyAndExportCommands(t *testing.T) {
	dir := auditData(t, 6)
	if _, err := os.Stat(filepath.Join(dir, "audit", "signing-key.pem")); err != nil {
		t.Errorf("the demo did not generate its audit signing key in its data dir: %v", err)
	}
	out, err := auditCmd("verify", "--data", dir)
	if err != nil || !strings.Contains(out, "audit chain OK: 6 events verified") || !strings.Contains(out, "signed up to seq 6") {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	slice := filepath.Join(t.TempDir(), "slice.json")
	if out, err := auditCmd("export", "--data", dir, "--from", "2026-11-27T10:01:00Z", "--to", "2026-11-27T10:03:00Z", "--out", slice); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	// The slice alone, away from the data directory, verifies.
	out, err = auditCmd("verify", "--slice", slice)
	if err != nil || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("verify --slice: %v\n%s", err, out)
	}
	if out, err := auditCmd("export", "--data", dir, "--from", "tomorrow", "--to", "2026-11-28"); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Errorf("export with a bad --from: %v %s", err, out)
	}

	// Cut the tail off: the signed head at seq 6 shows it.
	db, err := sql.Open("sqlite", filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.Tamper(t, db, false, "", func(evs []gateway.AuditEvent) []gateway.AuditEvent { return evs[:4] })
	out, err = auditCmd("verify", "--data", dir)
	if code, ok := err.(exitCode); !ok || code != 2 || !strings.Contains(out, "broken at seq 5: truncated") {
		t.Errorf("truncated chain: %v\n%s", err, out)
	}
}

func TestAuditVerifyWithoutCheckpoints(t *testing.T) {
	dir := auditData(t, 2)
	os.RemoveAll(filepath.Join(dir, "audit", "checkpoints"))
	out, err := auditCmd("verify", "--data", dir)
	if code, ok := err.(exitCode); !ok || code != 2 || !strings.Contains(out, "missing checkpoint") {
		t.Errorf("checkpoints deleted: %v\n%s", err, out)
	}
}

func TestAuditVerifyFlags(t *testing.T) {
	dir := auditData(t, 3)
	ckpt := filepath.Join(dir, "audit", "checkpoints")
	// The published keys, named explicitly, and the checkpoints from a moved directory.
	moved := filepath.Join(t.TempDir(), "gw1")
	if err := os.Rename(ckpt, moved); err != nil {
		t.Fatal(err)
	}
	out, err := auditCmd("verify", "--data", dir, "--checkpoints", moved, "--keys", filepath.Join(moved, "keys"))
	if err != nil || !strings.Contains(out, "audit chain OK: 3 events") {
		t.Errorf("--checkpoints and --keys: %v\n%s", err, out)
	}
	// A key set without the signing key: every checkpoint is untrusted.
	other := filepath.Join(t.TempDir(), "other.pem")
	_, k, _ := ed25519.GenerateKey(nil)
	os.WriteFile(other, audit.EncodePublicKey(k.Public().(ed25519.PublicKey)), 0o644)
	out, err = auditCmd("verify", "--data", dir, "--checkpoints", moved, "--keys", other)
	if code, ok := err.(exitCode); !ok || code != 2 || !strings.Contains(out, "forged checkpoint") {
		t.Errorf("untrusted key: %v\n%s", err, out)
	}
}

// A chain from before checkpoints (or a crash's tail) is signed as soon as the gateway
// starts, not after the first interval.
func TestCheckpointAtStart(t *testing.T) {
	ctx := context.Background()
	dir, cfg, st, log := demoStore(t)
	ev := gateway.AuditEvent{At: time.Now(), Consumer: "online-hall", Code: "310115-PSB-RK01-002", Owner: "psb", Subject: "310115198503120012", Decision: gateway.Allow}
	if err := st.AppendAudit(ctx, []gateway.AuditEvent{ev, ev}); err != nil {
		t.Fatal(err)
	}
	cp, err := app.StartCheckpoints(cfg, st, "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close(ctx)
	if out, err := auditCmd("verify", "--data", dir); err != nil || !strings.Contains(out, "signed up to seq 2") {
		t.Errorf("right after start: %v\n%s", err, out)
	}
}

// The hash covers the client's request id: a request that sends one leaves a chain that
// still verifies, so whatever the hash covers is what the store keeps.
func TestChainWithClientRequestIDVerifies(t *testing.T) {
	g := e2e.Start(t)
	body := `{"query":"{ citizen(idNumber: \"310115198503120012\") { name } }"}`
	req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.Token("online-hall"))
	req.Header.Set("X-Request-Id", "client-7f3a")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	rep, err := audit.Verify(context.Background(), g.Parts.Store)
	if err != nil || !rep.OK() || rep.Checked == 0 {
		t.Errorf("chain after a request with X-Request-Id: %d events, %v %v", rep.Checked, rep.Broken, err)
	}
}
