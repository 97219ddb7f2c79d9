package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
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
	// Every page records what its Content-Security-Policy refused: a library that injects
	// an inline style or script would break under the gateway's CSP, silently but for this.
	step(t, ctx, "watching for CSP violations", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber));`,
		})
		return err
	}))
	return ctx, log
}

// checkPageHealth fails the test for what the page did wrong: requests anywhere but
// the gateway at hosts (all on 127.0.0.1), CSP violations, uncaught exceptions. It
// returns the paths the page requested.
func checkPageHealth(t *testing.T, ctx context.Context, log *pageLog, hosts ...string) map[string]bool {
	t.Helper()
	requests, exceptions := log.snapshot()
	if len(requests) == 0 {
		t.Fatal("recorded no network requests: the listener is not working")
	}
	paths := map[string]bool{}
	for _, raw := range requests {
		u, err := url.Parse(raw)
		if err == nil && u.Scheme == "data" {
			continue // read from the URL itself, e.g. the date picker's icon: nothing is sent
		}
		if err != nil || u.Scheme != "http" || !slices.Contains(hosts, u.Host) || !strings.HasPrefix(u.Host, "127.0.0.1:") {
			t.Errorf("the page made a request to %s, which is not the gateway at %s", raw, hosts)
			continue
		}
		paths[u.Path] = true
	}
	for _, e := range exceptions {
		t.Errorf("uncaught exception in the page: %s", e)
	}
	csp, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.cspViolations || ["the CSP watcher did not run"]`))
	if err != nil {
		t.Fatalf("reading CSP violations: %v", err)
	}
	for _, v := range csp {
		t.Errorf("the Content-Security-Policy refused: %s", v)
	}
	return paths
}

// The query editor is a CodeMirror view: the tests type into its content element and
// read its lines, as a user does.
const (
	editorContent = "#query .cm-content"
	editorText    = `[...document.querySelectorAll("#query .cm-line")].map((l) => l.textContent).join("\n")`
	// completionLabels are the labels of the open completion list, in order.
	completionLabels = `[...document.querySelectorAll('.cm-tooltip-autocomplete [role="listbox"] [role="option"] .cm-completionLabel')].map((o) => o.textContent)`
)

// pressKey sends one key press (raw key down and key up, without the char event that
// SendKeys adds) with modifiers (input.Modifier bits: Ctrl is 2), as a person's press
// reaches an editor that handles the key itself.
func pressKey(key, code string, vk int64, modifiers int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk, Modifiers: modifiers,
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

var (
	pressEnter = pressKey("Enter", "Enter", 13, 0)
	// clearEditor selects everything in the focused editor with Ctrl-A and deletes it.
	clearEditor = []chromedp.Action[chromedp.Void]{
		chromedp.Focus(chromedp.CSS(editorContent)),
		pressKey("a", "KeyA", 65, 2),
		pressKey("Backspace", "Backspace", 8, 0),
		chromedp.Poll[chromedp.Void](editorText + ` === ""`),
	}
)

// typeQuery replaces the editor's text by typing src. The editor closes brackets and
// quotes as they are opened and steps over them when they are typed, so typing a whole
// query leaves exactly that query.
func typeQuery(t *testing.T, ctx context.Context, src string) {
	t.Helper()
	step(t, ctx, "typing "+src, append(append([]chromedp.Action[chromedp.Void]{}, clearEditor...),
		chromedp.SendKeys(chromedp.CSS(editorContent), src),
		chromedp.Poll[chromedp.Void](editorText+` === `+jsString(src)),
	)...)
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

// step runs actions with a deadline, failing the test with what was being done.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		// Say what the page showed, so a failure can be understood from the log.
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		seen, _ := chromedp.Run(dctx, chromedp.Evaluate[map[string]string](`({
			query: document.querySelector("#query .cm-content") ? `+editorText+` : "(no editor)",
			status: document.getElementById("editor-status").textContent,
			whoami: document.getElementById("whoami").textContent,
			csp: JSON.stringify(window.cspViolations),
		})`))
		t.Fatalf("%s: %v\nthe page shows %q", what, err, seen)
	}
}

// openPlayground starts the demo gateway and a browser on its playground, and picks
// consumer as a user does: the select's change mints a token through POST /demo/token
// and puts it in the Authorization header. host is the gateway's, for checkPageHealth.
func openPlayground(t *testing.T, consumer string) (g *e2e.Gateway, ctx context.Context, log *pageLog, host string) {
	t.Helper()
	g = e2e.Start(t)
	ctx, log = browser(t)
	base, err := url.Parse(g.Srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "loading the playground as "+consumer,
		chromedp.Navigate(g.Srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#consumer")),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`),
		chromedp.SetValue(chromedp.CSS("#consumer"), consumer),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("consumer").dispatchEvent(new Event("change"))`),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as `+consumer+`")`),
	)
	return g, ctx, log, base.Host
}

