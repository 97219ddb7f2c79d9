package notice

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/policy"
)

// Every kind of change is found, and nothing else: an unchanged read, and an aspect a
// failed department left as it was, are not news.
func TestDiff(t *testing.T) {
	old := state{Credit: []string{"c1", "c2"}, Status: "1", Insurance: map[string]string{"PENSION": "ACTIVE|E1", "MEDICAL": "ACTIVE|E1"}}
	same := read{state: old}
	if ch := diff(old, same); len(ch) != 0 {
		t.Errorf("no change: %+v", ch)
	}
	r := read{
		state:   state{Credit: []string{"c2", "c3"}, Status: "4", Insurance: map[string]string{"PENSION": "STOPPED|E1", "UNEMPLOYMENT": "ACTIVE|E2"}},
		credit:  map[string]adapters.Record{"c3": {"id": "c3", "kind": "PENALTY", "title": "t", "content": "x"}},
		insured: map[string]adapters.Record{"PENSION": {"insuranceType": "PENSION", "status": "STOPPED"}, "UNEMPLOYMENT": {"insuranceType": "UNEMPLOYMENT", "status": "ACTIVE"}},
	}
	var kinds []string
	for _, c := range diff(old, r) {
		kinds = append(kinds, c.kind)
		if c.kind == CreditRecordAdded && !slices.Contains(c.fields, field{"CreditRecord.content", "x"}) {
			t.Errorf("added record's fields: %+v", c.fields)
		}
	}
	want := []string{CreditRecordAdded, CreditRecordRemoved, StatusChanged, InsuranceChanged, InsuranceStarted, InsuranceEnded}
	if !slices.Equal(kinds, want) {
		t.Errorf("changes %v, want %v", kinds, want)
	}
	// An enterprise the registry did not answer for keeps its status: no change.
	if ch := diff(old, read{state: state{Credit: old.Credit, Status: "", Insurance: old.Insurance}}); len(ch) != 0 {
		t.Errorf("a missing status is not a change: %+v", ch)
	}
}

type fakeSigner struct{}

func (fakeSigner) Sign(p []byte) (string, error) { return "sig", nil }

// Delivery retries with doubling back-off and gives up after MaxAttempts; a consumer
// without a webhook polls.
func TestDeliveryBackoffIsBounded(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	db, err := Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "n.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	cat, err := policy.NewCatalog([]gateway.CatalogEntry{{Code: "A-4", Field: "Enterprise.status", Owner: "amr", Class: gateway.Unconditional}},
		map[string]string{"Enterprise.status": "A-4"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{DB: db, Catalog: cat, Signer: fakeSigner{}, MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: 3 * time.Second, Now: clock,
		Consumer: func(string) *config.Consumer { return &config.Consumer{Name: "sup", Watch: true, Webhook: srv.URL} }})
	if got := []time.Duration{s.backoff(1), s.backoff(2), s.backoff(3), s.backoff(50)}; !slices.Equal(got, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}) {
		t.Errorf("back-off %v", got)
	}
	ctx := context.Background()
	db.AddWatches(ctx, "sup", []string{"A"}, now)
	ws, _ := db.Watches(ctx, "sup", time.Time{}, 0)
	db.Checked(ctx, ws[0], "{}", now, []Notice{{ID: "NT-1", Consumer: "sup", Subject: "A", Change: StatusChanged, Body: []byte(`{"subject":"A","change":"STATUS_CHANGED","values":[]}`), Status: Pending, CreatedAt: now}})
	for range 5 {
		s.Deliver(ctx)
		now = now.Add(10 * time.Second) // past any back-off
	}
	ns, _ := db.Notices(ctx, "sup", "", "", 10)
	if hits.Load() != 3 || len(ns) != 1 || ns[0].Status != Failed || ns[0].Attempts != 3 {
		t.Errorf("after 5 passes: %d tries, %+v", hits.Load(), ns)
	}
}

