package e2e

// Isolation between callers: many consumers and purposes ask for the same people at the
// same time, through one shared record cache, and every answer is checked against the
// decision the policy and the demo catalogue (docs/architecture.md) give for its own
// caller. The cache holds department records, never a caller's view, so a view can only
// leak if policy were applied before the cache or state crossed requests; run it under
// -race as well.

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// access is what a caller gets of one field.
type access int

const (
	full access = iota
	masked
	denied
)

func (a access) String() string { return [...]string{"full", "masked", "denied"}[a] }

// isoPerson is a fixture citizen's values, full and masked.
type isoPerson struct {
	id, name, nameMasked, birth, birthYear, address, addressLeak, phone, gender string
}

var (
	isoZhang = isoPerson{dataset.ZhangWei, "张伟", "张*", "1985-03-12", "1985",
		"上海市浦东新区陆家嘴街道银城中路168弄3号1202室", "银城中路", "13812345678", "MALE"}
	isoLi = isoPerson{dataset.LiNa, "李娜", "李*", "1990-01-01", "1990",
		"上海市浦东新区花木街道锦绣路1001弄12号502室", "锦绣路", "13987654321", "FEMALE"}
)

// citizenView is a caller's access to each selected citizen field.
type citizenView struct {
	idNumber, name, birthDate, householdAddress, gender, phone, socialInsurance access
}

// The views of the demo catalogue: PSB's personal items are conditional with masks,
// gender conditional without one, phone not shared; social insurance is HRSS's and
// conditional without masks.
var (
	viewAll      = citizenView{full, full, full, full, full, full, full}               // the citizen themself
	viewMasked   = citizenView{masked, masked, masked, masked, denied, denied, denied} // no grant
	viewHall     = citizenView{full, full, full, full, denied, denied, full}           // online-hall's grant
	viewSupervis = citizenView{full, full, masked, masked, denied, denied, denied}
	viewPSB      = citizenView{full, full, full, full, full, full, denied} // owner of the registry
	viewHRSS     = citizenView{masked, masked, masked, masked, denied, denied, full}
)

// isoCaller is one caller and the decisions it must get.
type isoCaller struct {
	name    string
	token   string
	zhang   citizenView
	li      citizenView
	content access // E3's dishonesty listing's content (credit, conditional)
	insured access // E1's insuredEmployees (hrss, conditional)
}

const isoQuery = `query($a: ID!, $b: ID!) {
  a: citizen(idNumber: $a) { idNumber name birthDate householdAddress gender phone socialInsurance { insuranceType } }
  b: citizen(idNumber: $b) { idNumber name birthDate householdAddress gender phone socialInsurance { insuranceType } }
  cr: creditRecords(subject: "91310115MA1K4C7D24") { title content }
  e: enterprise(creditCode: "91310115MA1FL0AB0P") { name insuredEmployees }
}`

// checkCitizen returns every way the answer at alias departs from the view of p.
func checkCitizen(r Resp, alias string, p isoPerson, v citizenView) []string {
	var bad []string
	field := func(name string, a access, fullV, maskedV string, leak string) {
		path := alias + "." + name
		got, isStr := r.Get(path).(string)
		switch a {
		case full:
			if got != fullV {
				bad = append(bad, fmt.Sprintf("%s = %q, want %q in full", path, got, fullV))
			}
		case masked:
			if got != maskedV {
				bad = append(bad, fmt.Sprintf("%s = %q, want masked %q", path, got, maskedV))
			}
		case denied:
			if isStr || r.Get(path) != nil {
				bad = append(bad, fmt.Sprintf("%s = %v, want null", path, r.Get(path)))
			}
			if e := r.ErrorAt(path); e == nil || e.Extensions["code"] != "FORBIDDEN_FIELD" {
				bad = append(bad, path+": no FORBIDDEN_FIELD error")
			}
		}
		if a != full && leak != "" && bytes.Contains(r.Raw, []byte(leak)) {
			bad = append(bad, fmt.Sprintf("%s is %s but %q is in the raw response", path, a, leak))
		}
	}
	maskedID := p.id[:6] + "********" + p.id[14:]
	field("idNumber", v.idNumber, p.id, maskedID, p.id)
	field("name", v.name, p.name, p.nameMasked, p.name)
	field("birthDate", v.birthDate, p.birth, p.birthYear, p.birth)
	field("householdAddress", v.householdAddress, p.address, "上海市浦东新区", p.addressLeak)
	field("gender", v.gender, p.gender, "", `"`+p.gender+`"`)
	field("phone", v.phone, p.phone, "", p.phone)
	si := alias + ".socialInsurance"
	switch v.socialInsurance {
	case full:
		if r.Str(si+".0.insuranceType") != "PENSION" {
			bad = append(bad, si+": want the pension in full")
		}
	default:
		if r.Get(si) != nil || r.ErrorAt(si) == nil || r.ErrorAt(si).Extensions["owner"] != "hrss" {
			bad = append(bad, si+": want null with FORBIDDEN_FIELD naming hrss")
		}
	}
	return bad
}

