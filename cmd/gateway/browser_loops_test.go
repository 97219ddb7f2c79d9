package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/seal"
)

// TestBrowserPlaygroundObjectionAndSeal drives the two loops the playground closes
// (docs/playground.md): the online hall reports a data issue from a value of its result
// and the objection reaches the PSB's console; then it asks for a sealed answer, the
// page verifies the seal with WebCrypto against the key the gateway publishes, lists
// the attested values, and a changed character fails the check. The page still makes
// requests to the gateway only.
func TestBrowserPlaygroundObjectionAndSeal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test takes seconds; it runs in the full suite")
	}
	g, ctx, log, host := openPlayground(t, "online-hall")
	step(t, ctx, "waiting for the schema", chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "true"`))
	reportAddressFromResult(t, ctx, g)
	refusedObjectionShowsCode(t, ctx)
	nestedObjectReportedAsItself(t, ctx, g)
	sealedAnswerVerified(t, ctx, g)
	savedSealVerifies(t, ctx, g)
	changedCharacterFailsSeal(t, ctx, g)
	paths := checkPageHealth(t, ctx, log, host)
	if !paths[seal.KeysPath] {
		t.Errorf("the page did not read the seal key from %s: %v", seal.KeysPath, paths)
	}
}

// reportAddressFromResult files an objection to the address from the result view; it reaches the PSB's console.
func reportAddressFromResult(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	// Report: the address's badge knows its code, and the subject comes from the
	// query's idNumber argument.
	const address = `#result [data-path="citizen.householdAddress"]`
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { name householdAddress } }`)
	step(t, ctx, "reporting the address from the result",
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.WaitVisible(chromedp.CSS(address)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(address)+`).parentElement.querySelector("button.report").click()`),
		chromedp.WaitVisible(chromedp.CSS("#issue-description")),
	)
	form, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({item: document.getElementById("issue-item").textContent, subject: document.getElementById("issue-subject").value})`))
	if !strings.Contains(form["item"], "310115-PSB-RK01-006") || !strings.Contains(form["item"], "psb") || form["subject"] != "310115198503120012" {
		t.Errorf("the report form is about %q, subject %q; want 310115-PSB-RK01-006 of psb about 310115198503120012", form["item"], form["subject"])
	}
	step(t, ctx, "filing the objection",
		chromedp.SendKeys(chromedp.CSS("#issue-description"), "The applicant moved in 2025; the address on file is the old one."),
		chromedp.SendKeys(chromedp.CSS("#issue-suggested"), "上海市浦东新区世纪大道100号"),
		chromedp.Click(chromedp.CSS("#issue-submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById("issue-status").textContent.startsWith("Filed ")`),
	)
	filed, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("issue-status").textContent`))
	r := g.Post(g.Token("psb-console"), `{ dataIssues(status: OPEN) { id code subject suggestedValue filedBy } }`, nil)
	id := r.Str("dataIssues.0.id")
	if id == "" || !strings.Contains(filed, id) || !strings.Contains(filed, "OPEN") || !strings.Contains(filed, "psb") ||
		r.Str("dataIssues.0.code") != "310115-PSB-RK01-006" || r.Str("dataIssues.0.filedBy") != "online-hall" || r.Str("dataIssues.0.suggestedValue") != "上海市浦东新区世纪大道100号" {
		t.Errorf("the page says %q; psb's console lists %s", filed, r.Raw)
	}
}

// refusedObjectionShowsCode checks that a refused objection shows the gateway's error code.
func refusedObjectionShowsCode(t *testing.T, ctx context.Context) {
	t.Helper()
	// A refused objection shows the gateway's error code.
	step(t, ctx, "filing an objection about nobody",
		chromedp.Click(chromedp.CSS("#issue-cancel")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#result [data-path="citizen.name"]').parentElement.querySelector("button.report").click()`),
		chromedp.WaitVisible(chromedp.CSS("#issue-description")),
		chromedp.SetValue(chromedp.CSS("#issue-subject"), "12345"),
		chromedp.SendKeys(chromedp.CSS("#issue-description"), "Not a subject."),
		chromedp.Click(chromedp.CSS("#issue-submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById("issue-status").textContent.startsWith("Not filed: BAD_USER_INPUT")`),
		chromedp.Click(chromedp.CSS("#issue-cancel")),
	)
}

// nestedObjectReportedAsItself reports a nested enterprise's name about the enterprise, not about 张伟.
func nestedObjectReportedAsItself(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	// A nested object is about itself: an enterprise of 张伟's is reported with its own
	// credit code, which the query selected, not with 张伟's ID number.
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { enterprises { creditCode name } } }`)
	step(t, ctx, "reporting a nested enterprise's name",
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.WaitVisible(chromedp.CSS(`#result [data-path="citizen.enterprises.0.name"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#result [data-path="citizen.enterprises.0.name"]').parentElement.querySelector("button.report").click()`),
		chromedp.WaitVisible(chromedp.CSS("#issue-description")),
	)
	want := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { enterprises { creditCode } } }`, nil).Str("citizen.enterprises.0.creditCode")
	form, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({item: document.getElementById("issue-item").textContent, subject: document.getElementById("issue-subject").value})`))
	if want == "" || form["subject"] != want || !strings.Contains(form["item"], "310115-AMR-QY01-002") {
		t.Errorf("the enterprise's name is reported as %q about %q, want 310115-AMR-QY01-002 about %q", form["item"], form["subject"], want)
	}
	step(t, ctx, "closing the form", chromedp.Click(chromedp.CSS("#issue-cancel")))
}