// A notice shows each value as the watcher's policy does and audits it as a read of the
// person (the unconditional ones too, and the ID number its credit records were found
// by); a change of a datum the watcher may not see (a person's insurance without a
// grant) yields no notice at all, only the audited denial.
func TestNoticesPassThePolicy(t *testing.T) {
	entries := []gateway.CatalogEntry{
		{Code: "P-1", Field: "Citizen.idNumber", Owner: "psb", Class: gateway.Conditional, Mask: gateway.MaskID},
		{Code: "C-1", Field: "CreditRecord.id", Owner: "credit", Class: gateway.Unconditional},
		{Code: "C-3", Field: "CreditRecord.subjectId", Owner: "credit", Class: gateway.Unconditional, Copy: &gateway.Copy{Of: "P-1", PersonOnly: true}},
		{Code: "C-6", Field: "CreditRecord.content", Owner: "credit", Class: gateway.Conditional},
		{Code: "C-9", Field: "CreditRecord.title", Owner: "credit", Class: gateway.Conditional, Mask: gateway.MaskName},
		{Code: "H-1", Field: "SocialInsurance.insuranceType", Owner: "hrss", Class: gateway.Conditional},
		{Code: "H-2", Field: "SocialInsurance.status", Owner: "hrss", Class: gateway.Conditional},
	}
	governed := map[string]string{}
	for _, e := range entries {
		governed[e.Field] = e.Code
	}
	cat, err := policy.NewCatalog(entries, governed)
	if err != nil {
		t.Fatal(err)
	}
	grants := policy.NewGrantIndex([]gateway.Grant{{ID: "G1", Consumer: "sup", Purpose: "market-supervision", Codes: []string{"C-6", "P-1"}}})
	s := New(Options{Catalog: cat, Grants: func() policy.Grants { return grants },
		Consumer: func(string) *config.Consumer {
			return &config.Consumer{Name: "sup", Purpose: "market-supervision", Watch: true}
		}})
	c := s.watcherCaller("sup")
	old := state{Credit: []string{}, Insurance: map[string]string{"PENSION": "ACTIVE|E1"}}
	r := read{
		state:   state{Credit: []string{"c1"}, Insurance: map[string]string{"PENSION": "STOPPED|E1"}},
		credit:  map[string]adapters.Record{"c1": {"id": "c1", "title": "罚款决定", "content": "罚款一万元"}},
		insured: map[string]adapters.Record{"PENSION": {"insuranceType": "PENSION", "status": "STOPPED"}},
	}
	ns, events, err := s.noticesFor(c, Watch{Consumer: "sup", Subject: "310115198503120012"}, old, r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Change != CreditRecordAdded || ns[0].Status != Poll {
		t.Fatalf("notices %+v", ns)
	}
	var b Body
	json.Unmarshal(ns[0].Body, &b)
	got := map[string]string{}
	for _, v := range b.Values {
		val := "<nil>"
		if v.Value != nil {
			val = *v.Value
		}
		got[v.Field] = v.Access + " " + val
	}
	if got["CreditRecord.content"] != "ALLOW 罚款一万元" || got["CreditRecord.title"] != "MASK 罚***" || got["CreditRecord.id"] != "ALLOW c1" {
		t.Errorf("values %v", got)
	}
	audited := map[string]gateway.Outcome{}
	for _, e := range events {
		audited[e.Code] = e.Decision
		if e.Consumer != "sup" || e.Subject != "310115198503120012" {
			t.Errorf("event %+v", e)
		}
	}
	if audited["C-1"] != gateway.Allow || audited["C-6"] != gateway.Allow || audited["C-9"] != gateway.Masked || audited["H-2"] != gateway.Deny ||
		audited["P-1"] != gateway.Allow || len(audited) != 5 {
		t.Errorf("audited %v", audited)
	}
}

// Following a person is a lookup by their ID number: a watcher that may not see ID
// numbers even masked may not watch persons, and is told which.
func TestWatchingAPersonNeedsTheIDNumber(t *testing.T) {
	cat, err := policy.NewCatalog([]gateway.CatalogEntry{{Code: "P-1", Field: "Citizen.idNumber", Owner: "psb", Class: gateway.Conditional}},
		map[string]string{"Citizen.idNumber": "P-1"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "n.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(Options{DB: db, Catalog: cat,
		Consumer: func(string) *config.Consumer { return &config.Consumer{Name: "sup", Watch: true} }})
	ctx := gateway.WithCaller(context.Background(), &gateway.Caller{Consumer: "sup", Purpose: "market-supervision"})
	_, err = s.Watch(ctx, []string{"310115198503120012"})
	if err == nil || !strings.Contains(err.Error(), "310115********0012") || strings.Contains(err.Error(), "310115198503120012") {
		t.Errorf("watching a person without the ID number: %v", err)
	}
	if _, err := s.Watch(ctx, []string{"91310115MA1FL0AB0P"}); err != nil {
		t.Errorf("an enterprise: %v", err)
	}
}
