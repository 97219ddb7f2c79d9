package sharing

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
)

const (
	zhangWei = "310115198503120012"
	liNa     = "310115199001010029"
)

func TestTrackerRules(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0.Add(time.Hour)}
	var caller *gateway.Caller
	svc := newServiceWith(t, clk, Options{
		Consumers: []config.Consumer{
			{Name: "ipudong-portal", Description: "the portal", Purpose: "citizen-self-service", SelfService: true},
			{Name: "supervision-platform", Description: "market supervision", Purpose: "market-supervision"},
		},
		Purposes: []config.Purpose{{Name: "case-investigation", Confidential: true, Consumers: []string{"supervision-platform"}, DiscloseAfter: 24 * time.Hour}},
	})
	ev := func(i int, consumer, purpose, code, owner string, d gateway.Outcome) gateway.AuditEvent {
		return gateway.AuditEvent{At: t0.Add(time.Duration(i) * time.Minute), Consumer: consumer, EndUser: "clerk-" + consumer,
			Purpose: purpose, RequestID: "req-" + string(rune('a'+i)), Code: code, Owner: owner, Subject: zhangWei, Decision: d}
	}
	evs := []gateway.AuditEvent{
		// 张伟 reading his own name: not someone else's access.
		ev(0, "ipudong-portal", "citizen-self-service", "310115-PSB-RK01-002", "psb", gateway.Allow),
		// Another citizen reading his credit record, shared with everyone: an access.
		ev(1, "ipudong-portal", "citizen-self-service", "310115-CREDIT-XY01-002", "credit", gateway.Allow),
		// An investigation, disclosed a day later.
		ev(2, "supervision-platform", "case-investigation", "310115-PSB-RK01-002", "psb", gateway.Masked),
		// A purpose the configuration does not list: free text that must not show.
		ev(3, "supervision-platform", "complaint by 李娜 "+liNa, "310115-PSB-RK01-002", "psb", gateway.Masked),
	}
	if err := svc.store.AppendAudit(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	caller = &gateway.Caller{Consumer: "ipudong-portal", CitizenID: zhangWei, Subject: "citizen-0012"}

	conn, err := svc.MyDataAccess(as(caller), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(conn)
	if conn.TotalCount != 2 {
		t.Fatalf("before disclosure: %d accesses, want the credit read and the unlisted purpose: %s", conn.TotalCount, b)
	}
	if first := conn.Edges[0].Node; first.Consumer != "supervision-platform" || first.Purpose != nil {
		t.Errorf("newest access %s: want the supervision platform with its unlisted purpose hidden", b)
	}
	if second := conn.Edges[1].Node; second.Consumer != "ipudong-portal" || second.Items[0].Code != "310115-CREDIT-XY01-002" {
		t.Errorf("the other citizen's read of an unconditional item is missing: %s", b)
	}
	for _, leak := range []string{liNa, "李娜", "clerk-", "req-", "case-investigation"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("the tracker shows %q: %s", leak, b)
		}
	}

	caller = &gateway.Caller{Consumer: "cio-console", Roles: []string{gateway.RoleCIO}}
	w, err := svc.WithheldDataAccess(as(caller), nil, nil, nil)
	if err != nil || w.TotalCount != 1 || w.Items[0].DisclosedAt == nil || !w.Items[0].DisclosedAt.Equal(evs[2].At.Add(24*time.Hour)) {
		t.Fatalf("withheld before disclosure: %+v %v", w, err)
	}

	// A day later the investigation is disclosed, and no longer withheld.
	clk.t = t0.Add(25 * time.Hour)
	caller = &gateway.Caller{Consumer: "ipudong-portal", CitizenID: zhangWei}
	if conn, _ = svc.MyDataAccess(as(caller), nil, nil, nil, nil); conn.TotalCount != 3 || conn.Edges[1].Node.Purpose == nil || *conn.Edges[1].Node.Purpose != "case-investigation" {
		b, _ = json.Marshal(conn)
		t.Errorf("after disclosure: %s", b)
	}
	caller = &gateway.Caller{Consumer: "cio-console", Roles: []string{gateway.RoleCIO}}
	if w, _ = svc.WithheldDataAccess(as(caller), nil, nil, nil); w.TotalCount != 0 {
		t.Errorf("still withheld after disclosure: %+v", w)
	}

	// The window: from/to select by time; to before from is refused.
	caller = &gateway.Caller{Consumer: "ipudong-portal", CitizenID: zhangWei}
	from, to := t0.Add(90*time.Second), t0.Add(150*time.Second)
	if conn, _ = svc.MyDataAccess(as(caller), nil, nil, &from, &to); conn.TotalCount != 1 {
		t.Errorf("window [1m30s, 2m30s): %d accesses, want the investigation alone", conn.TotalCount)
	}
	if _, err := svc.MyDataAccess(as(caller), nil, nil, &to, &from); err == nil {
		t.Error("to before from: no error")
	}
}

