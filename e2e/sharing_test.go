package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/store"
)

// The whole sharing loop (docs/architecture.md, The sharing policy): denied → request →
// the wrong department cannot decide → the owner approves → the field opens for that
// purpose only → revoke → closed again.
func TestSharingLoop(t *testing.T) {
	g := Start(t)
	play := g.Token("playground")
	r := g.Post(play, sharingLoopQuery, nil)
	e := r.ErrorAt("citizen.gender")
	if e == nil || e.Extensions["requestable"] != true {
		t.Fatalf("gender is denied and requestable: %s", r.Raw)
	}
	code := e.Extensions["catalogCode"].(string)

	psbReq, hrssReq := requestGenderAndInsurance(t, g, play, code)
	nonOwnersCannotDecide(t, g, play, psbReq)
	grantID := ownerApprovesForOnePurpose(t, g, play, psbReq)
	onlyTheOwnerRevokes(t, g, play, grantID)
	cioSeesRequestsAndStatistics(t, g, play, hrssReq)
}

// sharingLoopQuery reads 张伟's gender, a CONDITIONAL item the playground is denied.
const sharingLoopQuery = `{ citizen(idNumber: "310115198503120012") { gender } }`

// requestGenderAndInsurance has the playground request code and an HRSS code:
// one request per owning department, listed for the requester and the owner;
// it returns the PSB's and the HRSS's request. NONE items and unknown codes are
// refused first, with every problem named.
func requestGenderAndInsurance(t *testing.T, g *Gateway, play, code string) (psbReq, hrssReq string) {
	t.Helper()
	// NONE items and unknown codes are refused with every problem named.
	r := g.Post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-007", "310115-XXX-1", "310115-PSB-RK01-003"], justification: "x"}) { id } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" ||
		!strings.Contains(r.Errors[0].Message, "RK01-007") || !strings.Contains(r.Errors[0].Message, "310115-XXX-1") {
		t.Fatalf("NONE and unknown codes: %s", r.Raw)
	}

	// One request per owning department.
	r = g.Post(play, `mutation($codes: [String!]!) { requestSharing(input: {codes: $codes, justification: "testing the developer portal"}) {
		id department status codes purpose deadline } }`, map[string]any{"codes": []string{code, "310115-HRSS-SB01-001"}})
	reqs, _ := r.Get("requestSharing").([]any)
	if len(reqs) != 2 || r.Str("requestSharing.0.status") != "PENDING" || r.Str("requestSharing.0.purpose") != "exploration" {
		t.Fatalf("requestSharing: %s", r.Raw)
	}
	for i := range reqs {
		switch r.Str("requestSharing." + string(rune('0'+i)) + ".department") {
		case "psb":
			psbReq = r.Str("requestSharing." + string(rune('0'+i)) + ".id")
		case "hrss":
			hrssReq = r.Str("requestSharing." + string(rune('0'+i)) + ".id")
		}
	}
	if psbReq == "" || hrssReq == "" {
		t.Fatalf("split by owner: %s", r.Raw)
	}

	// The requester sees its requests; the owner sees those addressed to it.
	if r := g.Post(play, `{ sharingRequests { id } }`, nil); len(r.Get("sharingRequests").([]any)) != 2 {
		t.Errorf("requester's list: %s", r.Raw)
	}
	if r := g.Post(g.Token("psb-console"), `{ sharingRequests(status: PENDING) { id } }`, nil); r.Str("sharingRequests.0.id") != psbReq || len(r.Get("sharingRequests").([]any)) != 1 {
		t.Errorf("owner's list: %s", r.Raw)
	}

	return psbReq, hrssReq
}

