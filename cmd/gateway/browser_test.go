package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"pudong.gov.cn/gateway/playground"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts Debian's chromium headless for one test, with everything that would
// reach out to the network on its own turned off, and returns a tab context. Every
// request the page makes is recorded, with every uncaught exception.
func browser(t *testing.T) (context.Context, *pageLog) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need Debian's chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 960),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("lang", "en-US"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	log := &pageLog{}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(log.add))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx, log
}

// pageLog is what the tab did, from its events.
type pageLog struct {
	mu         sync.Mutex
	requests   []string
	exceptions []string
}

func (l *pageLog) add(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		l.requests = append(l.requests, e.Request.URL)
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil && e.ExceptionDetails.Exception.Description != "" {
			msg += ": " + e.ExceptionDetails.Exception.Description
		}
		l.exceptions = append(l.exceptions, msg)
	}
}

func (l *pageLog) snapshot() (requests, exceptions []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests...), append([]string(nil), l.exceptions...)
}

// shown is one rendered value of the result view, as a user sees it.
type shown struct {
	Text   string `json:"text"`
	Status string `json:"status"`
	Code   string `json:"code"`
	Badge  string `json:"badge"`
}

// readResult reads the rendered values at the paths from the DOM under root.
func readResult(t *testing.T, ctx context.Context, root string, paths ...string) map[string]shown {
	t.Helper()
	p, _ := json.Marshal(paths)
	js := `(() => {
		const out = {};
		for (const p of ` + string(p) + `) {
			const v = document.querySelector(` + jsString(root) + ` + ' [data-path="' + p + '"]');
			if (!v) continue;
			const badge = v.parentElement.querySelector('.badge');
			out[p] = {text: v.textContent, status: v.dataset.status || '', code: v.dataset.code || '', badge: badge ? badge.textContent : ''};
		}
		return out;
	})()`
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]shown](js))
	if err != nil {
		t.Fatalf("reading the result from the page: %v", err)
	}
	return got
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pressEnter sends the Enter key without the char event that SendKeys adds, as a
// person's key press reaches an editor that handles Enter itself.
var pressEnter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
		}); err != nil {
			return err
		}
	}
	return nil
})

