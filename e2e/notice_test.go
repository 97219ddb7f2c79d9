package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
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
	logs := &SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(dir, "sim"), Size: TestSize, Log: log})
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
	g := &Gateway{T: t, Cfg: cfg, Sims: sims, Logs: logs}
	stop := startNoticeGateway(t, g, log)
	sup := g.Token("supervision-platform")

	watchE1AndLiNa(t, g, sup)
	recordPenaltyAgainstE1(t, g)
	id := queuedAfterFailedDelivery(t, g, sup)
	stop()

	// A restart: the notice is still queued and is delivered once the webhook is back.
	hook.accept.Store(true)
	defer startNoticeGateway(t, g, log)()
	deadline := time.Now().Add(15 * time.Second)
	for len(hook.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := hook.received()
	if len(got) != 1 {
		t.Fatalf("%d notices delivered after the restart, want 1 (%d tries)\n%s", len(got), hook.tries.Load(), logs.String())
	}
	checkDeliveredPenalty(t, g, sup, id, got[0])
	deliveredOnceAndUnwatched(t, g, hook, sup)
}

// startNoticeGateway starts the gateway of g.Cfg into g and returns what stops it.
func startNoticeGateway(t *testing.T, g *Gateway, log *slog.Logger) (stop func()) {
	t.Helper()
	ctx := context.Background()
	parts, err := app.New(ctx, g.Cfg, app.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(parts.Handler)
	g.Parts, g.Srv = parts, srv
	return func() {
		srv.Close()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		parts.Close(cctx)
	}
}

// watchE1AndLiNa has the supervision platform watch E1 and 李娜, after checking
// that watching needs the grant and a valid subject; the first scan is the baseline.
func watchE1AndLiNa(t *testing.T, g *Gateway, sup string) {
	t.Helper()
	ctx := context.Background()
	// Watching needs the grant; bad subjects are named.
	if r := g.Post(g.Token("online-hall"), `mutation { watch(subjects: ["91310115MA1FL0AB0P"]) { subject } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("watch without the grant: %s", r.Raw)
	}
	if r := g.Post(sup, `mutation { watch(subjects: ["91310115MA1FL0AB0X"]) { subject } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("a bad credit code: %s", r.Raw)
	}
	r := g.Post(sup, `mutation { watch(subjects: ["91310115MA1FL0AB0P", "310115199001010029"]) { subject since } }`, nil)
	if len(r.Get("watch").([]any)) != 2 {
		t.Fatalf("watch: %s", r.Raw)
	}
	// The first read is the baseline: what exists already is not news.
	if n, err := g.Parts.Notices.Scan(ctx, true); err != nil || n != 0 {
		t.Fatalf("baseline scan: %d notices, %v", n, err)
	}

}

// recordPenaltyAgainstE1 adds a penalty against E1 to the credit database and
// checks that the next scan notices it, once.
func recordPenaltyAgainstE1(t *testing.T, g *Gateway) {
	t.Helper()
	ctx := context.Background()
	// The credit platform records a penalty against E1.
	db, err := sql.Open("sqlite", strings.TrimPrefix(g.Sims.Addrs["credit"], "sqlite:"))
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
	if _, err := g.Parts.Fed.Purge(ctx, "credit", []string{"91310115MA1FL0AB0P"}); err != nil {
		t.Fatal(err)
	}
	if n, err := g.Parts.Notices.Scan(ctx, true); err != nil || n != 1 {
		t.Fatalf("scan after the penalty: %d notices, %v", n, err)
	}
	if n, _ := g.Parts.Notices.Scan(ctx, true); n != 0 {
		t.Errorf("the same change noticed twice")
	}
}

// queuedAfterFailedDelivery tries to deliver while the webhook is down and
// returns the id of the notice still queued.
func queuedAfterFailedDelivery(t *testing.T, g *Gateway, sup string) string {
	t.Helper()
	ctx := context.Background()
	// The webhook is down: the notice stays queued, with its attempt counted.
	g.Parts.Notices.Deliver(ctx)
	r := g.Post(sup, `{ notices { id subject change codes status attempts lastError values { code field access value } } }`, nil)
	if r.Str("notices.0.status") != "PENDING" || r.Get("notices.0.attempts") != 1.0 || !strings.Contains(r.Str("notices.0.lastError"), "503") {
		t.Fatalf("a failed delivery: %s", r.Raw)
	}
	return r.Str("notices.0.id")
}

// checkDeliveredPenalty checks the notice delivered about E1's penalty: its
// values passed the platform's policy, its conditional value is on the credit
// platform's audit trail under the notice's id, and it is listed as delivered.
func checkDeliveredPenalty(t *testing.T, g *Gateway, sup, id string, b notice.Body) {
	t.Helper()
	ctx := context.Background()
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
	events, err := g.Parts.Store.ListAudit(ctx, store.AuditFilter{Owner: "credit"})
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
	// The webhook has the notice; the gateway marks it delivered once the answer is back.
	r := g.Post(sup, `{ notices(status: DELIVERED) { id deliveredAt attempts } }`, nil)
	for deadline := time.Now().Add(5 * time.Second); r.Str("notices.0.id") == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		r = g.Post(sup, `{ notices(status: DELIVERED) { id deliveredAt attempts } }`, nil)
	}
	if r.Str("notices.0.id") != id || r.Str("notices.0.deliveredAt") == "" || r.Get("notices.0.attempts") != 2.0 {
		t.Errorf("delivered: %s", r.Raw)
	}
}

// deliveredOnceAndUnwatched: no more deliveries follow, and unwatching ends the watch.
func deliveredOnceAndUnwatched(t *testing.T, g *Gateway, hook *webhook, sup string) {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	if n := len(hook.received()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
	if r := g.Post(sup, `mutation { unwatch(subjects: ["91310115MA1FL0AB0P"]) }`, nil); r.Get("unwatch") != 1.0 {
		t.Errorf("unwatch: %s", r.Raw)
	}
	if r := g.Post(sup, `{ watchList { subject checkedAt } }`, nil); len(r.Get("watchList").([]any)) != 1 || r.Str("watchList.0.checkedAt") == "" {
		t.Errorf("watchList: %s", r.Raw)
	}
}

// watchThenDishonesty has the supervision platform watch subject, takes the watch's
// baseline, then adds a dishonesty record about the subject to the credit database and
// purges the cache's copy, as the cache's refresh would. It returns the platform's token.
func watchThenDishonesty(t *testing.T, g *Gateway, id, subject, name, docNo, title string) string {
	t.Helper()
	ctx := t.Context()
	sup := g.Token("supervision-platform")
	if r := g.Post(sup, `mutation { watch(subjects: ["`+subject+`"]) { subject } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("watch: %s", r.Raw)
	}
	if _, err := g.Parts.Notices.Scan(ctx, true); err != nil { // the baseline
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", strings.TrimPrefix(g.Sims.Addrs["credit"], "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO shixin (id, xdr_id, xdr_mc, jdswh, mc, nr, jdrq, yxqz, jdjg) VALUES
		(?, ?, ?, ?, ?, '列入失信被执行人名单。', '2026-12-04', NULL, '上海市浦东新区人民法院')`, id, subject, name, docNo, title); err != nil {
		t.Fatal(err)
	}
	g.Parts.Fed.Purge(ctx, "credit", []string{subject})
	return sup
}

// A change is noticed from what the gateway reads anyway: when the online hall reads a
// watched enterprise's credit records, the watch is re-checked at once through the cache
// that read filled, and the platform (no webhook in the demo) polls the notice.
func TestWatchNoticeFromAnotherConsumersRead(t *testing.T) {
	g := Start(t)
	sup := watchThenDishonesty(t, g, "SX-TEST-0001", "91310115607223817N", "上海东岸食品有限公司", "浦信〔2026〕88号", "拒不履行生效判决")
	if r := g.Post(g.Token("online-hall"), `{ enterprise(creditCode: "91310115607223817N") { creditRecords { id kind } } }`, nil); !strings.Contains(string(r.Raw), "SX-TEST-0001") {
		t.Fatalf("the hall's read: %s", r.Raw)
	}
	var r Resp
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r = g.Post(sup, `{ notices(status: POLL) { subject change values { field access value } } }`, nil)
		if len(r.Get("notices").([]any)) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Str("notices.0.subject") != "91310115607223817N" || r.Str("notices.0.change") != notice.CreditRecordAdded || !strings.Contains(string(r.Raw), "DISHONESTY") {
		t.Fatalf("the platform's notice: %s", r.Raw)
	}
	if len(r.Get("notices").([]any)) != 1 {
		t.Errorf("one notice: %s", r.Raw)
	}
	// The next poll starts after the last notice seen.
	r = g.Post(sup, `{ notices { id } }`, nil)
	if next := g.Post(sup, `query($after: ID) { notices(after: $after) { id } }`, map[string]any{"after": r.Str("notices.0.id")}); len(next.Get("notices").([]any)) != 0 {
		t.Errorf("after the last notice: %s", next.Raw)
	}
	if bad := g.Post(sup, `{ notices(after: "NT-20261204-NOPE") { id } }`, nil); len(bad.Errors) == 0 || bad.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("an unknown cursor: %s", bad.Raw)
	}
}

// A notice is a read of the watched subject's data, so it is decided and audited as any
// other read (docs/SECURITY.md, "notices"). A person's credit records are found by their
// ID number (Citizen.creditRecords is @join): a watcher that sees the ID number only
// masked gets no notice of them, as it could not follow the join by a query. A watcher
// that may follow it gets the notice, and every value of it about the person, the
// unconditional ones too, is on the audit trail under the notice's id.
func TestNoticesAreDecidedAndAuditedAsReads(t *testing.T) {
	const liNa = "310115199001010029"
	addDishonesty := func(t *testing.T, g *Gateway) string {
		ctx := t.Context()
		sup := watchThenDishonesty(t, g, "SX-TEST-0002", liNa, "李娜", "浦执〔2026〕77号", "拒不履行支付义务")
		if _, err := g.Parts.Notices.Scan(ctx, true); err != nil {
			t.Fatal(err)
		}
		return sup
	}

	t.Run("masked ID number: no notice of credit records", func(t *testing.T) {
		g := Start(t, func(c *config.Config) {
			sup := c.Consumer("supervision-platform")
			for i := range sup.Grants {
				sup.Grants[i].Codes = slices.DeleteFunc(slices.Clone(sup.Grants[i].Codes), func(code string) bool { return code == "310115-PSB-RK01-001" })
			}
		})
		sup := addDishonesty(t, g)
		// The query path refuses the join; the notice path must agree.
		if r := g.Post(sup, `{ citizen(idNumber: "`+liNa+`") { creditRecords { title } } }`, nil); strings.Contains(string(r.Raw), "SX-TEST-0002") || r.ErrorAt("citizen.creditRecords") == nil {
			t.Fatalf("the join by a masked ID number: %s", r.Raw)
		}
		r := g.Post(sup, `{ notices { subject change values { field access value } } }`, nil)
		if len(r.Errors) > 0 || strings.Contains(string(r.Raw), "SX-TEST-0002") || strings.Contains(string(r.Raw), "拒不履行") || strings.Contains(string(r.Raw), notice.CreditRecordAdded) {
			t.Errorf("a notice told a person's credit record through a join the watcher may not follow: %s", r.Raw)
		}
	})

	t.Run("unmasked ID number: notice, every value audited", func(t *testing.T) {
		g := Start(t)
		sup := addDishonesty(t, g)
		r := g.Post(sup, `{ notices { id subject change values { code field access value } } }`, nil)
		if r.Str("notices.0.change") != notice.CreditRecordAdded || !strings.Contains(string(r.Raw), "拒不履行支付义务") {
			t.Fatalf("the notice: %s", r.Raw)
		}
		id := r.Str("notices.0.id")
		events, err := g.Parts.Store.ListAudit(t.Context(), store.AuditFilter{Owner: "credit", Subject: liNa})
		if err != nil {
			t.Fatal(err)
		}
		audited := map[string]bool{}
		for _, e := range events {
			if e.RequestID == id && e.Consumer == "supervision-platform" {
				audited[e.Code] = true
			}
		}
		for _, v := range r.Get("notices.0.values").([]any) {
			v := v.(map[string]any)
			if v["access"] != "DENY" && !audited[v["code"].(string)] {
				t.Errorf("%s (%s) of %s reached the watcher without an audit event", v["field"], v["code"], liNa)
			}
		}
	})
}

// A notice waits in the queue until it is polled or delivered; what it shows then is
// what the policy opens to the caller then: a value whose grant was revoked meanwhile is
// not served as it was decided at detection, nor to the watcher's token for a purpose
// the grant is not bound to.
func TestNoticeValuesFollowTheGrantsWhenRead(t *testing.T) {
	const content = "310115-CREDIT-XY01-006"
	g := Start(t, func(c *config.Config) {
		sup := c.Consumer("supervision-platform")
		for i := range sup.Grants {
			sup.Grants[i].Codes = slices.DeleteFunc(slices.Clone(sup.Grants[i].Codes), func(code string) bool { return code == content })
		}
	})
	sup := g.Token("supervision-platform")
	r := g.Post(sup, `mutation { requestSharing(input: {codes: ["`+content+`"], justification: "penalties of watched enterprises"}) { id } }`, nil)
	reqID := r.Str("requestSharing.0.id")
	credit := g.Token("credit-console")
	r = g.Post(credit, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true) { grant { id } } }`, map[string]any{"id": reqID})
	grant := r.Str("decideSharingRequest.grant.id")
	if grant == "" {
		t.Fatalf("approval: %s", r.Raw)
	}
	watchE1AndLiNa(t, g, sup)
	recordPenaltyAgainstE1(t, g)
	const poll = `{ notices { id change values { code access value } } }`
	if r := g.Post(sup, poll, nil); !strings.Contains(string(r.Raw), "一万元") {
		t.Fatalf("the notice under the grant: %s", r.Raw)
	}
	// Another purpose than the grant's.
	if r := g.Post(g.TokenWithPurpose("supervision-platform", "marketing"), poll, nil); strings.Contains(string(r.Raw), "一万元") {
		t.Errorf("the grant's value served for another purpose: %s", r.Raw)
	}
	// The grant revoked.
	if r := g.Post(credit, `mutation($id: ID!) { revokeGrant(id: $id) { active } }`, map[string]any{"id": grant}); r.Get("revokeGrant.active") != false {
		t.Fatalf("revoke: %s", r.Raw)
	}
	r = g.Post(sup, poll, nil)
	if strings.Contains(string(r.Raw), "一万元") {
		t.Errorf("a revoked grant's value still served: %s", r.Raw)
	}
	if r.Str("notices.0.change") != notice.CreditRecordAdded {
		t.Errorf("the notice itself (its key is unconditional) stays: %s", r.Raw)
	}
}

// A watcher that sees ID numbers masked sees its watched persons' ID numbers masked in
// its watch list and notices too, as citizen(idNumber:) { idNumber } shows them: the
// gateway's answers hold the ID number as the policy shows it, whoever typed it first
// (another end user of the same consumer, say).
func TestWatchListShowsSubjectsAsThePolicyDoes(t *testing.T) {
	const liNa, e2 = "310115199001010029", "91310115MA1FL0AB0P"
	g := Start(t, func(c *config.Config) {
		sup := c.Consumer("supervision-platform")
		for i := range sup.Grants {
			sup.Grants[i].Codes = slices.DeleteFunc(slices.Clone(sup.Grants[i].Codes), func(code string) bool { return code == "310115-PSB-RK01-001" })
		}
	})
	sup := g.Token("supervision-platform")
	r := g.Post(sup, `mutation { watch(subjects: ["`+liNa+`", "`+e2+`"]) { subject } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("watch: %s", r.Raw)
	}
	other := g.TokenWith(auth.Claims{Consumer: "supervision-platform", Purpose: "market-supervision", Subject: "clerk-2"})
	for _, tok := range []string{sup, other} {
		for _, q := range []string{`mutation { watch(subjects: ["` + liNa + `"]) { subject } }`, `{ watchList { subject } }`} {
			r := g.Post(tok, q, nil)
			if strings.Contains(string(r.Raw), liNa) || !strings.Contains(string(r.Raw), "310115********0029") {
				t.Errorf("%s: %s", q, r.Raw)
			}
			if strings.HasPrefix(q, "{") && !strings.Contains(string(r.Raw), e2) {
				t.Errorf("an enterprise's credit code is shown as it is: %s", r.Raw)
			}
		}
	}
}