// TestBrowserPlayground drives the playground in a real browser against the real
// gateway over the simulators: pick a consumer, run a query, read the policy's marks
// from the page, compare consumers, file a sharing request, and check that the page
// never made a request anywhere but the gateway.
func TestBrowserPlayground(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test takes seconds; it runs in the full suite")
	}
	g, ctx, log, host := openPlayground(t, "playground")
	step(t, ctx, "reading the minted token", chromedp.Poll[chromedp.Void](`document.querySelector("#headers .cm-content").textContent.includes("Bearer ey")`))
	typeWithCompletionAndPrettify(t, ctx)
	escapeThenTabLeavesEditor(t, ctx)
	hoverAndCtrlClickPhone(t, ctx)
	runAndReadPolicyMarks(t, ctx)
	docsShowCatalogueEntries(t, ctx)
	compareConsumers(t, ctx)
	validationMarksMistakes(t, ctx)
	requestSharingFromResult(t, ctx, g)
	historyRecallsQueries(t, ctx)
	paths := checkPageHealth(t, ctx, log, host)
	if !paths[playground.TokenPath] || !paths["/graphql"] {
		t.Errorf("requests to %v: want the demo token endpoint and /graphql among them", paths)
	}
}

// prettyCitizenQuery is the first query of TestBrowserPlayground as prettify writes it.
const prettyCitizenQuery = "{\n  citizen(idNumber: \"310115198503120012\") {\n    name\n    phone\n    idNumber\n  }\n}\n"

// typeWithCompletionAndPrettify types the first query as a person does: completion, prettify.
func typeWithCompletionAndPrettify(t *testing.T, ctx context.Context) {
	t.Helper()
	// Type the query into the editor, taking "name" from the completion list that
	// graphql-language-service offers for Citizen from the introspected schema, prettify
	// it with graphql-js, and run it with Ctrl-Enter.
	step(t, ctx, "waiting for the schema", chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "true"`))
	step(t, ctx, "typing the query with completion", append(append([]chromedp.Action[chromedp.Void]{}, clearEditor...),
		chromedp.SendKeys(chromedp.CSS(editorContent), `{ citizen(idNumber: "310115198503120012") { na`),
		chromedp.WaitVisible(chromedp.CSS(`.cm-tooltip-autocomplete [role="listbox"] [role="option"]`)),
	)...)
	options, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](completionLabels))
	if err != nil || len(options) == 0 || options[0] != "name" {
		t.Fatalf("completion after \"{ citizen(...) { na\" offers %v (%v), want name first", options, err)
	}
	// CodeMirror ignores an accept key pressed within 75 ms of the list opening
	// (autocompletion's interactionDelay), as it would a person's stray key.
	time.Sleep(150 * time.Millisecond)
	step(t, ctx, "accepting the completion and finishing the query",
		pressEnter,
		chromedp.Poll[chromedp.Void](editorText+`.startsWith('{ citizen(idNumber: "310115198503120012") { name')`),
		chromedp.SendKeys(chromedp.CSS(editorContent), ` phone idNumber } }`),
		chromedp.Poll[chromedp.Void](editorText+` === '{ citizen(idNumber: "310115198503120012") { name phone idNumber } }'`),
		chromedp.Click(chromedp.CSS("#prettify")),
	)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](editorText)); got != prettyCitizenQuery {
		t.Errorf("after completion and prettify the query is\n%s\nwant\n%s", got, prettyCitizenQuery)
	}
}

// escapeThenTabLeavesEditor checks that keyboard users are never trapped in the editor.
func escapeThenTabLeavesEditor(t *testing.T, ctx context.Context) {
	t.Helper()
	// The editor keeps Tab for indenting, but Escape then Tab leaves it, as the page
	// says: keyboard users are never trapped. (The click puts the cursor in the text as
	// a person's does; with a selection, the first Escape only collapses it.)
	step(t, ctx, "leaving the editor with Escape then Tab",
		chromedp.Click(chromedp.CSS(editorContent+" .cm-line")),
		pressKey("Escape", "Escape", 27, 0),
		pressKey("Tab", "Tab", 9, 0),
		chromedp.Poll[chromedp.Void](`!document.getElementById("query").contains(document.activeElement)`),
	)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](editorText)); got != prettyCitizenQuery {
		t.Errorf("Escape then Tab changed the query to\n%s", got)
	}
}

// hoverAndCtrlClickPhone reads phone's hover card and opens it in the docs with Ctrl-click.
func hoverAndCtrlClickPhone(t *testing.T, ctx context.Context) {
	t.Helper()
	// Hovering a field shows its type and description from the schema and its
	// catalogue entry: the code, the owner and this caller's access.
	hoverOver(t, ctx, "phone")
	step(t, ctx, "hovering over phone", chromedp.WaitVisible(chromedp.CSS(`.cm-tooltip-hover .hover-info`)))
	hover, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".cm-tooltip-hover .hover-info").textContent`))
	if !strings.Contains(hover, "Citizen.phone: String") || !strings.Contains(hover, "310115-PSB-RK01-007") || !strings.Contains(hover, "denied") {
		t.Errorf("the hover card over phone says %q, want Citizen.phone: String with code 310115-PSB-RK01-007, denied", hover)
	}

	// Ctrl-click on a field opens it in the docs, with its catalogue entry.
	xy := wordAt(t, ctx, "phone")
	step(t, ctx, "Ctrl-clicking phone",
		chromedp.MouseClickXY(xy[0], xy[1], chromedp.ButtonModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(chromedp.CSS(`#doc-Citizen-phone.doc-target`)),
		chromedp.Click(chromedp.CSS(`#docs button.back`)),
		chromedp.WaitVisible(chromedp.CSS(`#docs a.type-link`)),
		chromedp.Click(chromedp.CSS(`.side-toggle[data-panel="docs"]`)),
	)
}

