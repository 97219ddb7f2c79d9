// Package storetest is the behaviour every store.Store must show, as one suite that each
// implementation runs against a real database: what the gateway relies on is written
// down once, and a new backend is done when it passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/store"
)

// Opener opens a Store on one database. Each call opens another handle on the same data,
// as a restart or a second replica would, and closes it when the test ends.
type Opener func(t *testing.T) store.Store

// signalWithin is how soon Changes must fire: docs/architecture.md (The sharing policy)
// wants an approval in force on every replica within a second.
const signalWithin = time.Second

// t0 is the suite's "now". It has a sub-second part on purpose, to catch stores that
// lose precision.
func t0() time.Time { return time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC) }

// Run runs the suite. fresh returns an Opener for a new, empty database; it is called
// once per subtest.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"CreateGetList", testCreateGetList},
		{"CreateIsAtomic", testCreateIsAtomic},
		{"Approve", testApprove},
		{"ApproveWithoutExpiry", testApproveWithoutExpiry},
		{"Reject", testReject},
		{"DecideTwice", testDecideTwice},
		{"ConcurrentDecide", testConcurrentDecide},
		{"DecideAcrossReplicas", testDecideAcrossReplicas},
		{"Revoke", testRevoke},
		{"AuditChain", testAuditChain},
		{"ListAudit", testListAudit},
		{"ScanAuditStops", testScanAuditStops},
		{"ConcurrentAppend", testConcurrentAppend},
		{"Chains", testChains},
		{"ListAuditAcrossChains", testListAuditAcrossChains},
		{"ListAuditBySubject", testListAuditBySubject},
		{"Changes", testChanges},
		{"Reopen", testReopen},
		{"Replicas", testReplicas},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

func newRequest(requester, dept string, at time.Time, codes ...string) gateway.SharingRequest {
	return gateway.SharingRequest{
		Requester:     requester,
		RequestedBy:   "zhang.wei@" + requester,
		Department:    dept,
		Codes:         codes,
		Purpose:       "administrative-approval",
		Justification: "needed to approve business licence applications",
		CreatedAt:     at,
		Deadline:      at.Add(5 * 24 * time.Hour),
	}
}

func create(t *testing.T, s store.Store, reqs ...gateway.SharingRequest) []gateway.SharingRequest {
	t.Helper()
	out, err := s.CreateRequests(context.Background(), reqs)
	if err != nil {
		t.Fatalf("CreateRequests: %v", err)
	}
	return out
}

func ids(rs []gateway.SharingRequest) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testCreateGetList(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	in := []gateway.SharingRequest{
		newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002", "310115-PSB-RK01-004"),
		newRequest("online-hall", "hrss", t0().Add(time.Minute), "310115-HRSS-SB01-001"),
		newRequest("supervision-platform", "psb", t0().Add(2*time.Minute), "310115-PSB-RK01-002"),
	}
	got := create(t, s, in...)
	if len(got) != 3 {
		t.Fatalf("CreateRequests returned %d requests, want 3", len(got))
	}
	seen := map[string]bool{}
	for i, r := range got {
		if !strings.HasPrefix(r.ID, "SR-20261127-") || seen[r.ID] {
			t.Errorf("request %d: ID %q is not a fresh SR-20261127-… ID", i, r.ID)
		}
		seen[r.ID] = true
		want := in[i]
		want.ID, want.Status = r.ID, gateway.Pending
		equal(t, fmt.Sprintf("created request %d", i), r, want)
	}

	r, err := s.GetRequest(ctx, got[1].ID)
	if err != nil {
		t.Fatalf("GetRequest: %v", err)
	}
	equal(t, "GetRequest", *r, got[1])
	if _, err := s.GetRequest(ctx, "SR-20261127-NOSUCHREQ0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRequest of an unknown ID: err = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		name string
		f    store.RequestFilter
		want []gateway.SharingRequest
	}{
		{"all", store.RequestFilter{}, []gateway.SharingRequest{got[2], got[1], got[0]}},
		{"by requester", store.RequestFilter{Requester: "online-hall"}, []gateway.SharingRequest{got[1], got[0]}},
		{"by department", store.RequestFilter{Department: "psb"}, []gateway.SharingRequest{got[2], got[0]}},
		{"requester or department", store.RequestFilter{Requester: "supervision-platform", Department: "hrss"},
			[]gateway.SharingRequest{got[2], got[1]}},
		{"pending", store.RequestFilter{Department: "psb", Status: gateway.Pending}, []gateway.SharingRequest{got[2], got[0]}},
		{"approved", store.RequestFilter{Status: gateway.Approved}, nil},
		{"unknown requester", store.RequestFilter{Requester: "playground"}, nil},
	} {
		list, err := s.ListRequests(ctx, tc.f)
		if err != nil {
			t.Fatalf("ListRequests(%s): %v", tc.name, err)
		}
		if !reflect.DeepEqual(list, tc.want) && !(len(list) == 0 && len(tc.want) == 0) {
			t.Errorf("ListRequests(%s) = %v, want %v", tc.name, ids(list), ids(tc.want))
		}
	}

	none, err := s.CreateRequests(ctx, nil)
	if err != nil || len(none) != 0 {
		t.Errorf("CreateRequests(nil) = %v, %v; want nothing, no error", none, err)
	}
}