// nonOwnersCannotDecide: the wrong department cannot decide; nor can the requester.
func nonOwnersCannotDecide(t *testing.T, g *Gateway, play, psbReq string) {
	t.Helper()
	for _, tok := range []string{g.Token("hrss-console"), play} {
		r := g.Post(tok, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true) { status } }`, map[string]any{"id": psbReq})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("a non-owner decided: %s", r.Raw)
		}
	}

}

// ownerApprovesForOnePurpose: the owner approves, once; the field opens for that
// consumer and purpose only. It returns the grant.
func ownerApprovesForOnePurpose(t *testing.T, g *Gateway, play, psbReq string) string {
	t.Helper()
	q := sharingLoopQuery
	psb := g.Token("psb-console")
	r := g.Post(psb, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true, reason: "ok for the portal") {
		status decidedBy grant { id active codes } } }`, map[string]any{"id": psbReq})
	if r.Str("decideSharingRequest.status") != "APPROVED" || r.Get("decideSharingRequest.grant.active") != true {
		t.Fatalf("approve: %s", r.Raw)
	}
	grantID := r.Str("decideSharingRequest.grant.id")
	if r := g.Post(psb, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: false) { status } }`, map[string]any{"id": psbReq}); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "ALREADY_DECIDED" {
		t.Errorf("a decision is final: %s", r.Raw)
	}
	if r := g.Post(play, q, nil); r.Str("citizen.gender") != "MALE" {
		t.Errorf("after approval the field is open: %s", r.Raw)
	}
	if r := g.Post(g.TokenWithPurpose("playground", "another-purpose"), q, nil); r.ErrorAt("citizen.gender") == nil {
		t.Errorf("the grant is bound to its purpose: %s", r.Raw)
	}
	if r := g.Post(g.Token("supervision-platform"), q, nil); r.ErrorAt("citizen.gender") == nil {
		t.Errorf("the grant is bound to its consumer: %s", r.Raw)
	}

	return grantID
}

// onlyTheOwnerRevokes: revoking closes the field again at once; only the
// granting department may revoke.
func onlyTheOwnerRevokes(t *testing.T, g *Gateway, play, grantID string) {
	t.Helper()
	q, psb := sharingLoopQuery, g.Token("psb-console")
	if r := g.Post(g.Token("amr-console"), `mutation($id: ID!) { revokeGrant(id: $id) { id } }`, map[string]any{"id": grantID}); len(r.Errors) == 0 {
		t.Errorf("another department revoked: %s", r.Raw)
	}
	if r := g.Post(psb, `mutation($id: ID!) { revokeGrant(id: $id) { active revokedAt } }`, map[string]any{"id": grantID}); r.Get("revokeGrant.active") != false {
		t.Fatalf("revoke: %s", r.Raw)
	}
	if r := g.Post(play, q, nil); r.ErrorAt("citizen.gender") == nil {
		t.Errorf("after revocation the field is closed: %s", r.Raw)
	}

}

// cioSeesRequestsAndStatistics: the HRSS rejects its part; the CIO office sees
// both requests and the statistics, which are for it alone.
func cioSeesRequestsAndStatistics(t *testing.T, g *Gateway, play, hrssReq string) {
	t.Helper()
	g.Post(g.Token("hrss-console"), `mutation($id: ID!) { decideSharingRequest(id: $id, approve: false, reason: "no need") { status } }`, map[string]any{"id": hrssReq})
	cio := g.Token("cio-console")
	r := g.Post(cio, `{ sharingRequests { id status } sharingStats { department unconditional conditional notShared requestsReceived approved rejected answeredOnTime overdue } }`, nil)
	if len(r.Get("sharingRequests").([]any)) != 2 {
		t.Errorf("the CIO sees all requests: %s", r.Raw)
	}
	stats := map[string]map[string]any{}
	for _, s := range r.Get("sharingStats").([]any) {
		m := s.(map[string]any)
		stats[m["department"].(string)] = m
	}
	if p := stats["psb"]; p["conditional"] != 6.0 || p["notShared"] != 1.0 || p["approved"] != 1.0 || p["answeredOnTime"] != 1.0 {
		t.Errorf("psb stats: %v", p)
	}
	if h := stats["hrss"]; h["rejected"] != 1.0 || h["requestsReceived"] != 1.0 {
		t.Errorf("hrss stats: %v", h)
	}
	if r := g.Post(play, `{ sharingStats { department } }`, nil); len(r.Errors) == 0 {
		t.Errorf("statistics are for the CIO office only: %s", r.Raw)
	}
}

func TestExpiredGrantClosesByItself(t *testing.T) {
	g := Start(t)
	play := g.Token("playground")
	r := g.Post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-005"], justification: "short test"}) { id } }`, nil)
	id := r.Str("requestSharing.0.id")
	until := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	r = g.Post(g.Token("psb-console"), `mutation($id: ID!, $until: Time) { decideSharingRequest(id: $id, approve: true, validUntil: $until) { status } }`,
		map[string]any{"id": id, "until": until})
	if r.Str("decideSharingRequest.status") != "APPROVED" {
		t.Fatalf("approve with expiry: %s", r.Raw)
	}
	q := `{ citizen(idNumber: "310115198503120012") { ethnicity } }`
	if r := g.Post(play, q, nil); r.Str("citizen.ethnicity") != "汉族" {
		t.Fatalf("open before expiry: %s", r.Raw)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.Post(play, q, nil)
		if r.ErrorAt("citizen.ethnicity") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the grant did not expire: %s", r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Every decision on a conditional or not-shared field is audited, per field and
// subject; owners see their own events and nobody else does; the chain verifies.
func TestAuditTrail(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("online-hall"), `{ enterprises(first: 50) { edges { node { legalRepresentative { name phone } } } } }`, nil)
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Fatal("no request id header")
	}
	events, err := g.Parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: "psb"})
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]bool{}
	for _, e := range events {
		if e.RequestID != reqID || e.Consumer != "online-hall" || e.Purpose != "administrative-approval" {
			t.Fatalf("event fields: %+v", e)
		}
		subjects[e.Subject] = true
	}
	if len(events) < 2*len(subjects) || len(subjects) < 20 {
		t.Errorf("one event per field and subject: %d events for %d subjects", len(events), len(subjects))
	}
	// Owners only.
	r = g.Post(g.Token("psb-console"), `{ auditEvents(first: 5) { edges { node { code subject decision consumer requestId hash } } pageInfo { hasNextPage endCursor } } }`, nil)
	if r.Str("auditEvents.edges.0.node.requestId") != reqID || r.Get("auditEvents.pageInfo.hasNextPage") != true {
		t.Errorf("psb's audit events: %s", r.Raw)
	}
	after := r.Str("auditEvents.pageInfo.endCursor")
	r2 := g.Post(g.Token("psb-console"), `query($after: String) { auditEvents(first: 5, after: $after) { edges { node { hash } } } }`, map[string]any{"after": after})
	if r2.Str("auditEvents.edges.0.node.hash") == r.Str("auditEvents.edges.0.node.hash") {
		t.Errorf("paging: %s", r2.Raw)
	}
	for _, who := range []string{"amr-console", "online-hall", "cio-console"} {
		if r := g.Post(g.Token(who), `{ auditEvents(code: "310115-PSB-RK01-002") { edges { node { code } } } }`, nil); len(r.Errors) == 0 {
			t.Errorf("%s read psb's audit events: %s", who, r.Raw)
		}
	}
	if r := g.Post(g.Token("amr-console"), `{ auditEvents { edges { node { code } } } }`, nil); len(r.Get("auditEvents.edges").([]any)) != 0 {
		t.Errorf("amr has no conditional items, so no events: %s", r.Raw)
	}
	rep, err := audit.Verify(context.Background(), g.Parts.Store)
	if err != nil || !rep.OK() || rep.Checked < int64(len(events)) {
		t.Errorf("chain: %+v %v", rep, err)
	}
}

// One event per field and subject per request: a field repeated by several records of
// the same person, or by aliases, is recorded once.
func TestAuditOneEventPerFieldAndSubject(t *testing.T) {
	g := Start(t)
	r := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") {
		a: name b: name socialInsurance { insuranceType status } } }`, nil)
	id := r.Header.Get("X-Request-Id")
	count := map[string]int{}
	for _, owner := range []string{"psb", "hrss"} {
		events, err := g.Parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.RequestID == id {
				count[e.Code]++
			}
		}
	}
	want := map[string]int{"310115-PSB-RK01-002": 1, "310115-HRSS-SB01-001": 1, "310115-HRSS-SB01-002": 1}
	for code, n := range want {
		if count[code] != n {
			t.Errorf("%s: %d events, want %d (all: %v)", code, count[code], n, count)
		}
	}
}