// runAndReadPolicyMarks runs the query with Ctrl-Enter and reads the policy's marks from the result.
func runAndReadPolicyMarks(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "running the query with Ctrl-Enter",
		chromedp.Focus(chromedp.CSS(editorContent)),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(chromedp.CSS(`#result [data-path="citizen.idNumber"]`)),
	)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](editorText)); got != prettyCitizenQuery {
		t.Errorf("Ctrl-Enter changed the query to\n%s", got)
	}

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
	// A masked value can be reported to its owner (browser_loops_test.go files one); a
	// denied one, which the caller does not see, cannot.
	reports, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]bool](`Object.fromEntries(["citizen.name", "citizen.phone"].map((p) =>
		[p, !!document.querySelector('#result [data-path="' + p + '"]').parentElement.querySelector("button.report")]))`))
	if !reports["citizen.name"] || reports["citizen.phone"] {
		t.Errorf("\"Report\" buttons: %v, want one beside the masked name and none beside the denied phone", reports)
	}
	// phone is not shared at all: nothing to request
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#result button.request").length`)); n != 0 {
		t.Errorf("%d \"Request sharing\" buttons for a field its owner does not share", n)
	}
}

// docsShowCatalogueEntries checks the docs' catalogue entries and their search by code.
func docsShowCatalogueEntries(t *testing.T, ctx context.Context) {
	t.Helper()
	// The docs: Citizen's fields from the schema, each governed one with its catalogue
	// entry and this caller's access; searching by catalogue code finds the field.
	step(t, ctx, "opening the docs on Citizen",
		chromedp.Click(chromedp.CSS(`.side-toggle[data-panel="docs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#docs a.type-link`)),
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#docs a.type-link")].find(a => a.textContent === "Citizen").click()`),
		chromedp.WaitVisible(chromedp.CSS(`#doc-Citizen-phone`)),
	)
	doc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("doc-Citizen-phone").textContent`))
	if !strings.Contains(doc, "phone: String") || !strings.Contains(doc, "310115-PSB-RK01-007") || !strings.Contains(doc, "not shared") || !strings.Contains(doc, "denied") {
		t.Errorf("the docs show Citizen.phone as %q, want its type, code 310115-PSB-RK01-007, not shared, denied to this caller", doc)
	}
	// GATEWAY_SCREENSHOT=1 go test ./cmd/gateway -run 'TestBrowserPlayground$' rewrites
	// docs/playground.png from this page. Chinese names need a CJK font in the browser
	// (Debian: fonts-wqy-microhei), or they show as boxes.
	if os.Getenv("GATEWAY_SCREENSHOT") != "" {
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
	step(t, ctx, "searching the docs for a catalogue code",
		chromedp.SendKeys(chromedp.CSS(`#docs-search`), "RK01-007"),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#docs a.type-link")].some((a) => a.textContent === "Citizen.phone")`),
		chromedp.Click(chromedp.CSS(`.side-toggle[data-panel="docs"]`)),
	)
}

