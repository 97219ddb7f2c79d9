package e2e

import (
	"strings"
	"testing"
	"time"
)

// An objection filed by the online hall for its approval purpose (whose grant opens 张伟's
// household address and ID number in full) must not show those values in full to the
// hall's tokens for another purpose: grants are bound to consumer and purpose
// (docs/SECURITY.md, T1), and objections are decided for each reader (T10, "Objections
// as a second way to read").
func TestObjectionIsDecidedForTheReadersPurpose(t *testing.T) {
	g := Start(t)
	hall := g.Token("online-hall")
	in := map[string]any{"code": "310115-PSB-RK01-006", "subject": "310115198503120012",
		"description": "moved in 2025", "suggestedValue": "上海市浦东新区世纪大道100号"}
	if r := g.Post(hall, fileIssue, map[string]any{"in": in}); len(r.Errors) > 0 || r.Str("reportDataIssue.suggestedValue") != "上海市浦东新区世纪大道100号" {
		t.Fatalf("reportDataIssue: %s", r.Raw)
	}
	// The same consumer, another purpose: the query path masks both.
	other := g.TokenWithPurpose("online-hall", "marketing")
	q := g.Post(other, `{ citizen(idNumber: "310115198503120012") { idNumber householdAddress } }`, nil)
	if q.Str("citizen.householdAddress") == "上海市浦东新区世纪大道100号" || q.Str("citizen.idNumber") == "310115198503120012" {
		t.Fatalf("the query path itself opens the values to the other purpose: %s", q.Raw)
	}
	r := g.Post(other, `{ dataIssues { subject suggestedValue filedBy } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("dataIssues: %s", r.Raw)
	}
	for _, v := range []string{"世纪大道100号", "310115198503120012"} {
		if strings.Contains(string(r.Raw), v) {
			t.Errorf("online-hall for marketing reads %q through an objection: %s", v, r.Raw)
		}
	}
	// The filing purpose still sees what it filed.
	if r := g.Post(hall, `{ dataIssues { subject suggestedValue } }`, nil); r.Str("dataIssues.0.suggestedValue") != "上海市浦东新区世纪大道100号" || r.Str("dataIssues.0.subject") != "310115198503120012" {
		t.Errorf("the filer's own view: %s", r.Raw)
	}
}

// A watch list must not tell the watcher when another consumer read a watched subject:
// extensions.sources hides cache hits and ages from everyone but the owner for that
// reason (docs/SECURITY.md, T10 "extensions.sources tells who looked up whom"). The
// re-check that another consumer's read prompts (docs/notices.md) used to stamp the
// watch's checkedAt, so polling watchList timed every read of a watched person or
// enterprise by anybody, to within the re-check interval.
func TestWatchListRevealsNoOtherConsumersRead(t *testing.T) {
	g := Start(t)
	const subject = "91310115607223817N"
	// watchThenDishonesty takes the baseline by a scheduled pass and adds a record, so
	// that the re-check prompted by the hall's read below leaves a notice: proof that
	// the re-check ran.
	sup := watchThenDishonesty(t, g, "SX-TEST-0009", subject, "上海东岸食品有限公司", "浦信〔2026〕99号", "拒不履行生效判决")
	list := `{ watchList { subject checkedAt } }`
	before := g.Post(sup, list, nil).Str("watchList.0.checkedAt")
	if before == "" {
		t.Fatalf("no baseline: %s", g.Post(sup, list, nil).Raw)
	}
	time.Sleep(20 * time.Millisecond)
	if r := g.Post(g.Token("online-hall"), `{ enterprise(creditCode: "`+subject+`") { creditRecords { id } } }`, nil); !strings.Contains(string(r.Raw), "SX-TEST-0009") {
		t.Fatalf("the hall's read: %s", r.Raw)
	}
	WaitUntil(t, "the re-check's notice", 5*time.Second, func() bool {
		return len(g.Post(sup, `{ notices(status: POLL) { id } }`, nil).Get("notices").([]any)) > 0
	})
	if after := g.Post(sup, list, nil).Str("watchList.0.checkedAt"); after != before {
		t.Errorf("watchList.checkedAt moved from %s to %s when another consumer read the subject", before, after)
	}
}