func testCreateIsAtomic(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	bad := newRequest("online-hall", "", t0(), "310115-HRSS-SB01-001") // no department
	_, err := s.CreateRequests(ctx, []gateway.SharingRequest{newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002"), bad})
	if err == nil {
		t.Fatal("CreateRequests accepted a request without a department")
	}
	list, err := s.ListRequests(ctx, store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("after a failed CreateRequests, %d requests are stored, want 0 (all or none)", len(list))
	}
}

func testApprove(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	req := create(t, s, newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002", "310115-PSB-RK01-005"))[0]
	at, until := t0().Add(time.Hour), t0().Add(30*24*time.Hour)
	decided, grant, err := s.DecideRequest(ctx, req.ID, store.Decision{
		Approve: true, By: "li.ming@psb", At: at, Reason: "approved for the online hall", ValidUntil: until,
	})
	if err != nil {
		t.Fatalf("DecideRequest: %v", err)
	}
	if grant == nil {
		t.Fatal("an approval returned no grant")
	}
	if !strings.HasPrefix(grant.ID, "GR-20261127-") {
		t.Errorf("grant ID %q is not a GR-20261127-… ID", grant.ID)
	}
	wantGrant := gateway.Grant{
		ID: grant.ID, Consumer: "online-hall", Purpose: "administrative-approval",
		Codes:      []string{"310115-PSB-RK01-002", "310115-PSB-RK01-005"},
		Department: "psb", RequestID: req.ID, GrantedBy: "li.ming@psb", CreatedAt: at, ValidUntil: until,
	}
	equal(t, "grant", *grant, wantGrant)

	want := req
	want.Status, want.DecidedAt, want.DecidedBy, want.Reason = gateway.Approved, &at, "li.ming@psb", "approved for the online hall"
	want.ValidUntil, want.GrantID = &until, grant.ID
	equal(t, "decided request", *decided, want)

	stored, err := s.GetRequest(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "stored request", *stored, want)
	g, err := s.GetGrant(ctx, grant.ID)
	if err != nil {
		t.Fatalf("GetGrant: %v", err)
	}
	equal(t, "stored grant", *g, wantGrant)
	all, err := s.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListGrants", all, []gateway.Grant{wantGrant})

	if !g.Covers("online-hall", "administrative-approval", "310115-PSB-RK01-005", until.Add(-time.Second)) {
		t.Error("the grant does not cover its code before it expires")
	}
	if g.Covers("online-hall", "administrative-approval", "310115-PSB-RK01-005", until) {
		t.Error("the grant still covers its code at ValidUntil")
	}
	if _, err := s.GetGrant(ctx, "GR-20261127-NOSUCHGRNT"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetGrant of an unknown ID: err = %v, want ErrNotFound", err)
	}
}

func testApproveWithoutExpiry(t *testing.T, open Opener) {
	s := open(t)
	req := create(t, s, newRequest("supervision-platform", "credit", t0(), "310115-CREDIT-XY01-006"))[0]
	decided, grant, err := s.DecideRequest(context.Background(), req.ID, store.Decision{Approve: true, By: "credit-approver", At: t0()})
	if err != nil {
		t.Fatal(err)
	}
	if !grant.ValidUntil.IsZero() || decided.ValidUntil != nil {
		t.Errorf("approval without expiry: grant ValidUntil %v, request ValidUntil %v; want none", grant.ValidUntil, decided.ValidUntil)
	}
	if !grant.ActiveAt(t0().AddDate(10, 0, 0)) {
		t.Error("a grant without expiry is not active ten years on")
	}
}

func testReject(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	req := create(t, s, newRequest("playground", "hrss", t0(), "310115-HRSS-SB01-001"))[0]
	decided, grant, err := s.DecideRequest(ctx, req.ID, store.Decision{By: "hrss-approver", At: t0().Add(time.Hour), Reason: "exploration is not a purpose"})
	if err != nil {
		t.Fatal(err)
	}
	if grant != nil {
		t.Errorf("a rejection created grant %+v", grant)
	}
	if decided.Status != gateway.Rejected || decided.Reason != "exploration is not a purpose" || decided.GrantID != "" ||
		decided.DecidedAt == nil || !decided.DecidedAt.Equal(t0().Add(time.Hour)) {
		t.Errorf("rejected request = %+v", decided)
	}
	stored, err := s.GetRequest(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "stored request", *stored, *decided)
	grants, err := s.ListGrants(ctx)
	if err != nil || len(grants) != 0 {
		t.Errorf("ListGrants after a rejection = %v, %v; want none", grants, err)
	}
}

func testDecideTwice(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	req := create(t, s, newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002"))[0]
	first, _, err := s.DecideRequest(ctx, req.ID, store.Decision{Approve: true, By: "a", At: t0()})
	if err != nil {
		t.Fatal(err)
	}
	_, grant, err := s.DecideRequest(ctx, req.ID, store.Decision{By: "b", At: t0().Add(time.Minute), Reason: "changed my mind"})
	if !errors.Is(err, store.ErrAlreadyDecided) {
		t.Errorf("second decision: err = %v, want ErrAlreadyDecided", err)
	}
	if grant != nil {
		t.Errorf("second decision returned grant %+v", grant)
	}
	stored, err := s.GetRequest(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "request after a refused second decision", *stored, *first)
	if _, _, err := s.DecideRequest(ctx, "SR-20261127-NOSUCHREQ0", store.Decision{Approve: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deciding an unknown request: err = %v, want ErrNotFound", err)
	}
}

// pending creates n sharing requests a second apart.
func pending(t *testing.T, s store.Store, n int) []gateway.SharingRequest {
	t.Helper()
	var reqs []gateway.SharingRequest
	for i := range n {
		reqs = append(reqs, newRequest("online-hall", "psb", t0().Add(time.Duration(i)*time.Second), "310115-PSB-RK01-002"))
	}
	return create(t, s, reqs...)
}

func testConcurrentDecide(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	const requests, deciders = 3, 8
	reqs := pending(t, s, requests)
	type outcome struct {
		req   string
		grant *gateway.Grant
		err   error
	}
	results := make(chan outcome, requests*deciders)
	var wg sync.WaitGroup
	for _, r := range reqs {
		for i := range deciders {
			wg.Go(func() {
				_, g, err := s.DecideRequest(ctx, r.ID, store.Decision{Approve: i%2 == 0, By: fmt.Sprint("approver-", i), At: t0()})
				results <- outcome{r.ID, g, err}
			})
		}
	}
	wg.Wait()
	close(results)
	wins := map[string]int{}
	approvals := 0
	for o := range results {
		switch {
		case o.err == nil:
			wins[o.req]++
			if o.grant != nil {
				approvals++
			}
		case !errors.Is(o.err, store.ErrAlreadyDecided):
			t.Errorf("a losing decider got %v, want ErrAlreadyDecided", o.err)
		}
	}
	for _, r := range reqs {
		if wins[r.ID] != 1 {
			t.Errorf("request %s was decided %d times, want exactly once", r.ID, wins[r.ID])
		}
	}
	grants, err := s.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != approvals {
		t.Errorf("%d grants stored after %d winning approvals", len(grants), approvals)
	}
}

func approved(t *testing.T, s store.Store) *gateway.Grant {
	t.Helper()
	req := create(t, s, newRequest("online-hall", "hrss", t0(), "310115-HRSS-SB01-001"))[0]
	_, g, err := s.DecideRequest(context.Background(), req.ID, store.Decision{Approve: true, By: "hrss-approver", At: t0()})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func testRevoke(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	g := approved(t, s)
	at := t0().Add(48 * time.Hour)
	revoked, err := s.RevokeGrant(ctx, g.ID, "hrss-director", at)
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	want := *g
	want.RevokedAt, want.RevokedBy = &at, "hrss-director"
	equal(t, "revoked grant", *revoked, want)
	stored, err := s.GetGrant(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "stored revoked grant", *stored, want)
	if !stored.ActiveAt(at.Add(-time.Second)) || stored.ActiveAt(at) {
		t.Error("a revoked grant must be active until, and not from, its revocation")
	}
	if _, err := s.RevokeGrant(ctx, g.ID, "someone-else", at.Add(time.Hour)); !errors.Is(err, store.ErrAlreadyRevoked) {
		t.Errorf("revoking twice: err = %v, want ErrAlreadyRevoked", err)
	}
	if _, err := s.RevokeGrant(ctx, "GR-20261127-NOSUCHGRNT", "x", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking an unknown grant: err = %v, want ErrNotFound", err)
	}
	all, err := s.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "ListGrants keeps revoked grants", all, []gateway.Grant{want})
}

// event makes an audit event; i varies the time and request id.
func event(i int, owner, code, subject string, d gateway.Outcome) gateway.AuditEvent {
	return gateway.AuditEvent{
		At:        t0().Add(time.Duration(i) * time.Minute),
		Consumer:  "online-hall",
		EndUser:   "clerk-7",
		Purpose:   "administrative-approval",
		RequestID: fmt.Sprintf("req-%04d", i),
		Code:      code,
		Owner:     owner,
		Subject:   subject,
		Decision:  d,
		GrantID:   "GR-20261127-0000000001",
	}
}

func appendAudit(t *testing.T, s store.Store, events ...gateway.AuditEvent) {
	t.Helper()
	if err := s.AppendAudit(context.Background(), events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
}

func scan(t *testing.T, s store.Store) []gateway.AuditEvent {
	t.Helper()
	var out []gateway.AuditEvent
	if err := s.ScanAudit(context.Background(), func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("ScanAudit: %v", err)
	}
	return out
}

func verify(t *testing.T, s store.Store, want int64) {
	t.Helper()
	rep, err := audit.Verify(context.Background(), s)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() || rep.Checked != want {
		t.Errorf("Verify = %d events checked, broken %v; want %d events, intact", rep.Checked, rep.Broken, want)
	}
}

func testAuditChain(t *testing.T, open Opener) {
	s := open(t)
	var in []gateway.AuditEvent
	for i := range 8 {
		in = append(in, event(i, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Allow))
	}
	in[3].At = in[3].At.Add(789 * time.Nanosecond) // kept to the microsecond
	batch := slices.Clone(in[:3])
	appendAudit(t, s, batch...)
	if batch[0].Seq != 0 || batch[0].Hash != "" {
		t.Error("AppendAudit modified the caller's events")
	}
	appendAudit(t, s, in[3:4]...)
	appendAudit(t, s)
	appendAudit(t, s, in[4:]...)

	got := scan(t, s)
	if len(got) != len(in) {
		t.Fatalf("ScanAudit returned %d events, want %d", len(got), len(in))
	}
	prev := ""
	for i, e := range got {
		want := in[i]
		want.At = store.Micro(want.At)
		want.Seq, want.PrevHash, want.Hash = int64(i+1), prev, e.Hash
		equal(t, fmt.Sprintf("event %d", i+1), e, want)
		if e.Hash != e.ComputeHash() {
			t.Errorf("event %d: stored hash %s, computed %s", e.Seq, e.Hash, e.ComputeHash())
		}
		prev = e.Hash
	}
	verify(t, s, int64(len(in)))
}

func testListAudit(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	all := appendMixedAudit(t, s)

	for _, f := range auditFilters() {
		got, err := s.ListAudit(ctx, f)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", f, err)
		}
		want := selectAudit(all, f)
		unpaged := f
		unpaged.AfterSeq = 0
		if n, err := s.CountAudit(ctx, unpaged); err != nil || n != len(selectAudit(all, unpaged)) {
			t.Errorf("CountAudit(%+v) = %d, %v; want %d", unpaged, n, err, len(selectAudit(all, unpaged)))
		}
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		equal(t, fmt.Sprintf("ListAudit(%+v)", f), got, want)
	}

	// Paging: AfterSeq as the cursor and Limit as the page size reassemble the whole list.
	paged := pageAudit(t, s, "psb", 4)
	equal(t, "pages of psb's events", paged, selectAudit(all, store.AuditFilter{Owner: "psb"}))

	if _, err := s.ListAudit(ctx, store.AuditFilter{Code: "310115-PSB-RK01-002"}); !errors.Is(err, store.ErrNoOwner) {
		t.Errorf("ListAudit without owner: err = %v, want ErrNoOwner", err)
	}
}

// appendMixedAudit appends, in two calls, 30 events of two owners, three codes,
// three subjects and three decisions, and returns them as stored.
func appendMixedAudit(t *testing.T, s store.Store) []gateway.AuditEvent {
	owners := []string{"psb", "hrss"}
	codes := map[string][]string{
		"psb":  {"310115-PSB-RK01-002", "310115-PSB-RK01-007"},
		"hrss": {"310115-HRSS-SB01-001"},
	}
	subjects := []string{"310115198503120012", "310115199001010029", "310115197811200036"}
	decisions := []gateway.Outcome{gateway.Allow, gateway.Masked, gateway.Deny}
	var in []gateway.AuditEvent
	for i := range 30 {
		owner := owners[i%2]
		cs := codes[owner]
		in = append(in, event(i, owner, cs[(i/2)%len(cs)], subjects[i%3], decisions[i%3]))
	}
	appendAudit(t, s, in[:10]...)
	appendAudit(t, s, in[10:]...)
	return scan(t, s)
}

// auditFilters are the filters ListAudit and CountAudit are checked with.
func auditFilters() []store.AuditFilter {
	return []store.AuditFilter{
		{Owner: "psb"},
		{Owner: "hrss"},
		{Owner: "amr"},
		{Owner: "psb", Code: "310115-PSB-RK01-007"},
		{Owner: "psb", Code: "310115-HRSS-SB01-001"}, // another owner's code: nothing
		{Owner: "hrss", Subject: "310115199001010029"},
		{Owner: "psb", Code: "310115-PSB-RK01-002", Subject: "310115198503120012"},
		{Owner: "psb", From: t0().Add(10 * time.Minute)},
		{Owner: "psb", To: t0().Add(10 * time.Minute)},
		{Owner: "hrss", From: t0().Add(5 * time.Minute), To: t0().Add(21 * time.Minute)},
		{Owner: "psb", AfterSeq: 17},
	}
}

// selectAudit is what ListAudit should return for f (without a Limit), found
// by reading every event.
func selectAudit(all []gateway.AuditEvent, f store.AuditFilter) []gateway.AuditEvent {
	var out []gateway.AuditEvent
	for _, e := range all {
		if e.Owner == f.Owner && (f.Code == "" || e.Code == f.Code) && (f.Subject == "" || e.Subject == f.Subject) &&
			(f.From.IsZero() || !e.At.Before(f.From)) && (f.To.IsZero() || e.At.Before(f.To)) && e.Seq > f.AfterSeq {
			out = append(out, e)
		}
	}
	return out
}

// pageAudit reads all of owner's events in pages of size, each after the last
// Seq of the one before.
func pageAudit(t *testing.T, s store.Store, owner string, size int) []gateway.AuditEvent {
	t.Helper()
	var paged []gateway.AuditEvent
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, err := s.ListAudit(context.Background(), store.AuditFilter{Owner: owner, AfterSeq: after, Limit: size})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > size {
			t.Fatalf("page of %d events with Limit %d", len(page), size)
		}
		if len(page) == 0 {
			return paged
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
}

func testScanAuditStops(t *testing.T, open Opener) {
	s := open(t)
	for i := range 5 {
		appendAudit(t, s, event(i, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Deny))
	}
	errStop := errors.New("enough")
	var seen []int64
	err := s.ScanAudit(context.Background(), func(e gateway.AuditEvent) error {
		seen = append(seen, e.Seq)
		if len(seen) == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("ScanAudit returned %v, want the callback's error", err)
	}
	equal(t, "seqs scanned before stopping", seen, []int64{1, 2, 3})
}

// syncAll waits until each store's audit journal, if it has one, is in the tables: a
// store sees its own appends at once, another process's once they are applied
// (docs/audit.md, "The journal").
func syncAll(t *testing.T, stores ...store.Store) {
	t.Helper()
	for _, s := range stores {
		if j, ok := s.(interface{ Sync(context.Context) error }); ok {
			if err := j.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// appendConcurrently appends from many goroutines spread over stores, each append
// tagged so that its events can be found again, and checks the result is intact chains
// in which each append's events are consecutive. chain names goroutine g's chain; nil:
// all append to the default chain. The stores' chains must be empty before.
func appendConcurrently(t *testing.T, chain func(g int) string, stores ...store.Store) {
	const goroutines, appends, size = 8, 5, 3
	ctx := context.Background()
	if chain == nil {
		chain = func(int) string { return "" }
	}
	before := len(scan(t, stores[0]))
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*appends)
	for g := range goroutines {
		s := stores[g%len(stores)]
		wg.Go(func() {
			for a := range appends {
				var batch []gateway.AuditEvent
				for i := range size {
					e := event(i, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Allow)
					e.RequestID, e.Chain = fmt.Sprintf("g%d-a%d", g, a), chain(g)
					batch = append(batch, e)
				}
				errs <- s.AppendAudit(ctx, batch)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent AppendAudit: %v", err)
		}
	}
	syncAll(t, stores...)
	verify(t, stores[0], int64(before+goroutines*appends*size))
	seqs := map[string][]int64{}
	for _, e := range scan(t, stores[0])[before:] {
		if e.Chain != chain(0) && e.Chain != chain(1) {
			t.Errorf("event %s/%d of append %s is on chain %q", e.Chain, e.Seq, e.RequestID, e.Chain)
		}
		seqs[e.RequestID] = append(seqs[e.RequestID], e.Seq)
	}
	if len(seqs) != goroutines*appends {
		t.Errorf("%d appends found in the chain, want %d", len(seqs), goroutines*appends)
	}
	for tag, s := range seqs {
		if len(s) != size || s[size-1]-s[0] != size-1 {
			t.Errorf("append %s got seqs %v, want %d consecutive", tag, s, size)
		}
	}
}

func testConcurrentAppend(t *testing.T, open Opener) {
	appendConcurrently(t, nil, open(t))
}

// Drain empties a Changes channel of signals from earlier changes.
func Drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func expectSignal(t *testing.T, ch <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(signalWithin):
		t.Errorf("Changes not signalled within %v after %s", signalWithin, after)
	}
}

func testChanges(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	Drain(s.Changes())
	req := create(t, s, newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002"))[0]
	expectSignal(t, s.Changes(), "CreateRequests")
	Drain(s.Changes())
	_, g, err := s.DecideRequest(ctx, req.ID, store.Decision{Approve: true, By: "psb-approver", At: t0()})
	if err != nil {
		t.Fatal(err)
	}
	expectSignal(t, s.Changes(), "DecideRequest")
	Drain(s.Changes())
	if _, err := s.RevokeGrant(ctx, g.ID, "psb-approver", t0().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, s.Changes(), "RevokeGrant")
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	reqs := create(t, s,
		newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002"),
		newRequest("online-hall", "hrss", t0().Add(time.Second), "310115-HRSS-SB01-001"))
	if _, _, err := s.DecideRequest(ctx, reqs[0].ID, store.Decision{Approve: true, By: "psb-approver", At: t0(), ValidUntil: t0().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	appendAudit(t, s, event(1, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Allow),
		event(2, "hrss", "310115-HRSS-SB01-001", "310115198503120012", gateway.Masked))
	wantReqs, err := s.ListRequests(ctx, store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	wantGrants, err := s.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAudit := scan(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s = open(t)
	gotReqs, err := s.ListRequests(ctx, store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "requests after reopening", gotReqs, wantReqs)
	gotGrants, err := s.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "grants after reopening", gotGrants, wantGrants)
	equal(t, "audit after reopening", scan(t, s), wantAudit)
	appendAudit(t, s, event(3, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Deny))
	verify(t, s, 3)
}

func testReplicas(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t), open(t)
	Drain(b.Changes())
	req := create(t, a, newRequest("online-hall", "psb", t0(), "310115-PSB-RK01-002"))[0]
	expectSignal(t, b.Changes(), "CreateRequests on another replica")
	Drain(b.Changes())
	if _, _, err := a.DecideRequest(ctx, req.ID, store.Decision{Approve: true, By: "psb-approver", At: t0()}); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, b.Changes(), "DecideRequest on another replica")
	grants, err := b.ListGrants(ctx)
	if err != nil || len(grants) != 1 {
		t.Fatalf("the other replica sees grants %v, %v; want the new one", grants, err)
	}
	Drain(a.Changes())
	if _, err := b.RevokeGrant(ctx, grants[0].ID, "psb-approver", t0().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, a.Changes(), "RevokeGrant on another replica")

	appendConcurrently(t, nil, a, b)
	// Replicas on chains of their own.
	appendConcurrently(t, func(g int) string { return fmt.Sprint("replica-", g%2) }, a, b)
}

// testDecideAcrossReplicas races deciders on two handles of one database, as two
// replicas would. The back-ends once guarded a decision differently (SQLite by repeating
// status = 'PENDING' in the UPDATE and counting the rows, PostgreSQL by reading the
// request FOR UPDATE); whatever the guard, exactly one decision per request wins, the
// stored request names the winner's grant, and no grant exists without its request.
func testDecideAcrossReplicas(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t), open(t)
	const requests, deciders = 4, 6
	reqs := pending(t, a, requests)
	type win struct {
		req   *gateway.SharingRequest
		grant *gateway.Grant
	}
	var mu sync.Mutex
	wins := map[string][]win{}
	var wg sync.WaitGroup
	for _, r := range reqs {
		for i := range deciders {
			s := []store.Store{a, b}[i%2]
			wg.Go(func() {
				req, g, err := s.DecideRequest(ctx, r.ID, store.Decision{Approve: i%3 != 2, By: fmt.Sprint("approver-", i), At: t0()})
				switch {
				case err == nil:
					mu.Lock()
					wins[r.ID] = append(wins[r.ID], win{req, g})
					mu.Unlock()
				case !errors.Is(err, store.ErrAlreadyDecided):
					t.Errorf("a losing decider got %v, want ErrAlreadyDecided", err)
				}
			})
		}
	}
	wg.Wait()
	grants, err := b.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byRequest := map[string]gateway.Grant{}
	for _, g := range grants {
		if _, dup := byRequest[g.RequestID]; dup {
			t.Errorf("request %s has two grants", g.RequestID)
		}
		byRequest[g.RequestID] = g
	}
	for _, r := range reqs {
		w := wins[r.ID]
		if len(w) != 1 {
			t.Errorf("request %s was decided %d times, want exactly once", r.ID, len(w))
			continue
		}
		stored, err := a.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "stored request "+r.ID, *stored, *w[0].req)
		g, has := byRequest[r.ID]
		switch {
		case w[0].grant == nil && has:
			t.Errorf("rejected request %s has grant %s", r.ID, g.ID)
		case w[0].grant != nil && (!has || g.ID != w[0].grant.ID || stored.GrantID != g.ID):
			t.Errorf("approved request %s names grant %q; the winner got %s, stored grants %v", r.ID, stored.GrantID, w[0].grant.ID, grants)
		}
	}
}

// chained is event i on chain with the fields an append must keep but not interpret.
func chained(i int, chain string) gateway.AuditEvent {
	e := event(i, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Allow)
	e.Chain, e.ClientRequestID, e.TraceID = chain, fmt.Sprintf("client-%d", i), fmt.Sprintf("%032x", i+1)
	return e
}

// testChains appends to two chains, also in one call, and expects Seq and the links
// counted per chain, and every field kept.
func testChains(t *testing.T, open Opener) {
	s := open(t)
	appendAudit(t, s, chained(0, "b"), chained(1, "a"), chained(2, "b"))
	appendAudit(t, s, chained(3, "a"))
	appendAudit(t, s, chained(4, "b"))
	got := scan(t, s)
	want := []struct {
		chain string
		seq   int64
		i     int
	}{{"a", 1, 1}, {"a", 2, 3}, {"b", 1, 0}, {"b", 2, 2}, {"b", 3, 4}}
	if len(got) != len(want) {
		t.Fatalf("ScanAudit returned %d events, want %d", len(got), len(want))
	}
	prev := ""
	for k, w := range want {
		e := got[k]
		if k > 0 && want[k-1].chain != w.chain {
			prev = ""
		}
		in := chained(w.i, w.chain)
		in.At = store.Micro(in.At)
		in.Seq, in.PrevHash, in.Hash = w.seq, prev, e.Hash
		equal(t, fmt.Sprintf("event %d of chain %s", w.seq, w.chain), e, in)
		if e.Hash != e.ComputeHash() {
			t.Errorf("event %s/%d: stored hash %s, computed %s", e.Chain, e.Seq, e.Hash, e.ComputeHash())
		}
		prev = e.Hash
	}
	chains, err := s.AuditChains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "AuditChains", chains, []string{"a", "b"})
	verify(t, s, int64(len(want)))
}

// testListAuditAcrossChains pages an owner's events over two chains.
func testListAuditAcrossChains(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	for i := range 7 {
		appendAudit(t, s, chained(i, []string{"a", "b"}[i%2]))
	}
	all, err := s.ListAudit(ctx, store.AuditFilter{Owner: "psb"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range all {
		order = append(order, fmt.Sprintf("%s%d", e.Chain, e.Seq))
	}
	equal(t, "ListAudit order (chain, seq)", order, []string{"a1", "a2", "a3", "a4", "b1", "b2", "b3"})
	var paged []gateway.AuditEvent
	f := store.AuditFilter{Owner: "psb", Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 7 {
			t.Fatal("paging does not end")
		}
		page, err := s.ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		f.AfterSeq, f.AfterChain = page[len(page)-1].Seq, page[len(page)-1].Chain
	}
	equal(t, "pages across chains", paged, all)
	if n, err := s.CountAudit(ctx, f); err != nil || n != 7 {
		t.Errorf("CountAudit = %d, %v; want 7", n, err)
	}
}

// Upgraded checks a store opened on the database of testdata/sqlite-v3.sql or
// testdata/postgres-v1.sql: what the gateway wrote before the store was one (two sharing
// requests, one approved with its grant, five audit events) reads back after the
// migrations, the old chain still verifies and goes on where it ended, and new chains
// start beside it.
func Upgraded(t *testing.T, s store.Store) {
	ctx := context.Background()
	reqs, err := s.ListRequests(ctx, store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	grants, err := s.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || len(grants) != 1 {
		t.Fatalf("after the upgrade: %d requests and %d grants, want 2 and 1", len(reqs), len(grants))
	}
	approved, pending := reqs[1], reqs[0]
	g := grants[0]
	wantGrant := gateway.Grant{
		ID: approved.GrantID, Consumer: "online-hall", Purpose: "administrative-approval",
		Codes: []string{"310115-PSB-RK01-002", "310115-PSB-RK01-005"}, Department: "psb", RequestID: approved.ID,
		GrantedBy: "li.ming@psb", CreatedAt: t0().Add(time.Hour), ValidUntil: t0().AddDate(1, 0, 0),
	}
	equal(t, "grant", g, wantGrant)
	if approved.Status != gateway.Approved || !approved.CreatedAt.Equal(t0()) || approved.ValidUntil == nil ||
		!approved.ValidUntil.Equal(t0().AddDate(1, 0, 0)) || approved.Reason != "ok" {
		t.Errorf("approved request after the upgrade = %+v", approved)
	}
	if pending.Status != gateway.Pending || !slices.Equal(pending.Codes, []string{"310115-HRSS-SB01-001"}) || pending.DecidedAt != nil {
		t.Errorf("pending request after the upgrade = %+v", pending)
	}
	old := scan(t, s)
	if len(old) != 5 || old[4].Seq != 5 || old[4].Chain != "" || old[4].RequestID != "req-4" || !old[4].At.Equal(t0().Add(4*time.Minute)) {
		t.Fatalf("audit events after the upgrade: %+v", old)
	}
	verify(t, s, 5)
	appendAudit(t, s, event(5, "psb", "310115-PSB-RK01-002", "310115198503120012", gateway.Masked), chained(6, "replica-1"))
	evs := scan(t, s)
	if e := evs[5]; e.Chain != "" || e.Seq != 6 || e.PrevHash != old[4].Hash {
		t.Errorf("the old chain goes on with %s/%d after %s, want seq 6 after the hash of seq 5", e.Chain, e.Seq, e.PrevHash)
	}
	if e := evs[6]; e.Chain != "replica-1" || e.Seq != 1 || e.ClientRequestID != "client-6" {
		t.Errorf("a new chain starts with %+v", e)
	}
	verify(t, s, 7)
	if _, _, err := s.DecideRequest(ctx, pending.ID, store.Decision{Approve: true, By: "hrss-approver", At: t0().Add(2 * time.Hour)}); err != nil {
		t.Errorf("deciding a request stored before the upgrade: %v", err)
	}
}

// testPing: an open store answers Ping, and a closed one does not, promptly. The
// readiness probe relies on both (docs/operators.md).
func testPing(t *testing.T, open Opener) {
	s := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping on a closed store succeeded")
	}
	if ctx.Err() != nil {
		t.Fatal("Ping on a closed store waited for the deadline instead of failing")
	}
}
