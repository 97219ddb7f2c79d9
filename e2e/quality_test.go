package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/quality"
	"pudong.gov.cn/gateway/sharing"
	"pudong.gov.cn/gateway/store"
)

const issueFields = `id kind code field department subject description suggestedValue filedBy status createdAt deadline resolvedAt resolvedBy note`

// The objection loop on the demo: the online hall objects to 张伟's household address,
// the objection reaches the PSB's console with the sharing requests' working-day
// deadline, the PSB answers, and the hall sees the answer. Nobody else may answer, an
// answer is final, and what is stored is what the filer may see.
func TestDataIssueObjectionLoop(t *testing.T) {
	g := Start(t)
	hall, psb := g.Token("online-hall"), g.Token("psb-console")
	id := fileAddressObjection(t, g, hall)
	ownerAnswersObjection(t, g, id, hall, psb)
	objectionKeepsFilersMasks(t, g, psb)
	objectionsRefusedOrOwn(t, g, hall)
	overdueObjectionInStatistics(t, g, psb)
}

// fileIssue is the mutation that files a data issue.
const fileIssue = `mutation($in: DataIssueInput!) { reportDataIssue(input: $in) { ` + issueFields + ` } }`

// fileAddressObjection has the hall object to 张伟's household address and
// checks the issue it gets back, due the sharing requests' working days later.
func fileAddressObjection(t *testing.T, g *Gateway, hall string) string {
	t.Helper()
	in := map[string]any{"code": "310115-PSB-RK01-006", "subject": "310115198503120012",
		"description":    "The applicant moved in 2025; the household address on file is the old one.",
		"suggestedValue": "上海市浦东新区世纪大道100号"}
	r := g.Post(hall, fileIssue, map[string]any{"in": in})
	if len(r.Errors) > 0 || r.Str("reportDataIssue.status") != "OPEN" || r.Str("reportDataIssue.department") != "psb" ||
		r.Str("reportDataIssue.field") != "Citizen.householdAddress" || r.Str("reportDataIssue.subject") != "310115198503120012" ||
		r.Str("reportDataIssue.suggestedValue") != "上海市浦东新区世纪大道100号" || r.Str("reportDataIssue.filedBy") != "online-hall" {
		t.Fatalf("reportDataIssue: %s", r.Raw)
	}
	id := r.Str("reportDataIssue.id")
	created, _ := time.Parse(time.RFC3339, r.Str("reportDataIssue.createdAt"))
	deadline, _ := time.Parse(time.RFC3339, r.Str("reportDataIssue.deadline"))
	if want := sharing.AddWorkingDays(created, g.Cfg.Sharing.DeadlineWorkingDays); !deadline.Equal(want.Truncate(time.Second)) && !deadline.Equal(want) {
		t.Errorf("deadline %s, want %s working days after %s (%s)", deadline, "5", created, want)
	}
	return id
}

// ownerAnswersObjection checks that the PSB's console, and not the AMR's, lists
// the objection, that only the owner's approver answers it, once, and that the
// filer sees the answer.
func ownerAnswersObjection(t *testing.T, g *Gateway, id, hall, psb string) {
	t.Helper()
	// The PSB's console lists it; the AMR's does not.
	r := g.Post(psb, `{ dataIssues(status: OPEN) { id kind subject description } }`, nil)
	if r.Str("dataIssues.0.id") != id || r.Str("dataIssues.0.kind") != "OBJECTION" {
		t.Fatalf("psb's console: %s", r.Raw)
	}
	if r := g.Post(g.Token("amr-console"), `{ dataIssues { id } }`, nil); strings.Contains(string(r.Raw), id) {
		t.Errorf("amr sees psb's objection: %s", r.Raw)
	}

	// Only the owner's approver answers.
	answer := `mutation($id: ID!, $o: DataIssueOutcome!) { resolveDataIssue(id: $id, outcome: $o, note: "Corrected from the 2025 move registration.") { ` + issueFields + ` } }`
	for _, tok := range []string{hall, g.Token("amr-console")} {
		r = g.Post(tok, answer, map[string]any{"id": id, "o": "CORRECTED"})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("a non-owner answered: %s", r.Raw)
		}
	}
	// A caller without the approver role is refused by the schema's @role, naming it.
	if r = g.Post(hall, answer, map[string]any{"id": id, "o": "CORRECTED"}); len(r.Errors) == 0 || r.Errors[0].Extensions["roles"] == nil {
		t.Errorf("the hall is not refused by @role: %s", r.Raw)
	}
	r = g.Post(psb, answer, map[string]any{"id": id, "o": "CORRECTED"})
	if r.Str("resolveDataIssue.status") != "CORRECTED" || !strings.HasPrefix(r.Str("resolveDataIssue.resolvedBy"), "psb-console/") {
		t.Fatalf("resolve: %s", r.Raw)
	}
	if r := g.Post(psb, answer, map[string]any{"id": id, "o": "REJECTED"}); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "ALREADY_RESOLVED" {
		t.Errorf("an answer is final: %s", r.Raw)
	}
	if r := g.Post(psb, answer, map[string]any{"id": "DQ-20261204-NOPE", "o": "REJECTED"}); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("unknown id: %s", r.Raw)
	}

	// The filer sees the outcome.
	r = g.Post(hall, `{ dataIssues { id status note resolvedAt } }`, nil)
	if r.Str("dataIssues.0.id") != id || r.Str("dataIssues.0.status") != "CORRECTED" || !strings.Contains(r.Str("dataIssues.0.note"), "2025") {
		t.Errorf("the filer's view: %s", r.Raw)
	}
}

