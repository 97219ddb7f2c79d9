package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// manySubjects is what appendManySubjects spreads its events over: owners with their
// codes ("amr" has none) and people (the last has no events).
func manySubjects() (owners []string, codes map[string][]string, people []string) {
	return []string{"psb", "hrss", "credit", "amr"},
		map[string][]string{
			"psb":    {"310115-PSB-RK01-002", "310115-PSB-RK01-007"},
			"hrss":   {"310115-HRSS-SB01-001", "310115-HRSS-SB02-001"},
			"credit": {"310115-CREDIT-XY01-006"},
		},
		[]string{"310115198503120012", "310115199001010029", "310115197811200036", "310115198807150041",
			"310115200102280058", "310115196512300065", "310115197404040072", "310115199912310073"}
}

// appendManySubjects appends 60 calls of 1 to 9 events (291 in all) on three chains,
// some calls on two chains at once, so that each subject has events in many blocks, of
// some owners and not others, between blocks without any. It returns every event as
// stored.
func appendManySubjects(t *testing.T, s store.Store) []gateway.AuditEvent {
	t.Helper()
	owners, codesOf, people := manySubjects()
	i := 0
	for call := range 60 {
		var batch []gateway.AuditEvent
		for k := range 1 + call%9 {
			owner := owners[(call+k*k)%3]
			codes := codesOf[owner]
			// Mostly the call's own person, as an answer is about one person; now and then
			// another, and every fifth call about the first subject.
			subject := people[(call*5+k/4)%7]
			if call%5 == 0 {
				subject = people[0]
			}
			e := event(i, owner, codes[(call+k)%len(codes)], subject, []gateway.Outcome{gateway.Allow, gateway.Masked, gateway.Deny}[i%3])
			e.Chain = []string{"", "a", "b"}[(call+k/5)%3]
			batch = append(batch, e)
			i++
		}
		appendAudit(t, s, batch...)
	}
	all := scan(t, s)
	if len(all) != i {
		t.Fatalf("%d events stored, want %d", len(all), i)
	}
	return all
}

// inListOrder is what ListAudit should return for f, paging cursor included but not its
// Limit, found by reading every event: all is in ScanAudit's order, which is ListAudit's.
func inListOrder(all []gateway.AuditEvent, f store.AuditFilter) []gateway.AuditEvent {
	var out []gateway.AuditEvent
	for _, e := range all {
		after := e.Chain > f.AfterChain || (e.Chain == f.AfterChain && e.Seq > f.AfterSeq)
		if e.Owner == f.Owner && (f.Code == "" || e.Code == f.Code) && (f.Subject == "" || e.Subject == f.Subject) &&
			(f.From.IsZero() || !e.At.Before(f.From)) && (f.To.IsZero() || e.At.Before(f.To)) && after {
			out = append(out, e)
		}
	}
	return out
}

// testListAuditBySubject checks ListAudit and CountAudit with a subject, alone and with
// the other filters and the paging cursor, against a filter of every event: an index by
// subject must change what they cost, never what they return.
func testListAuditBySubject(t *testing.T, open Opener) {
	s := open(t)
	all := appendManySubjects(t, s)
	owners, codes, people := manySubjects()
	found := 0
	for _, owner := range owners {
		for _, subject := range people {
			f := store.AuditFilter{Owner: owner, Subject: subject}
			found += len(checkSubjectList(t, s, all, f))
			for _, code := range codes[owner] {
				f.Code = code
				checkSubjectList(t, s, all, f)
			}
			f.Code, f.From, f.To = "", t0().Add(37*time.Minute), t0().Add(211*time.Minute)
			checkSubjectList(t, s, all, f)
			f.To = time.Time{}
			checkSubjectList(t, s, all, f)
			f.From, f.AfterChain, f.AfterSeq = time.Time{}, "a", 40
			checkSubjectList(t, s, all, f)
		}
	}
	if found != len(all) {
		t.Errorf("the lists by owner and subject hold %d events, want all %d once", found, len(all))
	}
}

// checkSubjectList compares ListAudit, CountAudit and paging by 3 for f with a filter
// of all, and returns the list.
func checkSubjectList(t *testing.T, s store.Store, all []gateway.AuditEvent, f store.AuditFilter) []gateway.AuditEvent {
	t.Helper()
	ctx := context.Background()
	want := inListOrder(all, f)
	got, err := s.ListAudit(ctx, f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	if len(got) != 0 || len(want) != 0 {
		equal(t, fmt.Sprintf("ListAudit(%+v)", f), got, want)
	}
	unpaged := f
	unpaged.AfterChain, unpaged.AfterSeq = "", 0
	if n, err := s.CountAudit(ctx, f); err != nil || n != len(inListOrder(all, unpaged)) {
		t.Errorf("CountAudit(%+v) = %d, %v; want %d", f, n, err, len(inListOrder(all, unpaged)))
	}
	var paged []gateway.AuditEvent
	page := f
	page.Limit = 3
	for range len(want)/3 + 2 {
		evs, err := s.ListAudit(ctx, page)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", page, err)
		}
		if len(evs) > page.Limit {
			t.Fatalf("ListAudit(%+v) returned %d events", page, len(evs))
		}
		if len(evs) == 0 {
			break
		}
		paged = append(paged, evs...)
		page.AfterChain, page.AfterSeq = evs[len(evs)-1].Chain, evs[len(evs)-1].Seq
	}
	if len(paged) != 0 || len(want) != 0 {
		equal(t, fmt.Sprintf("pages of 3 of ListAudit(%+v)", f), paged, want)
	}
	return got
}
