package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// AppendBatch is the events of one append as the recorder's group commits make them:
// events events on the codes of three owners, about subjects people (answers of 12
// events about one person each give events/12; subjects = events is a sweep, every event
// about another person).
func AppendBatch(events, subjects int) []gateway.AuditEvent {
	evs := make([]gateway.AuditEvent, events)
	for i := range evs {
		evs[i] = gateway.AuditEvent{
			At: time.Now(), Consumer: "online-hall", EndUser: "clerk-7", Purpose: "administrative-approval",
			RequestID: fmt.Sprintf("req-%d", i/12), Code: fmt.Sprintf("310115-PSB-RK01-%03d", i%12), Owner: []string{"psb", "hrss", "credit"}[i%3],
			Subject: fmt.Sprintf("3101151985%08d", i*subjects/events), Decision: gateway.Allow, GrantID: "GR-20261127-0000000001",
		}
	}
	return evs
}

// trackerOwners are the departments whose codes TrackerTrail's events are on.
func trackerOwners() []string { return []string{"psb", "hrss", "credit", "amr"} }

// TrackerCitizen is the person whose accesses ReadTracker reads.
const TrackerCitizen = "310115198503120012"

// TrackerTrail appends about 100,000 events as the recorder writes them: answers of 12
// events about one person each (three on each department's codes), ten answers to a
// commit. 8,340 answers are about 5,000 other people, and 40, spread over the trail,
// about TrackerCitizen; it returns how many events are about TrackerCitizen.
func TrackerTrail(tb testing.TB, s store.Store) int {
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	const answers, perCommit, own = 8380, 10, 40
	var batch []gateway.AuditEvent
	mine, owners := 0, trackerOwners()
	for a := range answers {
		subject := fmt.Sprintf("3101151990%08d", a%5000)
		if a%(answers/own) == answers/own/2 {
			subject = TrackerCitizen
			mine += 12
		}
		for i := range 12 {
			owner := owners[i%len(owners)]
			batch = append(batch, gateway.AuditEvent{
				At: t0.Add(time.Duration(a) * time.Second), Consumer: "online-hall", EndUser: "clerk-7",
				Purpose: "administrative-approval", RequestID: fmt.Sprintf("req-%d", a),
				Code: fmt.Sprintf("310115-%s-X01-%03d", owner, i), Owner: owner, Subject: subject, Decision: gateway.Allow,
			})
		}
		if len(batch) == 12*perCommit || a == answers-1 {
			if err := s.AppendAudit(context.Background(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return mine
}

// ReadTracker reads TrackerCitizen's accesses as the citizen's data tracker does
// (sharing/tracker.go): each department's events about the person, in pages of 1,000,
// and their count. It fails tb unless both find mine events.
func ReadTracker(tb testing.TB, s store.Store, mine int) {
	ctx := context.Background()
	found, counted := 0, 0
	for _, owner := range trackerOwners() {
		f := store.AuditFilter{Owner: owner, Subject: TrackerCitizen, Limit: 1000}
		for {
			evs, err := s.ListAudit(ctx, f)
			if err != nil {
				tb.Fatal(err)
			}
			found += len(evs)
			if len(evs) < f.Limit {
				break
			}
			f.AfterSeq, f.AfterChain = evs[len(evs)-1].Seq, evs[len(evs)-1].Chain
		}
		n, err := s.CountAudit(ctx, store.AuditFilter{Owner: owner, Subject: TrackerCitizen})
		if err != nil {
			tb.Fatal(err)
		}
		counted += n
	}
	if found != mine || counted != mine {
		tb.Fatalf("ListAudit found %d events and CountAudit counted %d; %d are about the person", found, counted, mine)
	}
}
