package sharing

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/store/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T, clk *clock) *Service {
	t.Helper()
	return newServiceWith(t, clk, Options{
		Consumers: []config.Consumer{{Name: "online-hall", Purpose: "administrative-approval",
			Grants: []config.Grant{{Purpose: "administrative-approval", Codes: []string{"310115-PSB-RK01-002"}}}}},
	})
}

// newServiceWith is a service on the demo catalogue and a fresh store, with o's
// consumers and purposes.
func newServiceWith(t testing.TB, clk *clock, o Options) *Service {
	t.Helper()
	data, err := os.ReadFile("../config/demo/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := policy.ParseCatalog(data, "catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	governed := map[string]string{}
	for _, e := range entries {
		governed[e.Field] = e.Code
	}
	cat, err := policy.NewCatalog(entries, governed)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.Store, o.Catalog, o.DeadlineDays, o.Now = st, cat, 5, clk.now
	svc, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestAddWorkingDays(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	fri := time.Date(2026, 11, 27, 10, 0, 0, 0, cst)
	if got := AddWorkingDays(fri, 5).In(cst); got.Weekday() != time.Friday || got.Day() != 4 {
		t.Errorf("five working days after Friday 27 November: %v", got)
	}
	if got := AddWorkingDays(fri, 1).In(cst); got.Weekday() != time.Monday {
		t.Errorf("one working day after a Friday is Monday: %v", got)
	}
}

// A request undecided past its deadline is OVERDUE; the CIO office sees it and the
// statistics count answers on time and late.
func TestOverdueAndStatistics(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)} // a Monday
	caller := &gateway.Caller{Consumer: "playground", Purpose: "exploration", Subject: "dev"}
	svc := newService(t, clk)
	reqs, err := svc.RequestSharing(as(caller), model.SharingRequestInput{Codes: []string{"310115-PSB-RK01-003", "310115-HRSS-SB01-001"}, Justification: "x"})
	if err != nil || len(reqs) != 2 {
		t.Fatalf("request: %v %v", reqs, err)
	}
	byDept := map[string]string{}
	for _, r := range reqs {
		byDept[r.Department] = r.ID
		if want := time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC); !r.Deadline.Equal(want) {
			t.Errorf("deadline %v, want five working days later %v", r.Deadline, want)
		}
	}
	// hrss answers on day 3; psb never does.
	clk.t = clk.t.Add(72 * time.Hour)
	caller = &gateway.Caller{Consumer: "hrss-console", Dept: "hrss", Roles: []string{gateway.RoleApprover}, Subject: "approver-1"}
	if _, err := svc.DecideSharingRequest(as(caller), byDept["hrss"], true, nil, nil); err != nil {
		t.Fatal(err)
	}
	clk.t = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	caller = &gateway.Caller{Consumer: "cio-console", Roles: []string{gateway.RoleCIO}, Subject: "cio"}
	overdue := model.SharingRequestStatusOverdue
	list, err := svc.SharingRequests(as(caller), &overdue)
	if err != nil || len(list) != 1 || list[0].ID != byDept["psb"] || list[0].Status != model.SharingRequestStatusOverdue {
		t.Fatalf("overdue requests: %+v %v", list, err)
	}
	pending := model.SharingRequestStatusPending
	if list, _ := svc.SharingRequests(as(caller), &pending); len(list) != 0 {
		t.Errorf("an overdue request is not listed as pending: %+v", list)
	}
	stats, err := svc.SharingStats(as(caller))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		switch s.Department {
		case "psb":
			if s.Overdue != 1 || s.RequestsReceived != 1 || s.Conditional != 6 || s.NotShared != 1 {
				t.Errorf("psb: %+v", s)
			}
		case "hrss":
			if s.Approved != 1 || s.AnsweredOnTime != 1 || s.Overdue != 0 {
				t.Errorf("hrss: %+v", s)
			}
		case "amr":
			// The legal representative's name is a copy of psb's name: as strict as it.
			if s.Unconditional != 7 || s.Conditional != 1 {
				t.Errorf("amr: %+v", s)
			}
		}
	}
	// A late decision is recorded but not on time.
	caller = &gateway.Caller{Consumer: "psb-console", Dept: "psb", Roles: []string{gateway.RoleApprover}, Subject: "approver-2"}
	if _, err := svc.DecideSharingRequest(as(caller), byDept["psb"], false, nil, nil); err != nil {
		t.Fatal(err)
	}
	caller = &gateway.Caller{Consumer: "cio-console", Roles: []string{gateway.RoleCIO}}
	stats, _ = svc.SharingStats(as(caller))
	for _, s := range stats {
		if s.Department == "psb" && (s.Rejected != 1 || s.AnsweredOnTime != 0 || s.Overdue != 0) {
			t.Errorf("psb after a late rejection: %+v", s)
		}
	}
}

// Static grants must name conditional codes of the catalogue.
func TestStaticGrantsAreChecked(t *testing.T) {
	clk := &clock{t: time.Now()}
	svc := newService(t, clk)
	if g := svc.Grants().Find("online-hall", "administrative-approval", "310115-PSB-RK01-002", time.Now()); g == nil {
		t.Error("the configured grant is in force")
	}
	_, err := New(context.Background(), Options{Store: svc.store, Catalog: svc.catalog,
		Consumers: []config.Consumer{{Name: "x", Grants: []config.Grant{{Purpose: "p", Codes: []string{"310115-PSB-RK01-007", "nope"}}}}}})
	if err == nil {
		t.Error("a static grant of a NONE code or an unknown code must be refused")
	}
}

// as is a request context whose verified caller is c.
func as(c *gateway.Caller) context.Context { return gateway.WithCaller(context.Background(), c) }
