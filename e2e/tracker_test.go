package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/legacysim/dataset"
)

const trackerQuery = `query($first: Int, $after: String) { myDataAccess(first: $first, after: $after) {
	totalCount pageInfo { hasNextPage endCursor }
	edges { cursor node { at consumer consumerDescription purpose purposeDescription
		items { code field owner decision grantId sharingRequestId } } } } }`

type trackerAccess struct {
	Consumer            string
	ConsumerDescription *string
	Purpose             *string
	Items               []struct {
		Code, Field, Owner, Decision string
		GrantID                      *string
	}
}

func trackerOf(t *testing.T, r Resp) (int, []trackerAccess) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("myDataAccess: %s", r.Raw)
	}
	var d struct {
		MyDataAccess struct {
			TotalCount int
			Edges      []struct{ Node trackerAccess }
		}
	}
	b, _ := json.Marshal(r.Data)
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	out := make([]trackerAccess, len(d.MyDataAccess.Edges))
	for i, e := range d.MyDataAccess.Edges {
		out[i] = e.Node
	}
	return d.MyDataAccess.TotalCount, out
}

// 张伟 sees the online hall's read of his name and social insurance, with its purpose
// and grant; his own reads are not listed; 李娜 sees none of it, and a token that is not
// a citizen's gets CITIZEN_ONLY.
func TestCitizenDataTracker(t *testing.T) {
	g := Start(t)
	hall := g.Token("online-hall")
	r := g.Post(hall, `query($id: ID!) { citizen(idNumber: $id) { name socialInsurance { insuranceType status } } }`,
		map[string]any{"id": dataset.ZhangWei})
	if len(r.Errors) > 0 {
		t.Fatalf("online hall read: %s", r.Raw)
	}
	zhang := g.Token("ipudong-portal", dataset.ZhangWei)
	// His own reading through the portal is not someone else's access.
	g.Post(zhang, `query($id: ID!) { citizen(idNumber: $id) { name birthDate } }`, map[string]any{"id": dataset.ZhangWei})

	r = g.Post(zhang, trackerQuery, nil)
	total, accesses := trackerOf(t, r)
	if total != 1 || len(accesses) != 1 {
		t.Fatalf("张伟's tracker has %d accesses (%d shown), want the online hall's one: %s", total, len(accesses), r.Raw)
	}
	a := accesses[0]
	if a.Consumer != "online-hall" || a.ConsumerDescription == nil || !strings.Contains(*a.ConsumerDescription, "Online service hall") ||
		a.Purpose == nil || *a.Purpose != "administrative-approval" {
		t.Errorf("access %+v: want the online hall with its description and purpose", a)
	}
	want := map[string]string{"Citizen.name": "psb", "SocialInsurance.insuranceType": "hrss", "SocialInsurance.status": "hrss"}
	for _, it := range a.Items {
		if owner, ok := want[it.Field]; ok && owner == it.Owner && it.Decision == "ALLOW" && it.GrantID != nil && *it.GrantID == "CFG-online-hall-1" {
			delete(want, it.Field)
		}
	}
	if len(want) > 0 {
		t.Errorf("items %+v lack %v (allowed under the grant CFG-online-hall-1)", a.Items, want)
	}
	for _, leak := range []string{"svc-online-hall", "test-user", dataset.LiNa} {
		if strings.Contains(string(r.Raw), leak) {
			t.Errorf("the tracker shows %q: %s", leak, r.Raw)
		}
	}

	// 李娜's token reads her own tracker only: nothing about 张伟.
	r = g.Post(g.Token("ipudong-portal", dataset.LiNa), trackerQuery, nil)
	if total, _ := trackerOf(t, r); total != 0 || strings.Contains(string(r.Raw), "online-hall") {
		t.Errorf("李娜's tracker: %s", r.Raw)
	}
	for _, consumer := range []string{"online-hall", "cio-console", "psb-console"} {
		r = g.Post(g.Token(consumer), trackerQuery, nil)
		if e := r.ErrorAt("myDataAccess"); e == nil || e.Extensions["code"] != "CITIZEN_ONLY" {
			t.Errorf("%s asking for a tracker: %s", consumer, r.Raw)
		}
	}
}