// objectionKeepsFilersMasks: the playground sees 张伟's name and ID masked, and
// its objection stores them masked.
func objectionKeepsFilersMasks(t *testing.T, g *Gateway, psb string) {
	t.Helper()
	// The playground sees 张伟's name and ID masked: the objection keeps them masked.
	r := g.Post(g.Token("playground"), fileIssue, map[string]any{"in": map[string]any{"code": "310115-PSB-RK01-002",
		"subject": "310115198503120012", "description": "wrong character", "suggestedValue": "张玮"}})
	if r.Str("reportDataIssue.subject") != "310115********0012" || r.Str("reportDataIssue.suggestedValue") != "张*" {
		t.Errorf("masked as the filer's policy masks: %s", r.Raw)
	}
	if r := g.Post(psb, `{ dataIssues(status: OPEN) { subject suggestedValue } }`, nil); strings.Contains(string(r.Raw), "张玮") || strings.Contains(string(r.Raw), "310115198503120012") {
		t.Errorf("a value beyond what the filer may see was stored: %s", r.Raw)
	}
}

// objectionsRefusedOrOwn checks refused objections, and that a citizen objects
// to their own data and sees only their own objections.
func objectionsRefusedOrOwn(t *testing.T, g *Gateway, hall string) {
	t.Helper()
	// Refusals: a NONE item, another citizen's data from the portal, bad input.
	for _, c := range []struct {
		tok  string
		in   map[string]any
		code string
	}{
		{hall, map[string]any{"code": "310115-PSB-RK01-007", "subject": "310115198503120012", "description": "x"}, "FORBIDDEN"},
		{g.Token("ipudong-portal", "310115199001010029"), map[string]any{"code": "310115-PSB-RK01-002", "subject": "310115198503120012", "description": "x"}, "FORBIDDEN"},
		{hall, map[string]any{"code": "310115-XXX", "subject": "310115198503120012", "description": "x"}, "BAD_USER_INPUT"},
		{hall, map[string]any{"code": "310115-PSB-RK01-002", "subject": "310115198503120013", "description": "x"}, "BAD_USER_INPUT"},
		{hall, map[string]any{"code": "310115-PSB-RK01-002", "subject": "310115198503120012", "description": "  "}, "BAD_USER_INPUT"},
		{hall, map[string]any{"code": "310115-PSB-RK01-002", "subject": "91310115MA1FL0AB0P", "description": "a name of an enterprise?"}, "BAD_USER_INPUT"},
	} {
		r := g.Post(c.tok, fileIssue, map[string]any{"in": c.in})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != c.code {
			t.Errorf("%v: want %s, got %s", c.in, c.code, r.Raw)
		}
	}
	// A citizen objects to their own data and sees only their own objections.
	li := g.Token("ipudong-portal", "310115199001010029")
	r := g.Post(li, fileIssue, map[string]any{"in": map[string]any{"code": "310115-PSB-RK01-002", "subject": "310115199001010029", "description": "my name is misspelt"}})
	if r.Str("reportDataIssue.subject") != "310115199001010029" {
		t.Errorf("self-service objection: %s", r.Raw)
	}
	if r := g.Post(g.Token("ipudong-portal", "310115198503120012"), `{ dataIssues { id } }`, nil); len(r.Get("dataIssues").([]any)) != 0 {
		t.Errorf("a citizen sees another citizen's objections: %s", r.Raw)
	}
}