// TestTrackerPagesAcrossChains: a citizen's accesses on several replicas' chains, more
// than one page of them on one owner's codes, are each listed once.
func TestTrackerPagesAcrossChains(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	svc := newServiceWith(t, &clock{t: t0.Add(time.Hour)}, Options{})
	const per = trackerPage + trackerPage/2 // one and a half pages on each chain
	for c, chain := range []string{"", "replica-a", "replica-b"} {
		batch := make([]gateway.AuditEvent, per)
		for i := range batch {
			batch[i] = gateway.AuditEvent{At: t0.Add(time.Duration(c*per+i) * time.Millisecond), Consumer: "online-hall",
				Purpose: "administrative-approval", RequestID: fmt.Sprint("req-", c, "-", i), Code: "310115-PSB-RK01-002",
				Owner: "psb", Subject: zhangWei, Decision: gateway.Allow, Chain: chain}
		}
		if err := svc.store.AppendAudit(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	caller := &gateway.Caller{Consumer: "ipudong-portal", CitizenID: zhangWei}
	conn, err := svc.MyDataAccess(as(caller), nil, nil, nil, nil)
	if err != nil || conn.TotalCount != 3*per {
		t.Fatalf("%v; %d accesses, want %d", err, conn.TotalCount, 3*per)
	}
}

// BenchmarkMyDataAccess reads one citizen's tracker from a trail of 100,000 events on
// four departments' codes, 400 of them about the citizen.
func BenchmarkMyDataAccess(b *testing.B) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var caller *gateway.Caller
	svc := newServiceWith(b, &clock{t: t0.Add(time.Hour)}, Options{})
	codes := []struct{ code, owner string }{{"310115-PSB-RK01-002", "psb"}, {"310115-HRSS-SB01-001", "hrss"},
		{"310115-CREDIT-XY01-006", "credit"}, {"310115-HRSS-SB02-001", "hrss"}}
	batch := make([]gateway.AuditEvent, 1000)
	for n := 0; n < 100; n++ {
		for i := range batch {
			c := codes[i%len(codes)]
			subject := fmt.Sprintf("3101151985%08d", (n*1000+i)%50000)
			if i%250 == 0 {
				subject = zhangWei
			}
			batch[i] = gateway.AuditEvent{At: t0.Add(time.Duration(n*1000+i) * time.Millisecond), Consumer: "online-hall",
				Purpose: "administrative-approval", RequestID: fmt.Sprint("req-", n, "-", i/10), Code: c.code, Owner: c.owner,
				Subject: subject, Decision: gateway.Allow}
		}
		if err := svc.store.AppendAudit(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	caller = &gateway.Caller{Consumer: "ipudong-portal", CitizenID: zhangWei}
	b.ResetTimer()
	for range b.N {
		conn, err := svc.MyDataAccess(as(caller), nil, nil, nil, nil)
		if err != nil || conn.TotalCount != 400 {
			b.Fatalf("%v, %d accesses", err, conn.TotalCount)
		}
	}
}