// step runs actions with a deadline, failing the test with what was being done.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowserPlayground drives the playground in a real browser against the real
// gateway over the simulators: pick a consumer, run a query, read the policy's marks
// from the page, compare consumers, file a sharing request, and check that the page
// never made a request anywhere but the gateway.
func TestBrowserPlayground(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test takes seconds; it runs in the full suite")
	}
	g := newTG(t)
	ctx, log := browser(t)
	base, err := url.Parse(g.srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	step(t, ctx, "loading the playground",
		chromedp.Navigate(g.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#consumer")),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`),
	)

	// Pick the playground consumer as a user does: the select's change mints a token
	// through POST /demo/token and puts it in the Authorization header.
	step(t, ctx, "picking the playground consumer",
		chromedp.SetValue(chromedp.CSS("#consumer"), "playground"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("consumer").dispatchEvent(new Event("change"))`),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as playground")`),
		chromedp.Poll[chromedp.Void](`document.getElementById("headers").value.includes("Bearer ey")`),
	)

	// Type the query into the editor, taking "name" from the completion list that the
	// schema offers for Citizen, prettify it, and run it with Ctrl-Enter.
	step(t, ctx, "typing the query with completion",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("query").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#query"), `{ citizen(idNumber: "310115198503120012") { na`),
		chromedp.WaitVisible(chromedp.CSS(`[role="listbox"] [role="option"]`)),
	)
	options, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[role="listbox"]:not([hidden]) [role="option"] .c-label')].map(o => o.textContent)`))
	if err != nil || len(options) == 0 || options[0] != "name" {
		t.Fatalf("completion after \"{ citizen(...) { na\" offers %v (%v), want name first", options, err)
	}
	step(t, ctx, "accepting the completion and finishing the query",
		pressEnter,
		chromedp.Poll[chromedp.Void](`document.getElementById("query").value.endsWith("{ name")`),
		chromedp.SendKeys(chromedp.CSS("#query"), ` phone idNumber } }`),
		chromedp.Click(chromedp.CSS("#prettify")),
	)
	const pretty = "{\n  citizen(idNumber: \"310115198503120012\") {\n    name\n    phone\n    idNumber\n  }\n}\n"
	if got, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#query"))); got != pretty {
		t.Errorf("after completion and prettify the query is\n%s\nwant\n%s", got, pretty)
	}
	step(t, ctx, "running the query with Ctrl-Enter",
		chromedp.Focus(chromedp.CSS("#query")),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(chromedp.CSS(`#result [data-path="citizen.idNumber"]`)),
	)

	got := readResult(t, ctx, "#result", "citizen.name", "citizen.phone", "citizen.idNumber")
	if v := got["citizen.name"]; v.Text != `"张*"` || v.Status != "masked" || v.Code != "310115-PSB-RK01-002" || !strings.Contains(v.Badge, "psb") {
		t.Errorf("citizen.name is shown as %+v, want the masked name \"张*\" marked masked with code 310115-PSB-RK01-002 and owner psb", v)
	}
	if v := got["citizen.idNumber"]; v.Text != `"310115********0012"` || v.Status != "masked" || v.Code != "310115-PSB-RK01-001" {
		t.Errorf("citizen.idNumber is shown as %+v, want the masked ID \"310115********0012\" marked masked", v)
	}
	if v := got["citizen.phone"]; v.Text != "null" || v.Status != "denied" || v.Code != "310115-PSB-RK01-007" || !strings.Contains(v.Badge, "310115-PSB-RK01-007") || !strings.Contains(v.Badge, "denied") {
		t.Errorf("citizen.phone is shown as %+v, want null marked denied with its code 310115-PSB-RK01-007 in the badge", v)
	}
	// phone is not shared at all: nothing to request
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#result button.request").length`)); n != 0 {
		t.Errorf("%d \"Request sharing\" buttons for a field its owner does not share", n)
	}

	if os.Getenv("GATEWAY_SCREENSHOT") != "" {
		step(t, ctx, "opening the docs on Citizen for the screenshot",
			chromedp.Click(chromedp.CSS(`.side-toggle[data-panel="docs"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#docs a.type-link`)),
			chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#docs a.type-link")].find(a => a.textContent === "Citizen").click()`),
			chromedp.WaitVisible(chromedp.CSS(`#doc-Citizen-phone`)),
		)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		out := filepath.Join("..", "..", "docs", "playground.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s (%d bytes)", out, len(png))
	}

	// The same query as every demo consumer, side by side: the citizen's own portal
	// sees the name in full, the playground sees it masked.
	step(t, ctx, "comparing consumers",
		chromedp.Click(chromedp.CSS("#compare")),
		chromedp.WaitVisible(chromedp.CSS(`#compare-grid [data-consumer="ipudong-portal"] [data-path="citizen.name"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#compare-grid [data-consumer="playground"] [data-path="citizen.name"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#compare-grid [data-consumer="online-hall"] [data-path="citizen.name"]`)),
	)
	own := readResult(t, ctx, `#compare-grid [data-consumer="ipudong-portal"]`, "citizen.name", "citizen.phone")
	if v := own["citizen.name"]; v.Text != `"张伟"` || v.Status != "allowed" {
		t.Errorf("the citizen's own portal sees the name as %+v, want \"张伟\" allowed", v)
	}
	if v := own["citizen.phone"]; v.Status != "allowed" || v.Text == "null" {
		t.Errorf("the citizen's own portal sees the phone as %+v, want it in full", v)
	}
	hall := readResult(t, ctx, `#compare-grid [data-consumer="online-hall"]`, "citizen.name", "citizen.phone")
	if v := hall["citizen.name"]; v.Text != `"张伟"` || v.Status != "allowed" {
		t.Errorf("online-hall (granted the name) sees it as %+v, want \"张伟\" allowed", v)
	}
	if v := hall["citizen.phone"]; v.Status != "denied" {
		t.Errorf("online-hall sees the phone as %+v, want denied", v)
	}
	pg := readResult(t, ctx, `#compare-grid [data-consumer="playground"]`, "citizen.name")
	if v := pg["citizen.name"]; v.Text != `"张*"` || v.Status != "masked" {
		t.Errorf("the playground column shows the name as %+v, want \"张*\" masked", v)
	}

	// A conditional item without a mask is denied but requestable: file a request
	// from the result view.
	const q2 = `{ citizen(idNumber: "310115198503120012") { name socialInsurance { insuranceType } } }`
	step(t, ctx, "running a query with a requestable denied field",
		chromedp.Click(chromedp.CSS("#compare-close")),
		chromedp.SetValue(chromedp.CSS("#query"), q2),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("query").dispatchEvent(new Event("input"))`),
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.WaitVisible(chromedp.CSS(`#result button.request`)),
		chromedp.Click(chromedp.CSS(`#result button.request`)),
		chromedp.WaitVisible(chromedp.CSS(`#request-justification`)),
		chromedp.SendKeys(chromedp.CSS(`#request-justification`), "Testing the sharing flow of the playground"),
		chromedp.Click(chromedp.CSS(`#request-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#requests .request-card`)),
	)
	card, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#requests .request-card").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(card, "hrss") || !strings.Contains(card, "PENDING") || !strings.Contains(card, "310115-HRSS-SB01-001") {
		t.Errorf("the created request shows as %q, want a PENDING request to hrss for 310115-HRSS-SB01-001", card)
	}
	if reqs := g.post(g.token("hrss-console"), `{ sharingRequests(status: PENDING) { requester codes } }`, nil); !strings.Contains(string(reqs.Raw), `"requester":"playground"`) {
		t.Errorf("the gateway has no pending request from playground: %s", reqs.Raw)
	}

	requests, exceptions := log.snapshot()
	if len(requests) == 0 {
		t.Fatal("recorded no network requests: the listener is not working")
	}
	var sawToken, sawGraphQL bool
	for _, raw := range requests {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.Host != base.Host {
			t.Errorf("the page made a request to %s, which is not the gateway at %s", raw, base.Host)
			continue
		}
		sawToken = sawToken || u.Path == playground.TokenPath
		sawGraphQL = sawGraphQL || u.Path == "/graphql"
	}
	if !sawToken || !sawGraphQL {
		t.Errorf("requests %v: want the demo token endpoint and /graphql among them", requests)
	}
	for _, e := range exceptions {
		t.Errorf("uncaught exception in the page: %s", e)
	}
}