// overdueObjectionInStatistics: an objection the PSB left past its deadline is
// overdue, for the PSB and in the CIO office's statistics, beside each
// department's shares of catalogue classes.
func overdueObjectionInStatistics(t *testing.T, g *Gateway, psb string) {
	t.Helper()
	db, err := quality.Open(t.Context(), "sqlite", filepath.Join(filepath.Dir(g.Cfg.Store.DSN), "quality.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := store.Micro(time.Now().AddDate(0, 0, -20))
	late := quality.Issue{Kind: quality.Objection, Code: "310115-PSB-RK01-004", Department: "psb", Subject: "310115199001010029",
		Description: "wrong birth date", FiledBy: "online-hall", Status: quality.StatusOpen, CreatedAt: old, Deadline: sharing.AddWorkingDays(old, 5)}
	if _, err := db.Insert(t.Context(), &late, ""); err != nil {
		t.Fatal(err)
	}
	if r := g.Post(psb, `{ dataIssues(status: OVERDUE) { id } }`, nil); r.Str("dataIssues.0.id") != late.ID {
		t.Errorf("overdue: %s", r.Raw)
	}
	stats := `{ sharingStats { department unconditionalShare conditionalShare dataQuality { objectionsReceived objectionsAnsweredOnTime objectionsOverdue objectionsCorrected findingsOpen findingsClosed } } }`
	r := g.Post(g.Token("cio-console"), stats, nil)
	byDept := map[string]map[string]any{}
	for _, d := range r.Get("sharingStats").([]any) {
		m := d.(map[string]any)
		byDept[m["department"].(string)] = m
	}
	want := map[string]any{"objectionsReceived": 4.0, "objectionsAnsweredOnTime": 1.0, "objectionsOverdue": 1.0, "objectionsCorrected": 1.0, "findingsOpen": 0.0, "findingsClosed": 0.0}
	for k, v := range want {
		if got := byDept["psb"]["dataQuality"].(map[string]any)[k]; got != v {
			t.Errorf("psb %s = %v, want %v: %s", k, got, v, r.Raw)
		}
	}
	for _, dept := range []string{"psb", "amr", "credit", "hrss"} {
		var unconditional, conditional, all float64
		for _, e := range g.Parts.Catalog.Entries(dept) {
			all++
			switch e.Class {
			case gateway.Unconditional:
				unconditional++
			case gateway.Conditional:
				conditional++
			}
		}
		if byDept[dept]["unconditionalShare"] != unconditional/all || byDept[dept]["conditionalShare"] != conditional/all {
			t.Errorf("%s's shares: %v and %v, want %v and %v", dept, byDept[dept]["unconditionalShare"], byDept[dept]["conditionalShare"], unconditional/all, conditional/all)
		}
	}
	if r := g.Post(psb, stats, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("statistics are the CIO office's: %s", r.Raw)
	}
}

// After one read of E5 that selects its legal representative, amr's console has the
// finding that the population registry does not know the representative; more reads do
// not repeat it, and the request did not wait for it.
func TestCrossSourceFindingOnTheDemo(t *testing.T) {
	g := Start(t)
	hall, amr := g.Token("online-hall"), g.Token("amr-console")
	q := `{ enterprise(creditCode: "91310115MA1HW2X39Q") { name legalRepresentativeName legalRepresentative { name } } }`
	r := g.Post(hall, q, nil)
	if r.Str("enterprise.name") == "" {
		t.Fatalf("E5: %s", r.Raw)
	}
	list := `{ dataIssues(kind: FINDING) { id code field department subject description filedBy status } }`
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = g.Post(amr, list, nil)
		if len(r.Get("dataIssues").([]any)) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Str("dataIssues.0.subject") != "91310115MA1HW2X39Q" || r.Str("dataIssues.0.field") != "Enterprise.legalRepresentativeName" ||
		r.Str("dataIssues.0.filedBy") != "gateway" || !strings.Contains(r.Str("dataIssues.0.description"), "not known") {
		t.Fatalf("the finding for amr: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), "310115199912310073") {
		t.Errorf("the finding names the personal value: %s", r.Raw)
	}
	for range 3 {
		g.Post(hall, q, nil)
	}
	time.Sleep(100 * time.Millisecond)
	if r := g.Post(amr, list, nil); len(r.Get("dataIssues").([]any)) != 1 {
		t.Errorf("a finding once per subject and item: %s", r.Raw)
	}
	if res, err := http.Get(g.Srv.URL + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), "gateway_findings_recorded_total 1") || !strings.Contains(string(b), "gateway_findings_dropped_total 0") {
			t.Errorf("findings metrics: %s", grepLines(string(b), "gateway_findings"))
		}
	}
	// Not for another department; the CIO office sees it beside the objections.
	if r := g.Post(g.Token("psb-console"), list, nil); len(r.Get("dataIssues").([]any)) != 0 {
		t.Errorf("psb sees amr's finding: %s", r.Raw)
	}
	if r := g.Post(g.Token("cio-console"), list, nil); len(r.Get("dataIssues").([]any)) != 1 {
		t.Errorf("the CIO office: %s", r.Raw)
	}
	// amr closes it; the CIO office's statistics count it open, then closed.
	stats := `{ sharingStats { department dataQuality { findingsOpen findingsClosed } } }`
	amrStats := func() string {
		r := g.Post(g.Token("cio-console"), stats, nil)
		for _, d := range r.Get("sharingStats").([]any) {
			if m := d.(map[string]any); m["department"] == "amr" {
				q := m["dataQuality"].(map[string]any)
				return fmt.Sprintf("%v/%v", q["findingsOpen"], q["findingsClosed"])
			}
		}
		return string(r.Raw)
	}
	if s := amrStats(); s != "1/0" {
		t.Errorf("amr findings open/closed %s, want 1/0", s)
	}
	r = g.Post(amr, `mutation($id: ID!) { resolveDataIssue(id: $id, outcome: CORRECTED, note: "representative re-registered") { status } }`, map[string]any{"id": r.Str("dataIssues.0.id")})
	if r.Str("resolveDataIssue.status") != "CORRECTED" {
		t.Fatalf("amr closes its finding: %s", r.Raw)
	}
	if s := amrStats(); s != "0/1" {
		t.Errorf("amr findings open/closed %s, want 0/1", s)
	}

	// A representative the registries agree on gives no finding.
	g.Post(hall, `{ enterprise(creditCode: "91310115MA1FL0AB0P") { legalRepresentative { name } } }`, nil)
	time.Sleep(100 * time.Millisecond)
	if r := g.Post(g.Token("cio-console"), list, nil); len(r.Get("dataIssues").([]any)) != 1 {
		t.Errorf("a finding without a disagreement: %s", r.Raw)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// An objection shows what it stores as each reader's policy shows the datum itself: a
// copy (the credit platform's copy of a person's ID number) is decided as its source,
// so the CIO office, which sees ID numbers masked, does not read one in full in an
// objection's suggested value, and a filer that sees them masked stores it masked.
func TestObjectionToACopyIsDecidedAsItsSource(t *testing.T) {
	g := Start(t)
	const zhangWei = "310115198503120012"
	in := map[string]any{"code": "310115-CREDIT-XY01-003", "subject": zhangWei,
		"description": "The record names the wrong person.", "suggestedValue": zhangWei}
	for _, filer := range []string{"supervision-platform", "playground"} {
		r := g.Post(g.Token(filer), fileIssue, map[string]any{"in": in})
		if len(r.Errors) > 0 {
			t.Fatalf("%s files: %s", filer, r.Raw)
		}
		if filer == "playground" && strings.Contains(string(r.Raw), zhangWei) {
			t.Errorf("the playground's objection stores an ID number it sees masked: %s", r.Raw)
		}
	}
	r := g.Post(g.Token("cio-console"), `{ dataIssues(kind: OBJECTION) { filedBy subject suggestedValue } }`, nil)
	if len(r.Get("dataIssues").([]any)) != 2 {
		t.Fatalf("the CIO office's list: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), zhangWei) {
		t.Errorf("the CIO office reads an ID number in full that it sees masked: %s", r.Raw)
	}
}

// A filer may see a value that the ID number it was filed under does not show it: the
// objection then stores the subject masked, and a reader with narrower access (the CIO
// office) still reads the suggested value only as its own policy shows it.
func TestObjectionUnderAMaskedSubjectKeepsTheReadersPolicy(t *testing.T) {
	g := Start(t, func(c *config.Config) {
		p := c.Consumer("playground")
		p.Grants = append(p.Grants, config.Grant{Purpose: p.Purpose, Codes: []string{"310115-PSB-RK01-006"}})
	})
	in := map[string]any{"code": "310115-PSB-RK01-006", "subject": "310115198503120012",
		"description": "Moved in 2025.", "suggestedValue": "上海市浦东新区世纪大道100号"}
	if r := g.Post(g.Token("playground"), fileIssue, map[string]any{"in": in}); len(r.Errors) > 0 || r.Str("reportDataIssue.subject") != "310115********0012" {
		t.Fatalf("the playground files: %s", r.Raw)
	}
	r := g.Post(g.Token("cio-console"), `{ dataIssues(kind: OBJECTION) { subject suggestedValue } }`, nil)
	if len(r.Get("dataIssues").([]any)) != 1 || strings.Contains(string(r.Raw), "世纪大道") {
		t.Errorf("the CIO office reads an address it sees masked: %s", r.Raw)
	}
}