// compareConsumers runs the query as every demo consumer, side by side.
func compareConsumers(t *testing.T, ctx context.Context) {
	t.Helper()
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
}

// validationMarksMistakes checks that mistakes are marked before anything is sent.
func validationMarksMistakes(t *testing.T, ctx context.Context) {
	t.Helper()
	// Validation: graphql-js's rules through graphql-language-service mark a field
	// Citizen does not have and an argument citizen does not take, in the editor and in
	// the status line, before anything is sent.
	step(t, ctx, "closing the comparison", chromedp.Click(chromedp.CSS("#compare-close")))
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012", mode: FULL) { name nickname } }`)
	step(t, ctx, "waiting for the validation errors",
		chromedp.WaitVisible(chromedp.CSS(`#query .cm-lintRange-error`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("editor-status").textContent.includes("and 1 more")`),
	)
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("editor-status").textContent`))
	marked, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#query .cm-lintRange-error")].map((e) => e.textContent)`))
	if !strings.Contains(status, `Unknown argument "mode" on field "Query.citizen".`) || !strings.Contains(status, "line 1, column") {
		t.Errorf("the status line says %q, want the unknown argument mode with its line and column", status)
	}
	if strings.Join(marked, " ") != "mode nickname" {
		t.Errorf("the editor marks %q as errors, want mode and nickname", marked)
	}
	hoverOver(t, ctx, "nickname")
	step(t, ctx, "hovering over the marked field",
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll(".cm-tooltip-lint, .cm-tooltip-hover")].some((e) => e.textContent.includes('Cannot query field "nickname" on type "Citizen".'))`),
	)

	// A syntax error: prettify refuses and says where.
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { name } } }`)
	step(t, ctx, "prettifying a query with a syntax error",
		chromedp.Click(chromedp.CSS("#prettify")),
		chromedp.Poll[chromedp.Void](`document.getElementById("editor-status").textContent.includes("Cannot prettify: Syntax Error")`),
	)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("editor-status").textContent`)); !strings.Contains(got, "line 1, column 54") {
		t.Errorf("the prettify error says %q, want it at line 1, column 54", got)
	}
}

// requestSharingFromResult files a sharing request from the result view.
func requestSharingFromResult(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	// A conditional item without a mask is denied but requestable: file a request
	// from the result view.
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { name socialInsurance { insuranceType } } }`)
	step(t, ctx, "running a query with a requestable denied field",
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
	if reqs := g.Post(g.Token("hrss-console"), `{ sharingRequests(status: PENDING) { requester codes } }`, nil); !strings.Contains(string(reqs.Raw), `"requester":"playground"`) {
		t.Errorf("the gateway has no pending request from playground: %s", reqs.Raw)
	}
}

// historyRecallsQueries checks the history of queries run and recalls one.
func historyRecallsQueries(t *testing.T, ctx context.Context) {
	t.Helper()
	// History: the queries run are listed, newest first, and one click puts one back.
	step(t, ctx, "opening the history",
		chromedp.Click(chromedp.CSS(`.side-toggle[data-panel="history"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#history .history-item`)),
	)
	queries, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#history .history-item")].map((e) => e.title)`))
	if len(queries) != 2 || !strings.Contains(queries[0], "socialInsurance") || queries[1] != prettyCitizenQuery {
		t.Errorf("the history lists %q, want the social-insurance query first and the first query after it", queries)
	}
	step(t, ctx, "recalling the first query from the history",
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#history .history-item")[1].click()`),
		chromedp.Poll[chromedp.Void](editorText+` === `+jsString(prettyCitizenQuery)),
	)
}

// wordAt is the middle of the second character of word's first occurrence in the query
// editor, in page coordinates: a point inside the word.
func wordAt(t *testing.T, ctx context.Context, word string) []float64 {
	t.Helper()
	js := `(() => {
		const w = document.createTreeWalker(document.querySelector("#query .cm-content"), NodeFilter.SHOW_TEXT);
		for (let n = w.nextNode(); n; n = w.nextNode()) {
			const i = n.textContent.indexOf(` + jsString(word) + `);
			if (i < 0) continue;
			const r = document.createRange();
			r.setStart(n, i + 1);
			r.setEnd(n, i + 2);
			const b = r.getBoundingClientRect();
			return [b.left + b.width / 2, b.top + b.height / 2];
		}
		return [];
	})()`
	xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](js))
	if err != nil || len(xy) != 2 {
		t.Fatalf("finding %q in the editor: %v %v", word, xy, err)
	}
	return xy
}