// An access for a confidential purpose stays out of the tracker until its disclosure
// and is listed for the CIO office and the owner's auditors; other callers cannot list
// withholdings.
func TestTrackerWithholdsConfidentialPurposes(t *testing.T) {
	g := Start(t)
	inv := g.TokenWithPurpose("supervision-platform", "case-investigation")
	if r := g.Post(inv, `query($id: ID!) { citizen(idNumber: $id) { name } }`, map[string]any{"id": dataset.ZhangWei}); r.Status != 200 {
		t.Fatalf("investigation read: %s", r.Raw)
	}
	g.Post(g.Token("online-hall"), `query($id: ID!) { citizen(idNumber: $id) { name } }`, map[string]any{"id": dataset.ZhangWei})

	r := g.Post(g.Token("ipudong-portal", dataset.ZhangWei), trackerQuery, nil)
	total, accesses := trackerOf(t, r)
	if total != 1 || accesses[0].Consumer != "online-hall" || strings.Contains(string(r.Raw), "investigation") {
		t.Errorf("the tracker shows the confidential access or misses the other: %s", r.Raw)
	}

	const withheld = `{ withheldDataAccess { totalCount items { consumer purpose owners disclosedAt } } }`
	for _, consumer := range []string{"cio-console", "psb-console"} {
		r = g.Post(g.Token(consumer), withheld, nil)
		if r.Get("withheldDataAccess.totalCount") != 1.0 || r.Str("withheldDataAccess.items.0.purpose") != "case-investigation" ||
			r.Str("withheldDataAccess.items.0.disclosedAt") == "" || strings.Contains(string(r.Raw), dataset.ZhangWei) {
			t.Errorf("%s's withholdings: %s", consumer, r.Raw)
		}
	}
	// HRSS's auditor: the access touched none of its codes.
	if r = g.Post(g.Token("hrss-console"), withheld, nil); r.Get("withheldDataAccess.totalCount") != 0.0 {
		t.Errorf("hrss-console's withholdings: %s", r.Raw)
	}
	for _, tok := range []string{g.Token("online-hall"), g.Token("ipudong-portal", dataset.ZhangWei)} {
		if r = g.Post(tok, withheld, nil); r.ErrorAt("withheldDataAccess") == nil || r.ErrorAt("withheldDataAccess").Extensions["code"] != "FORBIDDEN" {
			t.Errorf("withholdings for a non-auditor: %s", r.Raw)
		}
	}
}

func TestTrackerPagesAndValidates(t *testing.T) {
	g := Start(t)
	for _, consumer := range []string{"online-hall", "supervision-platform", "online-hall"} {
		g.Post(g.Token(consumer), `query($id: ID!) { citizen(idNumber: $id) { name } }`, map[string]any{"id": dataset.ZhangWei})
	}
	zhang := g.Token("ipudong-portal", dataset.ZhangWei)
	seen := map[string]bool{}
	var after any
	for page := 0; ; page++ {
		r := g.Post(zhang, trackerQuery, map[string]any{"first": 1, "after": after})
		total, accesses := trackerOf(t, r)
		if total != 3 || len(accesses) != 1 {
			t.Fatalf("page %d: %s", page, r.Raw)
		}
		cur := r.Str("myDataAccess.edges.0.cursor")
		if seen[cur] {
			t.Fatalf("page %d repeats %s", page, cur)
		}
		seen[cur] = true
		if r.Get("myDataAccess.pageInfo.hasNextPage") != true {
			break
		}
		after = r.Str("myDataAccess.pageInfo.endCursor")
	}
	if len(seen) != 3 {
		t.Errorf("pages gave %d accesses, want 3", len(seen))
	}
	for _, vars := range []map[string]any{{"first": 0}, {"first": 101}, {"after": "not-a-cursor!"}} {
		if r := g.Post(zhang, trackerQuery, vars); r.ErrorAt("myDataAccess") == nil || r.ErrorAt("myDataAccess").Extensions["code"] != "BAD_USER_INPUT" {
			t.Errorf("%v: %s", vars, r.Raw)
		}
	}
}

// A purpose is withheld from the tracker only for the consumers the configuration names
// for it: a token of any other consumer that claims a confidential purpose (the
// playground's, here, claiming an investigation) does not hide its reads from the
// citizen, and is not counted among the withheld accesses either.
func TestTrackerWithholdsOnlyTheConsumersOfAConfidentialPurpose(t *testing.T) {
	g := Start(t)
	claim := g.TokenWithPurpose("playground", "case-investigation")
	if r := g.Post(claim, `query($id: ID!) { citizen(idNumber: $id) { name } }`, map[string]any{"id": dataset.ZhangWei}); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("the playground's read: %s", r.Raw)
	}
	total, accesses := trackerOf(t, g.Post(g.Token("ipudong-portal", dataset.ZhangWei), trackerQuery, nil))
	if total != 1 || accesses[0].Consumer != "playground" {
		t.Errorf("a read hidden from the citizen by a claimed confidential purpose: %d %+v", total, accesses)
	}
	if r := g.Post(g.Token("cio-console"), `{ withheldDataAccess { totalCount } }`, nil); r.Get("withheldDataAccess.totalCount") != 0.0 {
		t.Errorf("withheld: %s", r.Raw)
	}
}
