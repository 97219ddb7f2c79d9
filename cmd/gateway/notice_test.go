package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/notice"
	"pudong.gov.cn/gateway/seal"
	"pudong.gov.cn/gateway/store"
)

// webhook is the supervision platform's receiver: it verifies each delivery's signature
// with the gateway's seal key, and answers 503 until it is told to accept.
type webhook struct {
	t       *testing.T
	dataDir string
	accept  atomic.Bool
	tries   atomic.Int32
	mu      sync.Mutex
	got     []notice.Body
	srv     *httptest.Server
}

func newWebhook(t *testing.T, dataDir string) *webhook {
	w := &webhook{t: t, dataDir: dataDir}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.tries.Add(1)
		body, _ := io.ReadAll(r.Body)
		if !w.accept.Load() {
			http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		pub, err := seal.ReadPublicKey(filepath.Join(w.dataDir, seal.PublicKeyFile))
		if err != nil {
			t.Error(err)
		}
		if err := seal.VerifyDetached(r.Header.Get(notice.SignatureHeader), body, pub); err != nil {
			t.Errorf("the notice's signature does not verify: %v", err)
			http.Error(rw, "bad signature", http.StatusBadRequest)
			return
		}
		forged := append([]byte{}, body...)
		forged[len(forged)/2] ^= 1
		if seal.VerifyDetached(r.Header.Get(notice.SignatureHeader), forged, pub) == nil {
			t.Errorf("a changed byte verifies")
		}
		var b notice.Body
		if err := json.Unmarshal(body, &b); err != nil || b.ID != r.Header.Get(notice.NoticeIDHeader) {
			t.Errorf("body %s (%v), id header %s", body, err, r.Header.Get(notice.NoticeIDHeader))
		}
		w.mu.Lock()
		w.got = append(w.got, b)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) received() []notice.Body {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]notice.Body{}, w.got...)
}

