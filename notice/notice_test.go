package notice

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
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
	s := New(Options{DB: db, Signer: fakeSigner{}, MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: 3 * time.Second, Now: clock,
		Consumer: func(string) *config.Consumer { return &config.Consumer{Name: "sup", Watch: true, Webhook: srv.URL} }})
	if got := []time.Duration{s.backoff(1), s.backoff(2), s.backoff(3), s.backoff(50)}; !slices.Equal(got, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}) {
		t.Errorf("back-off %v", got)
	}
	ctx := context.Background()
	db.AddWatches(ctx, "sup", []string{"A"}, now)
	ws, _ := db.Watches(ctx, "sup", time.Time{}, 0)
	db.Checked(ctx, ws[0], "{}", now, []Notice{{ID: "NT-1", Consumer: "sup", Subject: "A", Change: StatusChanged, Body: []byte(`{}`), Status: Pending, CreatedAt: now}})
	for range 5 {
		s.Deliver(ctx)
		now = now.Add(10 * time.Second) // past any back-off
	}
	ns, _ := db.Notices(ctx, "sup", "", "", 10)
	if hits.Load() != 3 || len(ns) != 1 || ns[0].Status != Failed || ns[0].Attempts != 3 {
		t.Errorf("after 5 passes: %d tries, %+v", hits.Load(), ns)
	}
}
