package main

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
	g := newTG(t)
	play := g.token("playground")
	q := `{ citizen(idNumber: "310115198503120012") { gender } }`
	r := g.post(play, q, nil)
	e := r.errorAt("citizen.gender")
	if e == nil || e.Extensions["requestable"] != true {
		t.Fatalf("gender is denied and requestable: %s", r.Raw)
	}
	code := e.Extensions["catalogCode"].(string)

	// NONE items and unknown codes are refused with every problem named.
	r = g.post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-007", "310115-XXX-1", "310115-PSB-RK01-003"], justification: "x"}) { id } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" ||
		!strings.Contains(r.Errors[0].Message, "RK01-007") || !strings.Contains(r.Errors[0].Message, "310115-XXX-1") {
		t.Fatalf("NONE and unknown codes: %s", r.Raw)
	}

	// One request per owning department.
	r = g.post(play, `mutation($codes: [String!]!) { requestSharing(input: {codes: $codes, justification: "testing the developer portal"}) {
		id department status codes purpose deadline } }`, map[string]any{"codes": []string{code, "310115-HRSS-SB01-001"}})
	reqs, _ := r.get("requestSharing").([]any)
	if len(reqs) != 2 || r.str("requestSharing.0.status") != "PENDING" || r.str("requestSharing.0.purpose") != "exploration" {
		t.Fatalf("requestSharing: %s", r.Raw)
	}
	var psbReq, hrssReq string
	for i := range reqs {
		switch r.str("requestSharing." + string(rune('0'+i)) + ".department") {
		case "psb":
			psbReq = r.str("requestSharing." + string(rune('0'+i)) + ".id")
		case "hrss":
			hrssReq = r.str("requestSharing." + string(rune('0'+i)) + ".id")
		}
	}
	if psbReq == "" || hrssReq == "" {
		t.Fatalf("split by owner: %s", r.Raw)
	}

	// The requester sees its requests; the owner sees those addressed to it.
	if r := g.post(play, `{ sharingRequests { id } }`, nil); len(r.get("sharingRequests").([]any)) != 2 {
		t.Errorf("requester's list: %s", r.Raw)
	}
	if r := g.post(g.token("psb-console"), `{ sharingRequests(status: PENDING) { id } }`, nil); r.str("sharingRequests.0.id") != psbReq || len(r.get("sharingRequests").([]any)) != 1 {
		t.Errorf("owner's list: %s", r.Raw)
	}

	// The wrong department cannot decide; nor can the requester.
	for _, tok := range []string{g.token("hrss-console"), play} {
		r = g.post(tok, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true) { status } }`, map[string]any{"id": psbReq})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("a non-owner decided: %s", r.Raw)
		}
	}

	// The owner approves; the field opens for that consumer and purpose only.
	psb := g.token("psb-console")
	r = g.post(psb, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true, reason: "ok for the portal") {
		status decidedBy grant { id active codes } } }`, map[string]any{"id": psbReq})
	if r.str("decideSharingRequest.status") != "APPROVED" || r.get("decideSharingRequest.grant.active") != true {
		t.Fatalf("approve: %s", r.Raw)
	}
	grantID := r.str("decideSharingRequest.grant.id")
	if r := g.post(psb, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: false) { status } }`, map[string]any{"id": psbReq}); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "ALREADY_DECIDED" {
		t.Errorf("a decision is final: %s", r.Raw)
	}
	if r := g.post(play, q, nil); r.str("citizen.gender") != "MALE" {
		t.Errorf("after approval the field is open: %s", r.Raw)
	}
	if r := g.post(g.tokenWithPurpose("playground", "another-purpose"), q, nil); r.errorAt("citizen.gender") == nil {
		t.Errorf("the grant is bound to its purpose: %s", r.Raw)
	}
	if r := g.post(g.token("supervision-platform"), q, nil); r.errorAt("citizen.gender") == nil {
		t.Errorf("the grant is bound to its consumer: %s", r.Raw)
	}

	// Revoke: closed again at once. Only the granting department may revoke.
	if r := g.post(g.token("amr-console"), `mutation($id: ID!) { revokeGrant(id: $id) { id } }`, map[string]any{"id": grantID}); len(r.Errors) == 0 {
		t.Errorf("another department revoked: %s", r.Raw)
	}
	if r := g.post(psb, `mutation($id: ID!) { revokeGrant(id: $id) { active revokedAt } }`, map[string]any{"id": grantID}); r.get("revokeGrant.active") != false {
		t.Fatalf("revoke: %s", r.Raw)
	}
	if r := g.post(play, q, nil); r.errorAt("citizen.gender") == nil {
		t.Errorf("after revocation the field is closed: %s", r.Raw)
	}

	// hrss rejects its part; the CIO office sees both and the statistics.
	g.post(g.token("hrss-console"), `mutation($id: ID!) { decideSharingRequest(id: $id, approve: false, reason: "no need") { status } }`, map[string]any{"id": hrssReq})
	cio := g.token("cio-console")
	r = g.post(cio, `{ sharingRequests { id status } sharingStats { department unconditional conditional notShared requestsReceived approved rejected answeredOnTime overdue } }`, nil)
	if len(r.get("sharingRequests").([]any)) != 2 {
		t.Errorf("the CIO sees all requests: %s", r.Raw)
	}
	stats := map[string]map[string]any{}
	for _, s := range r.get("sharingStats").([]any) {
		m := s.(map[string]any)
		stats[m["department"].(string)] = m
	}
	if p := stats["psb"]; p["conditional"] != 6.0 || p["notShared"] != 1.0 || p["approved"] != 1.0 || p["answeredOnTime"] != 1.0 {
		t.Errorf("psb stats: %v", p)
	}
	if h := stats["hrss"]; h["rejected"] != 1.0 || h["requestsReceived"] != 1.0 {
		t.Errorf("hrss stats: %v", h)
	}
	if r := g.post(play, `{ sharingStats { department } }`, nil); len(r.Errors) == 0 {
		t.Errorf("statistics are for the CIO office only: %s", r.Raw)
	}
}

func TestExpiredGrantClosesByItself(t *testing.T) {
	g := newTG(t)
	play := g.token("playground")
	r := g.post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-005"], justification: "short test"}) { id } }`, nil)
	id := r.str("requestSharing.0.id")
	until := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	r = g.post(g.token("psb-console"), `mutation($id: ID!, $until: Time) { decideSharingRequest(id: $id, approve: true, validUntil: $until) { status } }`,
		map[string]any{"id": id, "until": until})
	if r.str("decideSharingRequest.status") != "APPROVED" {
		t.Fatalf("approve with expiry: %s", r.Raw)
	}
	q := `{ citizen(idNumber: "310115198503120012") { ethnicity } }`
	if r := g.post(play, q, nil); r.str("citizen.ethnicity") != "汉族" {
		t.Fatalf("open before expiry: %s", r.Raw)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.post(play, q, nil)
		if r.errorAt("citizen.ethnicity") != nil {
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
	g := newTG(t)
	r := g.post(g.token("online-hall"), `{ enterprises(first: 50) { edges { node { legalRepresentative { name phone } } } } }`, nil)
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Fatal("no request id header")
	}
	events, err := g.parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: "psb"})
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
	r = g.post(g.token("psb-console"), `{ auditEvents(first: 5) { edges { node { code subject decision consumer requestId hash } } pageInfo { hasNextPage endCursor } } }`, nil)
	if r.str("auditEvents.edges.0.node.requestId") != reqID || r.get("auditEvents.pageInfo.hasNextPage") != true {
		t.Errorf("psb's audit events: %s", r.Raw)
	}
	after := r.str("auditEvents.pageInfo.endCursor")
	r2 := g.post(g.token("psb-console"), `query($after: String) { auditEvents(first: 5, after: $after) { edges { node { hash } } } }`, map[string]any{"after": after})
	if r2.str("auditEvents.edges.0.node.hash") == r.str("auditEvents.edges.0.node.hash") {
		t.Errorf("paging: %s", r2.Raw)
	}
	for _, who := range []string{"amr-console", "online-hall", "cio-console"} {
		if r := g.post(g.token(who), `{ auditEvents(code: "310115-PSB-RK01-002") { edges { node { code } } } }`, nil); len(r.Errors) == 0 {
			t.Errorf("%s read psb's audit events: %s", who, r.Raw)
		}
	}
	if r := g.post(g.token("amr-console"), `{ auditEvents { edges { node { code } } } }`, nil); len(r.get("auditEvents.edges").([]any)) != 0 {
		t.Errorf("amr has no conditional items, so no events: %s", r.Raw)
	}
	rep, err := audit.Verify(context.Background(), g.parts.Store)
	if err != nil || !rep.OK() || rep.Checked < int64(len(events)) {
		t.Errorf("chain: %+v %v", rep, err)
	}
}

// One event per field and subject per request: a field repeated by several records of
// the same person, or by aliases, is recorded once.
func TestAuditOneEventPerFieldAndSubject(t *testing.T) {
	g := newTG(t)
	r := g.post(g.token("online-hall"), `{ citizen(idNumber: "310115198503120012") {
		a: name b: name socialInsurance { insuranceType status } } }`, nil)
	id := r.Header.Get("X-Request-Id")
	count := map[string]int{}
	for _, owner := range []string{"psb", "hrss"} {
		events, err := g.parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: owner})
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