// The supervision platform watches E1; a penalty added to the credit database yields one
// notice, queued durably, not delivered while the platform's webhook is down, still
// queued after a gateway restart, and then delivered once, signed with the gateway's
// seal key. Its values passed the platform's policy and are on the audit trail.
func TestWatchNoticeSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(dir, "sim"), Size: testSize, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sims.Close(ctx) })
	hook := newWebhook(t, dir)
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Departments = sims.Bindings
	cfg.Consumer("supervision-platform").Webhook = hook.srv.URL
	start := func() (*app.Gateway, *httptest.Server, func()) {
		parts, err := app.New(ctx, cfg, app.Options{}, log)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(parts.Handler)
		return parts, srv, func() {
			srv.Close()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			parts.Close(cctx)
		}
	}
	parts, srv, stop := start()
	g := &tg{t: t, cfg: cfg, sims: sims, parts: parts, srv: srv, logs: logs}
	sup := g.token("supervision-platform")

	// Watching needs the grant; bad subjects are named.
	if r := g.post(g.token("online-hall"), `mutation { watch(subjects: ["91310115MA1FL0AB0P"]) { subject } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("watch without the grant: %s", r.Raw)
	}
	if r := g.post(sup, `mutation { watch(subjects: ["91310115MA1FL0AB0X"]) { subject } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("a bad credit code: %s", r.Raw)
	}
	r := g.post(sup, `mutation { watch(subjects: ["91310115MA1FL0AB0P", "310115199001010029"]) { subject since } }`, nil)
	if len(r.get("watch").([]any)) != 2 {
		t.Fatalf("watch: %s", r.Raw)
	}
	// The first read is the baseline: what exists already is not news.
	if n, err := parts.Notices.Scan(ctx, true); err != nil || n != 0 {
		t.Fatalf("baseline scan: %d notices, %v", n, err)
	}

	// The credit platform records a penalty against E1.
	db, err := sql.Open("sqlite", strings.TrimPrefix(sims.Addrs["credit"], "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO xzcf (id, xdr_id, xdr_mc, jdswh, mc, nr, jdrq, yxqz, jdjg, fkje) VALUES
		('CF-TEST-0001', '91310115MA1FL0AB0P', '上海浦江智联科技有限公司', '浦市监案〔2026〕1204号', '未按规定公示年度报告',
		 '责令改正，罚款人民币一万元。', '2026-12-04', NULL, '上海市浦东新区市场监督管理局', 10000.00)`); err != nil {
		t.Fatal(err)
	}
	// The gateway reads it on its next re-read after the cache refresh (here: at once).
	if _, err := parts.Fed.Purge(ctx, "credit", []string{"91310115MA1FL0AB0P"}); err != nil {
		t.Fatal(err)
	}
	if n, err := parts.Notices.Scan(ctx, true); err != nil || n != 1 {
		t.Fatalf("scan after the penalty: %d notices, %v", n, err)
	}
	if n, _ := parts.Notices.Scan(ctx, true); n != 0 {
		t.Errorf("the same change noticed twice")
	}
	// The webhook is down: the notice stays queued, with its attempt counted.
	parts.Notices.Deliver(ctx)
	r = g.post(sup, `{ notices { id subject change codes status attempts lastError values { code field access value } } }`, nil)
	if r.str("notices.0.status") != "PENDING" || r.get("notices.0.attempts") != 1.0 || !strings.Contains(r.str("notices.0.lastError"), "503") {
		t.Fatalf("a failed delivery: %s", r.Raw)
	}
	id := r.str("notices.0.id")
	stop()

	// A restart: the notice is still queued and is delivered once the webhook is back.
	hook.accept.Store(true)
	parts, srv, stop = start()
	defer stop()
	g.parts, g.srv = parts, srv
	deadline := time.Now().Add(15 * time.Second)
	for len(hook.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := hook.received()
	if len(got) != 1 {
		t.Fatalf("%d notices delivered after the restart, want 1 (%d tries)\n%s", len(got), hook.tries.Load(), logs.String())
	}
	b := got[0]
	if b.ID != id || b.Subject != "91310115MA1FL0AB0P" || b.Change != notice.CreditRecordAdded || b.Consumer != "supervision-platform" {
		t.Errorf("notice %+v", b)
	}
	vals := map[string]notice.Value{}
	for _, v := range b.Values {
		vals[v.Field] = v
	}
	if v := vals["CreditRecord.content"]; v.Access != "ALLOW" || v.Value == nil || !strings.Contains(*v.Value, "一万元") {
		t.Errorf("content passes the platform's grant: %+v", v)
	}
	if v := vals["CreditRecord.kind"]; v.Value == nil || *v.Value != "PENALTY" {
		t.Errorf("kind: %+v", v)
	}
	// Its conditional value is on the credit platform's audit trail under the notice's id.
	events, err := parts.Store.ListAudit(ctx, store.AuditFilter{Owner: "credit"})
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range events {
		audited = audited || e.RequestID == id && e.Consumer == "supervision-platform" && e.Code == vals["CreditRecord.content"].Code
	}
	if !audited {
		t.Errorf("the notice's content is not on the audit trail")
	}
	r = g.post(sup, `{ notices(status: DELIVERED) { id deliveredAt attempts } }`, nil)
	if r.str("notices.0.id") != id || r.str("notices.0.deliveredAt") == "" || r.get("notices.0.attempts") != 2.0 {
		t.Errorf("delivered: %s", r.Raw)
	}
	// Once: no more deliveries, and unwatching ends the watch.
	time.Sleep(1500 * time.Millisecond)
	if n := len(hook.received()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
	if r := g.post(sup, `mutation { unwatch(subjects: ["91310115MA1FL0AB0P"]) }`, nil); r.get("unwatch") != 1.0 {
		t.Errorf("unwatch: %s", r.Raw)
	}
	if r := g.post(sup, `{ watchList { subject checkedAt } }`, nil); len(r.get("watchList").([]any)) != 1 || r.str("watchList.0.checkedAt") == "" {
		t.Errorf("watchList: %s", r.Raw)
	}
}

// A change is noticed from what the gateway reads anyway: when the online hall reads a
// watched enterprise's credit records, the watch is re-checked at once through the cache
// that read filled, and the platform (no webhook in the demo) polls the notice.
func TestWatchNoticeFromAnotherConsumersRead(t *testing.T) {
	g := newTG(t)
	ctx := t.Context()
	sup := g.token("supervision-platform")
	if r := g.post(sup, `mutation { watch(subjects: ["91310115607223817N"]) { subject } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("watch: %s", r.Raw)
	}
	if _, err := g.parts.Notices.Scan(ctx, true); err != nil { // the baseline
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", strings.TrimPrefix(g.sims.Addrs["credit"], "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO shixin (id, xdr_id, xdr_mc, jdswh, mc, nr, jdrq, yxqz, jdjg) VALUES
		('SX-TEST-0001', '91310115607223817N', '上海东岸食品有限公司', '浦信〔2026〕88号', '拒不履行生效判决',
		 '列入失信被执行人名单。', '2026-12-04', NULL, '上海市浦东新区人民法院')`); err != nil {
		t.Fatal(err)
	}
	g.parts.Fed.Purge(ctx, "credit", []string{"91310115607223817N"}) // the cache's refresh
	if r := g.post(g.token("online-hall"), `{ enterprise(creditCode: "91310115607223817N") { creditRecords { id kind } } }`, nil); !strings.Contains(string(r.Raw), "SX-TEST-0001") {
		t.Fatalf("the hall's read: %s", r.Raw)
	}
	var r gqlResp
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r = g.post(sup, `{ notices(status: POLL) { subject change values { field access value } } }`, nil)
		if len(r.get("notices").([]any)) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.str("notices.0.subject") != "91310115607223817N" || r.str("notices.0.change") != notice.CreditRecordAdded || !strings.Contains(string(r.Raw), "DISHONESTY") {
		t.Fatalf("the platform's notice: %s", r.Raw)
	}
	if len(r.get("notices").([]any)) != 1 {
		t.Errorf("one notice: %s", r.Raw)
	}
	// The next poll starts after the last notice seen.
	r = g.post(sup, `{ notices { id } }`, nil)
	if next := g.post(sup, `query($after: ID) { notices(after: $after) { id } }`, map[string]any{"after": r.str("notices.0.id")}); len(next.get("notices").([]any)) != 0 {
		t.Errorf("after the last notice: %s", next.Raw)
	}
	if bad := g.post(sup, `{ notices(after: "NT-20261204-NOPE") { id } }`, nil); len(bad.Errors) == 0 || bad.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("an unknown cursor: %s", bad.Raw)
	}
}