// checkIso returns every way an answer departs from its caller's decisions.
func checkIso(r Resp, c isoCaller, swapped bool) []string {
	if r.Status != http.StatusOK {
		return []string{fmt.Sprintf("status %d", r.Status)}
	}
	first, second := isoZhang, isoLi
	vFirst, vSecond := c.zhang, c.li
	if swapped {
		first, second, vFirst, vSecond = isoLi, isoZhang, c.li, c.zhang
	}
	bad := checkCitizen(r, "a", first, vFirst)
	bad = append(bad, checkCitizen(r, "b", second, vSecond)...)

	recs, _ := r.Get("cr").([]any)
	found := false
	for i := range recs {
		if r.Str(fmt.Sprintf("cr.%d.title", i)) != "严重违法失信名单" {
			continue
		}
		found = true
		path := fmt.Sprintf("cr.%d.content", i)
		switch c.content {
		case full:
			if !strings.Contains(r.Str(path), "未依法办理注销登记") {
				bad = append(bad, path+": want the content in full")
			}
		default:
			if r.Get(path) != nil || r.ErrorAt(path) == nil {
				bad = append(bad, path+": want null with FORBIDDEN_FIELD")
			}
		}
	}
	if !found {
		bad = append(bad, "E3's dishonesty listing is missing (its title is unconditional)")
	}
	if c.content != full && bytes.Contains(r.Raw, []byte("拒不履行")) {
		bad = append(bad, "the dishonesty content leaks into the raw response")
	}
	switch c.insured {
	case full:
		if _, ok := r.Get("e.insuredEmployees").(float64); !ok {
			bad = append(bad, "e.insuredEmployees: want a number")
		}
	default:
		if r.Get("e.insuredEmployees") != nil || r.ErrorAt("e.insuredEmployees") == nil {
			bad = append(bad, "e.insuredEmployees: want null with FORBIDDEN_FIELD")
		}
	}
	if r.Str("e.name") != "上海浦江智联科技有限公司" {
		bad = append(bad, "e.name is unconditional")
	}
	// Nothing but FORBIDDEN_FIELD errors: no source failure hides a decision.
	for _, e := range r.Errors {
		if e.Extensions["code"] != "FORBIDDEN_FIELD" {
			bad = append(bad, fmt.Sprintf("unexpected error %v: %s", e.Extensions["code"], e.Message))
		}
	}
	return bad
}

// unlimited lifts every consumer's rate limit: this test is about isolation, and the
// playground's and citizens' limits would refuse its volume.
func unlimited(c *config.Config) {
	for i := range c.Consumers {
		c.Consumers[i].RateLimit = &config.Rate{PerSecond: 1e6, Burst: 1e6}
		c.Consumers[i].ConsumerRateLimit = &config.Rate{PerSecond: 1e6, Burst: 1e6}
	}
}

// TestIsolationConcurrentCallers: 8 callers × 25 requests at once, for the same people,
// through one cache warmed by the PSB's own console (which reads everything); each answer
// matches its own caller's decisions, byte for byte free of what it must not see.
func TestIsolationConcurrentCallers(t *testing.T) {
	g := Start(t, unlimited)
	callers := []isoCaller{
		{"playground", g.Token("playground"), viewMasked, viewMasked, denied, denied},
		{"online-hall", g.Token("online-hall"), viewHall, viewHall, full, denied},
		{"online-hall for marketing", g.TokenWithPurpose("online-hall", "marketing"), viewMasked, viewMasked, denied, denied},
		{"supervision-platform", g.Token("supervision-platform"), viewSupervis, viewSupervis, full, full},
		{"ipudong-portal as 张伟", g.Token("ipudong-portal", dataset.ZhangWei), viewAll, viewMasked, denied, denied},
		{"ipudong-portal as 李娜", g.Token("ipudong-portal", dataset.LiNa), viewMasked, viewAll, denied, denied},
		{"psb-console", g.Token("psb-console"), viewPSB, viewPSB, denied, denied},
		{"hrss-console", g.Token("hrss-console"), viewHRSS, viewHRSS, denied, full},
	}
	vars := func(swapped bool) map[string]any {
		if swapped {
			return map[string]any{"a": dataset.LiNa, "b": dataset.ZhangWei}
		}
		return map[string]any{"a": dataset.ZhangWei, "b": dataset.LiNa}
	}

	// The most dangerous order first: the owner's full view loads the shared records.
	g.Sims.PSB.Reset()
	warm := g.Post(callers[6].token, isoQuery, vars(false))
	if bad := checkIso(warm, callers[6], false); len(bad) > 0 {
		t.Fatalf("warm-up as psb-console: %v\n%s", bad, warm.Raw)
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	const perCaller, workers = 25, 5
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := map[string][]string{}
	answered := 0
	for _, c := range callers {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < perCaller/workers; i++ {
					swapped := (w+i)%2 == 1
					res, err := PostFrom(client, g.Srv.URL, c.token, isoQuery, vars(swapped))
					var bad []string
					if err != nil {
						bad = []string{err.Error()}
					} else {
						bad = checkIso(res, c, swapped)
					}
					mu.Lock()
					answered++
					if len(bad) > 0 && len(failures[c.name]) < 5 {
						failures[c.name] = append(failures[c.name], fmt.Sprintf("%v\n\t%.1500s", bad, res.Raw))
					}
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	for name, fs := range failures {
		for _, f := range fs {
			t.Errorf("%s: %s", name, f)
		}
	}
	if answered != len(callers)*perCaller {
		t.Errorf("%d answers, want %d", answered, len(callers)*perCaller)
	}
	// One record per person, loaded once by the owner's request, served to everyone.
	if n := g.Sims.PSB.Count("QueryPerson"); n != 2 {
		t.Errorf("PSB calls for 2 people and %d requests: %d, want 2 (the cache is shared)", answered+1, n)
	}
	t.Logf("%d concurrent answers from %d callers checked; PSB calls: %d", answered, len(callers), g.Sims.PSB.Count("QueryPerson"))
}