// hoverOver moves the mouse over the first occurrence of word in the query editor.
func hoverOver(t *testing.T, ctx context.Context, word string) {
	t.Helper()
	xy := wordAt(t, ctx, word)
	step(t, ctx, "moving the mouse to "+word,
		chromedp.MouseEvent(chromedp.MouseMoved, xy[0]-3, xy[1]),
		chromedp.MouseEvent(chromedp.MouseMoved, xy[0], xy[1]),
	)
}

// TestBrowserPlaygroundRoutes checks the page and the demo token endpoint as the
// gateway serves them, with the demo minter (no browser needed).
func TestBrowserPlaygroundRoutes(t *testing.T) {
	g := e2e.Start(t)
	res, err := http.Get(g.Srv.URL + "/")
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
		res, err := http.Post(g.Srv.URL+playground.TokenPath, "application/json", bytes.NewBufferString(body))
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
			if r := g.Post(out["token"], `{ me { consumer } }`, nil); r.Str("me.consumer") == "" {
				t.Errorf("%s: the minted token is refused: %s", c.name, r.Raw)
			}
		} else if out["error"] == "" {
			t.Errorf("%s: a 400 without an error message", c.name)
		}
	}
	res, err = http.Get(g.Srv.URL + playground.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
		t.Errorf("GET %s = %d (Allow %q), want 405 with Allow: POST", playground.TokenPath, res.StatusCode, res.Header.Get("Allow"))
	}
}

// TestBrowserPlaygroundDataAccess drives the "My data access" panel: it shows for a
// citizen's token only when the schema has Query.myDataAccess, asks for what the schema
// declares, pages through the answer, and is gone for a consumer's token. The gateway
// is put behind a stand-in that adds myDataAccess to the introspected schema where the
// gateway has none yet, and answers it with two fixed pages, so what the page shows can
// be checked exactly.
func TestBrowserPlaygroundDataAccess(t *testing.T) {
	g := e2e.Start(t)
	standIn := &dataAccessStandIn{gateway: g.Parts.Handler}
	srv := httptest.NewServer(standIn)
	t.Cleanup(srv.Close)
	ctx, log := browser(t)
	base, _ := url.Parse(srv.URL)

	panelAbsentWithoutField(t, ctx, g)
	step(t, ctx, "loading the playground as the citizen through the stand-in",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`),
		chromedp.SetValue(chromedp.CSS("#consumer"), "ipudong-portal"),
		chromedp.SetValue(chromedp.CSS("#citizen"), "310115198503120012"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("consumer").dispatchEvent(new Event("change"))`),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as ipudong-portal")`),
		chromedp.WaitVisible(chromedp.CSS(accessToggle)),
		chromedp.Click(chromedp.CSS(accessToggle)),
		chromedp.WaitVisible(chromedp.CSS(`#access-from`)),
		chromedp.SetValue(chromedp.CSS(`#access-from`), "2026-11-01"),
		chromedp.Click(chromedp.CSS(`#access-load`)),
		chromedp.WaitVisible(chromedp.CSS(`#access-list .access-card`)),
	)
	pagesThroughAccesses(t, ctx)
	checkDataAccessCalls(t, standIn.calls())
	// A consumer's token has no tracker: the panel closes and its button goes.
	step(t, ctx, "switching to the playground consumer",
		chromedp.SetValue(chromedp.CSS("#consumer"), "playground"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("consumer").dispatchEvent(new Event("change"))`),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as playground")`),
		chromedp.Poll[chromedp.Void](`document.querySelector(`+jsString(accessToggle)+`).hidden && document.getElementById("side").hidden`),
	)
	gw, _ := url.Parse(g.Srv.URL)
	paths := checkPageHealth(t, ctx, log, base.Host, gw.Host)
	if !paths["/graphql"] {
		t.Errorf("requests to %v: want /graphql among them", paths)
	}
}

// accessToggle is the button that opens the "My data access" panel.
const accessToggle = `.side-toggle[data-panel="access"]`

