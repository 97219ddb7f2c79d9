package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/storetest"
)

func mintFor(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"token", "--data", dataDir}, args...), func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

// No response carrying conditional data leaves before its audit events are durable:
// under load, SIGKILL the gateway; every response a client received has its events.
func TestKillLosesNoAuditedResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway as a process")
	}
	dir := t.TempDir()
	c := startChild(t, "--addr", "127.0.0.1:0", "--data", dir, "--sim-citizens", "200", "--sim-enterprises", "50", "--sim-credit-records", "100")
	tok := mintFor(t, dir, "--consumer", "online-hall")

	var mu sync.Mutex
	var received []string // request ids of responses that carried conditional data
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ids := []string{"310115198503120012", "310115199001010029", "310115197811200036", "310115200107150041"}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { citizen(idNumber: $id) { name birthDate } }`,
				"variables": map[string]any{"id": ids[w]}})
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				raw, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || !bytes.Contains(raw, []byte(`"name":"`)) || bytes.Contains(raw, []byte(`"name":null`)) {
					continue
				}
				mu.Lock()
				received = append(received, res.Header.Get("X-Request-Id"))
				mu.Unlock()
			}
		}(w)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(received) < 10 {
		t.Fatalf("only %d responses before the kill", len(received))
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "gateway.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.ListAudit(context.Background(), store.AuditFilter{Owner: "psb", Code: "310115-PSB-RK01-002"})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, e := range events {
		audited[e.RequestID] = true
	}
	for _, id := range received {
		if !audited[id] {
			t.Errorf("response %s reached the client without its audit event", id)
		}
	}
	rep, err := audit.Verify(context.Background(), st)
	if err != nil || !rep.OK() {
		t.Errorf("chain after the kill: %+v %v", rep, err)
	}
	t.Logf("%d responses received before SIGKILL, all audited; chain of %d events verifies", len(received), rep.Checked)
}

// A graceful stop (SIGTERM) drains and exits cleanly, and the CLI verifies the chain.
func TestGracefulStopAndAuditVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway as a process")
	}
	dir := t.TempDir()
	c := startChild(t, "--addr", "127.0.0.1:0", "--data", dir, "--sim-citizens", "100", "--sim-enterprises", "20", "--sim-credit-records", "50")
	tok := mintFor(t, dir, "--consumer", "playground")
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/graphql", strings.NewReader(`{"query":"{ citizen(idNumber: \"310115198503120012\") { name phone } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop within 30s of SIGTERM")
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", dir}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	// The key lookup (masked), the name (masked) and the phone (denied); the shutdown
	// checkpoint signs the head, so nothing is left uncovered by a clean stop.
	if !strings.Contains(out.String(), "audit chain OK: 3 events") || !strings.Contains(out.String(), "signed up to seq 3") {
		t.Errorf("verify output: %s", out.String())
	}
	// Tamper with one event: verify fails with exit status 2 and names the break.
	db, err := sql.Open("sqlite", filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := audit.ReplicaChain(dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Tamper(t, db, false, chain, func(evs []gateway.AuditEvent) []gateway.AuditEvent {
		evs[0].Consumer = "someone-else"
		return evs
	})
	db.Close()
	out.Reset()
	err = run(context.Background(), []string{"audit", "verify", "--data", dir}, func(string) string { return "" }, &out)
	if code, ok := err.(exitCode); !ok || code != 2 || !strings.Contains(out.String(), "BROKEN") {
		t.Errorf("tampered chain: err %v, output %s", err, out.String())
	}
}