// sealedAnswerVerified asks for a sealed answer, which the page verifies and lists.
func sealedAnswerVerified(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	// Seal: the page asks for it, verifies it and lists what it attests.
	typeQuery(t, ctx, `{ citizen(idNumber: "310115198503120012") { name householdAddress } }`)
	step(t, ctx, "running a sealed query",
		chromedp.Click(chromedp.CSS("#seal")),
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.Poll[chromedp.Void](`document.getElementById("seal-verdict") && document.getElementById("seal-verdict").dataset.valid === "true"`),
	)
	shown, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({
		verdict: document.getElementById("seal-verdict").textContent,
		values: [...document.querySelectorAll("#seal-values li")].map((l) => l.textContent).join("\n"),
		details: document.querySelector("#seal-panel dl").textContent,
		answer: document.getElementById("seal-answer").value,
	})`))
	if !strings.HasPrefix(shown["verdict"], "Seal OK") || !strings.Contains(shown["values"], `data.citizen.name = "张伟"`) ||
		!strings.Contains(shown["values"], `data.citizen.householdAddress = "`) || !strings.Contains(shown["details"], "online-hall") {
		t.Errorf("the seal panel shows %q", shown)
	}
	// The answer the page verified is the gateway's sealed answer, as `gateway seal verify` sees it.
	if _, err := seal.Verify([]byte(shown["answer"]), sealKey(g)); err != nil {
		t.Errorf("the page's answer does not verify in Go: %v", err)
	}
}

// savedSealVerifies saves the sealed answer from the page and verifies it with `gateway seal verify`.
func savedSealVerifies(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	// Saved from the page, the answer verifies with `gateway seal verify`, as a clerk
	// keeps it with the case file (docs/guide-online-hall.md).
	dir := t.TempDir()
	step(t, ctx, "saving the sealed answer",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
			return err
		}),
		chromedp.Click(chromedp.CSS("#seal-save")),
	)
	var saved []string
	for deadline := time.Now().Add(10 * time.Second); len(saved) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		saved, _ = filepath.Glob(filepath.Join(dir, "answer-*.json"))
	}
	if len(saved) != 1 {
		t.Fatalf("saving the answer left %v in the download directory", saved)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"seal", "verify", saved[0], "--data", g.Cfg.DataDir}, os.Getenv, &out); err != nil || !strings.Contains(out.String(), `data.citizen.name = "张伟"`) {
		t.Errorf("the saved answer: %v\n%s", err, out.String())
	}
}

// changedCharacterFailsSeal changes one character of the sealed answer: the page and Go both refuse it.
func changedCharacterFailsSeal(t *testing.T, ctx context.Context, g *e2e.Gateway) {
	t.Helper()
	step(t, ctx, "changing one character of the sealed answer",
		chromedp.Click(chromedp.CSS("#seal-tamper")),
		chromedp.Poll[chromedp.Void](`document.getElementById("seal-verdict").dataset.valid === "false"`),
	)
	tampered, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({verdict: document.getElementById("seal-verdict").textContent, answer: document.getElementById("seal-answer").value})`))
	if !strings.HasPrefix(tampered["verdict"], "Seal INVALID") || strings.Contains(tampered["answer"], `"张伟"`) {
		t.Errorf("after one changed character the page shows %q for\n%s", tampered["verdict"], tampered["answer"])
	}
	if _, err := seal.Verify([]byte(tampered["answer"]), sealKey(g)); !errors.Is(err, seal.ErrBadSignature) {
		t.Errorf("the changed answer in Go: %v, want ErrBadSignature", err)
	}
}