// panelAbsentWithoutField checks that, while the gateway's schema has no
// myDataAccess, the panel does not exist, not even for a citizen.
func panelAbsentWithoutField(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	introspected := g.Post(g.Token("playground"), `{ __type(name: "Query") { fields { name } } }`, nil)
	if !strings.Contains(string(introspected.Raw), `"fields"`) {
		t.Fatalf("the gateway does not answer introspection: %s", introspected.Raw)
	}
	if !strings.Contains(string(introspected.Raw), `"myDataAccess"`) {
		// Without the field the panel does not exist, not even for a citizen.
		step(t, ctx, "loading the playground on the gateway itself as the citizen",
			chromedp.Navigate(g.Srv.URL+"/"),
			chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`),
			chromedp.SetValue(chromedp.CSS("#consumer"), "ipudong-portal"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("consumer").dispatchEvent(new Event("change"))`),
			chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as ipudong-portal") && document.body.dataset.ready === "true"`),
		)
		if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(accessToggle)+`).hidden`)); !hidden {
			t.Error("the My data access button shows although the gateway's schema has no myDataAccess")
		}
	}

}

// pagesThroughAccesses reads the panel's first page (one access of two, shown
// with its consumer, purpose, fields and grant) and loads the second.
func pagesThroughAccesses(t *testing.T, ctx context.Context) {
	t.Helper()
	cards := func() []string {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#access-list .access-card")].map((c) => c.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := cards()
	if len(first) != 1 {
		t.Fatalf("the first page shows %d accesses, want 1: %q", len(first), first)
	}
	for _, want := range []string{"online-hall", "the district's online service hall", "business-licence-approval", "310115-PSB-RK01-002", "Citizen.name", "psb", "allowed", "310115-HRSS-SB01-001", "masked", "grant-7"} {
		if !strings.Contains(first[0], want) {
			t.Errorf("the access shows as %q, want %q in it", first[0], want)
		}
	}
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("access-status").textContent`))
	if !strings.Contains(status, "2 accesses, 1 shown") {
		t.Errorf("the panel says %q, want 2 accesses, 1 shown", status)
	}
	step(t, ctx, "loading the next page",
		chromedp.Click(chromedp.CSS(`#access-more`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#access-list .access-card").length === 2`),
		chromedp.Poll[chromedp.Void](`document.getElementById("access-more").hidden`),
	)
	if second := cards(); !strings.Contains(second[1], "supervision-platform") || !strings.Contains(second[1], "req-42") {
		t.Errorf("the second page shows %q, want supervision-platform's access on request req-42", second[1])
	}

}

// checkDataAccessCalls checks the panel's two queries: shaped by the schema,
// the first from 1 November without a cursor, the next after the first's cursor.
func checkDataAccessCalls(t *testing.T, calls []gqlRequest) {
	t.Helper()
	if len(calls) != 2 {
		t.Fatalf("the page asked for myDataAccess %d times, want 2: %v", len(calls), calls)
	}
	if !strings.Contains(calls[0].Query, "items {") || !strings.Contains(calls[0].Query, "pageInfo { hasNextPage endCursor }") || !strings.Contains(calls[0].Query, "$from: Time") {
		t.Errorf("the panel's query %q does not follow the schema", calls[0].Query)
	}
	if calls[0].Variables["first"] != float64(20) || calls[0].Variables["after"] != nil || !strings.HasPrefix(fmt.Sprint(calls[0].Variables["from"]), "2026-1") || calls[0].Variables["to"] != nil {
		t.Errorf("the first page was asked with %v, want first 20 from the start of 1 November and no cursor", calls[0].Variables)
	}
	if calls[1].Variables["after"] != "cursor-1" {
		t.Errorf("the next page was asked with %v, want after cursor-1", calls[1].Variables)
	}

}

// dataAccessStandIn passes every request to the gateway but two: the introspection
// query, whose answer it gives Query.myDataAccess (shaped as docs/playground.md
// describes it) when the gateway has none, and the panel's MyDataAccess query, which it
// answers with two fixed pages and records.
type dataAccessStandIn struct {
	gateway http.Handler
	mu      sync.Mutex
	asked   []gqlRequest
}

type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

func (s *dataAccessStandIn) calls() []gqlRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gqlRequest(nil), s.asked...)
}

func (s *dataAccessStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/graphql" {
		s.gateway.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var q gqlRequest
	json.Unmarshal(body, &q)
	switch {
	case strings.Contains(q.Query, "query MyDataAccess"):
		s.mu.Lock()
		s.asked = append(s.asked, q)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if q.Variables["after"] == "cursor-1" {
			io.WriteString(w, dataAccessPage2)
		} else {
			io.WriteString(w, dataAccessPage1)
		}
	case strings.Contains(q.Query, "query IntrospectionQuery"):
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		s.gateway.ServeHTTP(rec, r)
		out, err := withDataAccessField(rec.Body.Bytes())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.gateway.ServeHTTP(w, r)
	}
}