// TestBrowserPlaygroundRoutes checks the page and the demo token endpoint as the
// gateway serves them, with the demo minter (no browser needed).
func TestBrowserPlaygroundRoutes(t *testing.T) {
	g := newTG(t)
	res, err := http.Get(g.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / = %d %s, want the page", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	post := func(body string) (int, map[string]string) {
		res, err := http.Post(g.srv.URL+playground.TokenPath, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]string
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"playground", `{"consumer":"playground"}`, http.StatusOK},
		{"self-service with the fixture citizen", `{"consumer":"ipudong-portal","citizenId":"310115198503120012"}`, http.StatusOK},
		{"self-service without a citizen", `{"consumer":"ipudong-portal"}`, http.StatusBadRequest},
		{"self-service with a bad check digit", `{"consumer":"ipudong-portal","citizenId":"310115198503120013"}`, http.StatusBadRequest},
		{"unknown consumer", `{"consumer":"nobody"}`, http.StatusBadRequest},
	} {
		status, out := post(c.body)
		if status != c.status {
			t.Errorf("%s: POST %s = %d %v, want %d", c.name, c.body, status, out, c.status)
			continue
		}
		if status == http.StatusOK {
			if r := g.post(out["token"], `{ me { consumer } }`, nil); r.str("me.consumer") == "" {
				t.Errorf("%s: the minted token is refused: %s", c.name, r.Raw)
			}
		} else if out["error"] == "" {
			t.Errorf("%s: a 400 without an error message", c.name)
		}
	}
	res, err = http.Get(g.srv.URL + playground.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
		t.Errorf("GET %s = %d (Allow %q), want 405 with Allow: POST", playground.TokenPath, res.StatusCode, res.Header.Get("Allow"))
	}
}