const dataAccessPage1 = `{"data":{"myDataAccess":{"edges":[{"cursor":"cursor-1","node":{
	"at":"2026-11-20T09:30:00Z","consumer":"online-hall","consumerDescription":"the district's online service hall",
	"purpose":"business-licence-approval","items":[
		{"code":"310115-PSB-RK01-002","field":"Citizen.name","owner":"psb","decision":"ALLOW"},
		{"code":"310115-HRSS-SB01-001","field":"SocialInsurance.insuranceType","owner":"hrss","decision":"MASK"}],
	"grantId":"grant-7","sharingRequestId":null}}],
	"pageInfo":{"hasNextPage":true,"endCursor":"cursor-1"},"totalCount":2}}}`

const dataAccessPage2 = `{"data":{"myDataAccess":{"edges":[{"cursor":"cursor-2","node":{
	"at":"2026-11-21T14:00:00Z","consumer":"supervision-platform","consumerDescription":"market supervision",
	"purpose":"market-supervision","items":[{"code":"310115-PSB-RK01-002","field":"Citizen.name","owner":"psb","decision":"ALLOW"}],
	"grantId":null,"sharingRequestId":"req-42"}}],
	"pageInfo":{"hasNextPage":false,"endCursor":"cursor-2"},"totalCount":2}}}`

// withDataAccessField adds myDataAccess and its types to an introspection answer that
// lacks them.
func withDataAccessField(answer []byte) ([]byte, error) {
	var res struct {
		Data struct {
			Schema struct {
				QueryType struct {
					Name string `json:"name"`
				} `json:"queryType"`
				Types []map[string]any `json:"types"`
			} `json:"__schema"`
		} `json:"data"`
	}
	var raw map[string]map[string]map[string]any
	if err := json.Unmarshal(answer, &raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(answer, &res); err != nil {
		return nil, err
	}
	if raw["data"] == nil || raw["data"]["__schema"] == nil {
		return answer, nil // an error: the page shows it
	}
	types := res.Data.Schema.Types
	for _, t := range types {
		if t["name"] != res.Data.Schema.QueryType.Name {
			continue
		}
		fields, _ := t["fields"].([]any)
		for _, f := range fields {
			if f.(map[string]any)["name"] == "myDataAccess" {
				return answer, nil
			}
		}
		t["fields"] = append(fields, introField("myDataAccess", "DataAccessConnection!",
			introArg("first", "Int", "20"), introArg("after", "String", nil), introArg("from", "Time", nil), introArg("to", "Time", nil)))
	}
	types = append(types,
		introObject("DataAccessConnection", introField("edges", "[DataAccessEdge!]!"), introField("pageInfo", "PageInfo!"), introField("totalCount", "Int!")),
		introObject("DataAccessEdge", introField("cursor", "String!"), introField("node", "DataAccess!")),
		introObject("DataAccess", introField("at", "Time!"), introField("consumer", "String!"), introField("consumerDescription", "String"),
			introField("purpose", "String"), introField("items", "[DataAccessItem!]!"), introField("grantId", "ID"), introField("sharingRequestId", "ID")),
		introObject("DataAccessItem", introField("code", "String!"), introField("field", "String!"), introField("owner", "String!"), introField("decision", "String!")),
	)
	raw["data"]["__schema"]["types"] = types
	return json.Marshal(raw)
}

func introObject(name string, fields ...map[string]any) map[string]any {
	return map[string]any{"kind": "OBJECT", "name": name, "description": nil, "fields": fields,
		"inputFields": nil, "interfaces": []any{}, "enumValues": nil, "possibleTypes": nil}
}

func introField(name, typ string, args ...map[string]any) map[string]any {
	if args == nil {
		args = []map[string]any{}
	}
	return map[string]any{"name": name, "description": nil, "args": args, "type": introType(typ), "isDeprecated": false, "deprecationReason": nil}
}

func introArg(name, typ string, dflt any) map[string]any {
	return map[string]any{"name": name, "description": nil, "type": introType(typ), "defaultValue": dflt}
}

// introType is the introspection form of a type reference written as in SDL.
func introType(s string) map[string]any {
	switch {
	case strings.HasSuffix(s, "!"):
		return map[string]any{"kind": "NON_NULL", "name": nil, "ofType": introType(strings.TrimSuffix(s, "!"))}
	case strings.HasPrefix(s, "["):
		return map[string]any{"kind": "LIST", "name": nil, "ofType": introType(s[1 : len(s)-1])}
	}
	kind := "OBJECT"
	switch s {
	case "Int", "String", "ID", "Time", "Boolean":
		kind = "SCALAR"
	}
	return map[string]any{"kind": kind, "name": s, "ofType": nil}
}

// TestBrowserPlaygroundProduction uses the production page (as serve.go builds it
// outside the demo) in front of the gateway: no consumer picker, the developer pastes
// a token into the Headers editor, and the page loads that caller's identity and schema
// from it and runs queries with it. This gateway allows queries 9 deep, one less than
// the playground's introspection query first asks for: the page asks again with less
// and still gets the schema (docs/playground.md).
func TestBrowserPlaygroundProduction(t *testing.T) {
	g := e2e.Start(t, func(c *config.Config) { c.Limits.Depth = 9 })
	mux := http.NewServeMux()
	mux.Handle("/graphql", g.Parts.Handler)
	mux.Handle("/", playground.Handler(playground.Options{Endpoint: "/graphql"}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, log := browser(t)
	base, _ := url.Parse(srv.URL)
	headers := `{"Authorization": "Bearer ` + g.Token("online-hall") + `"}`
	step(t, ctx, "loading the production playground",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`),
		chromedp.WaitVisible(chromedp.CSS("#prod-hint")),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("paste one into Headers")`),
	)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#consumer, #compare").length`)); n != 0 {
		t.Error("the production page has the demo's consumer picker or comparison")
	}
	step(t, ctx, "pasting a token into Headers",
		chromedp.Click(chromedp.CSS("#tab-headers")),
		chromedp.Click(chromedp.CSS("#headers .cm-line")),
		pressKey("a", "KeyA", 65, 2),
		pressKey("Backspace", "Backspace", 8, 0),
		// Inserted as one piece of text, as a paste is, rather than typed.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: headers})
			return err
		}),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as online-hall")`),
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "true"`),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#docs a.type-link")].some((a) => a.textContent === "Citizen")`),
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.WaitVisible(chromedp.CSS(`#result [data-path="citizen.name"]`)),
	)
	got := readResult(t, ctx, "#result", "citizen.name", "citizen.phone")
	if v := got["citizen.name"]; v.Text != `"张伟"` || v.Status != "allowed" || v.Code != "310115-PSB-RK01-002" {
		t.Errorf("online-hall sees the name as %+v, want \"张伟\" allowed with its code", v)
	}
	if v := got["citizen.phone"]; v.Status != "denied" {
		t.Errorf("online-hall sees the phone as %+v, want denied", v)
	}
	paths := checkPageHealth(t, ctx, log, base.Host)
	if paths[playground.TokenPath] {
		t.Error("the production page asked the demo token endpoint")
	}
}

// TestBrowserPlaygroundWithoutSchema uses a gateway that answers no introspection: the
// page says it has no schema, still checks the query's syntax, and still runs queries
// and marks what the gateway masked and denied.
func TestBrowserPlaygroundWithoutSchema(t *testing.T) {
	g := e2e.Start(t, func(c *config.Config) { c.Introspection = false })
	ctx, log := browser(t)
	base, _ := url.Parse(g.Srv.URL)
	step(t, ctx, "loading the playground as the playground consumer",
		chromedp.Navigate(g.Srv.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`),
		chromedp.SetValue(chromedp.CSS("#consumer"), "playground"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("consumer").dispatchEvent(new Event("change"))`),
		chromedp.Poll[chromedp.Void](`document.getElementById("whoami").textContent.includes("Calling as playground")`),
		chromedp.Poll[chromedp.Void](`document.getElementById("editor-status").textContent.startsWith("No schema")`),
	)
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { name phone } } }`)
	step(t, ctx, "waiting for the syntax error",
		chromedp.WaitVisible(chromedp.CSS(`#query .cm-lintRange-error`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("editor-status").textContent.includes("Syntax Error: Unexpected \"}\". (line 1, column 60)")`),
	)
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { name phone } }`)
	step(t, ctx, "running the query without a schema",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#query .cm-lintRange-error").length === 0`),
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.WaitVisible(chromedp.CSS(`#result [data-path="citizen.phone"]`)),
	)
	got := readResult(t, ctx, "#result", "citizen.name", "citizen.phone")
	if v := got["citizen.name"]; v.Text != `"张*"` || v.Status != "masked" || v.Code != "310115-PSB-RK01-002" {
		t.Errorf("without a schema the name shows as %+v, want \"张*\" marked masked from the gateway's answer", v)
	}
	if v := got["citizen.phone"]; v.Status != "denied" || v.Code != "310115-PSB-RK01-007" {
		t.Errorf("without a schema the phone shows as %+v, want denied from the gateway's answer", v)
	}
	checkPageHealth(t, ctx, log, base.Host)
}
