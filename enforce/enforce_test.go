package enforce

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/ratelimit"
)

type grantList []gateway.Grant

func (g grantList) Find(consumer, purpose, code string, now time.Time) *gateway.Grant {
	for i := range g {
		if g[i].Covers(consumer, purpose, code, now) {
			return &g[i]
		}
	}
	return nil
}

// One datum, one policy: each copy is decided, masked and audited as its source, per
// value where the catalogue says so.
func TestCopiesResolveToTheirSource(t *testing.T) {
	s := loadSchema(t, "")
	e := New(Options{Catalog: demoCatalog(t, s)})
	e2 := &federation.Enterprise{CreditCode: dataset.E2, Record: adapters.Record{"legalRepresentativeId": dataset.WangQiang}}
	person := &federation.CreditRecord{Record: adapters.Record{"subjectId": dataset.WangQiang}}
	firm := &federation.CreditRecord{Record: adapters.Record{"subjectId": dataset.E2}}
	hall := grantList{{ID: "g1", Consumer: "online-hall", Purpose: "approval", Codes: []string{"310115-PSB-RK01-001", "310115-PSB-RK01-002"}}}
	for _, tc := range []struct {
		name      string
		code      string
		obj       any
		caller    gateway.Caller
		wantCode  string
		wantSubj  string
		outcome   gateway.Outcome
		wantAudit bool
	}{
		{"legal representative's name, playground", "310115-AMR-QY01-003", e2, gateway.Caller{Consumer: "playground"}, "310115-PSB-RK01-002", dataset.WangQiang, gateway.Masked, true},
		{"legal representative's name, with a grant on the source", "310115-AMR-QY01-003", e2, gateway.Caller{Consumer: "online-hall", Purpose: "approval"}, "310115-PSB-RK01-002", dataset.WangQiang, gateway.Allow, true},
		{"legal representative's name, the holder", "310115-AMR-QY01-003", e2, gateway.Caller{Consumer: "amr-console", Dept: "amr"}, "310115-PSB-RK01-002", dataset.WangQiang, gateway.Allow, true},
		{"legal representative's name, the source's owner", "310115-AMR-QY01-003", e2, gateway.Caller{Consumer: "psb-console", Dept: "psb"}, "310115-PSB-RK01-002", dataset.WangQiang, gateway.Allow, true},
		{"legal representative's name, himself", "310115-AMR-QY01-003", e2, gateway.Caller{Consumer: "ipudong-portal", CitizenID: dataset.WangQiang}, "310115-PSB-RK01-002", dataset.WangQiang, gateway.Allow, true},
		{"a person's subject ID", "310115-CREDIT-XY01-003", person, gateway.Caller{Consumer: "playground"}, "310115-PSB-RK01-001", dataset.WangQiang, gateway.Masked, true},
		{"an enterprise's subject ID", "310115-CREDIT-XY01-003", firm, gateway.Caller{Consumer: "playground"}, "310115-CREDIT-XY01-003", dataset.E2, gateway.Allow, false},
		{"a person's credit title: unconditional, audited", "310115-CREDIT-XY01-005", person, gateway.Caller{Consumer: "playground"}, "310115-CREDIT-XY01-005", dataset.WangQiang, gateway.Allow, true},
		{"a person's credit title, himself: not audited", "310115-CREDIT-XY01-005", person, gateway.Caller{Consumer: "ipudong-portal", CitizenID: dataset.WangQiang}, "310115-CREDIT-XY01-005", dataset.WangQiang, gateway.Allow, false},
		{"a person's credit title, the owner: not audited", "310115-CREDIT-XY01-005", person, gateway.Caller{Consumer: "credit-console", Dept: "credit"}, "310115-CREDIT-XY01-005", dataset.WangQiang, gateway.Allow, false},
		{"an enterprise's name: not personal", "310115-AMR-QY01-002", e2, gateway.Caller{Consumer: "playground"}, "310115-AMR-QY01-002", dataset.E2, gateway.Allow, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &state{caller: &tc.caller, grants: hall, now: time.Now()}
			tg := e.resolve(e.catalog.ByCode(tc.code), tc.obj)
			d := st.decide(tg)
			if tg.entry.Code != tc.wantCode || tg.subject.ID != tc.wantSubj || d.Outcome != tc.outcome || st.auditDue(tg, d) != tc.wantAudit {
				t.Errorf("decided as %s about %s: %s, audit %v; want %s about %s: %s, audit %v",
					tg.entry.Code, tg.subject.ID, d.Outcome, st.auditDue(tg, d), tc.wantCode, tc.wantSubj, tc.outcome, tc.wantAudit)
			}
		})
	}
}

// A grant to a self-service app never opens another citizen's data.
func TestGrantsDoNotApplyToSelfService(t *testing.T) {
	s := loadSchema(t, "")
	cat := demoCatalog(t, s)
	grants := grantList{{ID: "g", Consumer: "ipudong-portal", Purpose: "p", Codes: []string{"310115-PSB-RK01-003"}}}
	c := &gateway.Caller{Consumer: "ipudong-portal", Purpose: "p", CitizenID: dataset.LiNa}
	d := policy.Decide(c, cat.ByCode("310115-PSB-RK01-003"), policy.Subject{ID: dataset.ZhangWei, Person: dataset.ZhangWei}, grants, time.Now())
	if d.Outcome != gateway.Deny {
		t.Errorf("李娜 sees 张伟's gender through a grant to the portal: %+v", d)
	}
}

// The budget counts distinct people per request and per minute, not their fields, nor
// the same person read again in the minute.
func TestBudgetCountsDistinctPeople(t *testing.T) {
	b := NewLimiterBudget(ratelimit.NewLocal(10), func(string) SubjectLimit { return SubjectLimit{PerRequest: 3, PerMinute: 4} })
	e := New(Options{Catalog: demoCatalog(t, loadSchema(t, "")), Budget: b})
	c := &gateway.Caller{Consumer: "playground", Subject: "dev"}
	ctx := context.Background()
	st := &state{caller: c}
	people := []string{dataset.ZhangWei, dataset.LiNa, dataset.WangQiang, dataset.ChenJing}
	allow := policy.Decision{Outcome: gateway.Allow, Rule: policy.RuleUnconditional}
	for i, p := range people[:3] {
		for range 5 { // many fields of one person count once
			if err := e.touch(ctx, st, target{subject: policy.Subject{ID: p, Person: p}}, allow); err != nil {
				t.Fatalf("person %d: %v", i, err)
			}
		}
	}
	if err := e.touch(ctx, st, target{subject: policy.Subject{ID: people[3], Person: people[3]}}, allow); err == nil {
		t.Error("a fourth person in one request passed a per-request bound of 3")
	}
	st2 := &state{caller: c}
	if err := e.touch(ctx, st2, target{subject: policy.Subject{ID: people[3], Person: people[3]}}, allow); err != nil {
		t.Errorf("the fourth person of the minute: %v", err)
	}
	st3 := &state{caller: c}
	if err := e.touch(ctx, st3, target{subject: policy.Subject{ID: dataset.LiuYang, Person: dataset.LiuYang}}, allow); err == nil {
		t.Error("a fifth person in a minute passed a bound of 4")
	}
	// People already reached within the minute do not count again in later requests.
	for i, p := range people {
		again := &state{caller: c}
		if err := e.touch(ctx, again, target{subject: policy.Subject{ID: p, Person: p}}, allow); err != nil {
			t.Errorf("person %d read again within the minute: %v", i, err)
		}
	}
	// Another end user of the same consumer has a budget and a memory of its own.
	other := &state{caller: &gateway.Caller{Consumer: "playground", Subject: "dev2"}}
	if err := e.touch(ctx, other, target{subject: policy.Subject{ID: people[0], Person: people[0]}}, allow); err != nil {
		t.Errorf("another end user: %v", err)
	}
	// The caller's own data and the owner's reads are not counted.
	self := &state{caller: &gateway.Caller{Consumer: "ipudong-portal", Subject: "x", CitizenID: dataset.LiuYang}}
	if err := e.touch(ctx, self, target{subject: policy.Subject{ID: dataset.LiuYang, Person: dataset.LiuYang}}, allow); err != nil {
		t.Errorf("own data counted: %v", err)
	}
}

// A person counted a minute ago counts again: the memory of people reached lasts as long
// as the bucket takes to refill.
func TestBudgetForgetsAfterAMinute(t *testing.T) {
	lim := ratelimit.NewLocal(10)
	b := NewLimiterBudget(lim, func(string) SubjectLimit { return SubjectLimit{PerMinute: 1} })
	now := time.Unix(1_800_000_000, 0)
	b.now = func() time.Time { return now }
	c := &gateway.Caller{Consumer: "playground", Subject: "dev"}
	ctx := context.Background()
	if ok, _ := b.Take(ctx, c, dataset.ZhangWei); !ok {
		t.Fatal("the first person of the minute was refused")
	}
	if ok, _ := b.Take(ctx, c, dataset.ZhangWei); !ok {
		t.Fatal("the same person again within the minute was refused")
	}
	if ok, _ := b.Take(ctx, c, dataset.LiNa); ok {
		t.Fatal("a second person passed a bound of one a minute")
	}
	now = now.Add(budgetMemory)
	// Only the memory's clock moved; the bucket, on the wall clock, is still empty, so
	// 张伟 must take from it again and is refused like anyone new.
	if ok, _ := b.Take(ctx, c, dataset.ZhangWei); ok {
		t.Fatal("a person counted a minute ago passed without taking from the budget")
	}
}

type recorded struct{ events []gateway.AuditEvent }

func (r *recorded) Record(_ context.Context, evs []gateway.AuditEvent) error {
	r.events = append(r.events, evs...)
	return nil
}

// The audit records what was delivered: when a failure nulls the whole answer, the
// allowed and masked reads of its execution reached nobody, and only refusals are kept.
func TestAuditRecordsOnlyWhatWasDelivered(t *testing.T) {
	cat := demoCatalog(t, loadSchema(t, ""))
	for _, tc := range []struct {
		name string
		resp *graphql.Response
		want []gateway.Outcome
	}{
		{"delivered", &graphql.Response{Data: []byte(`{"citizen":{"name":"张*"}}`)}, []gateway.Outcome{gateway.Masked, gateway.Deny}},
		{"nulled whole", &graphql.Response{Data: []byte(`null`), Errors: gqlerror.List{{Message: "store down"}}}, []gateway.Outcome{gateway.Deny}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorded{}
			e := New(Options{Catalog: cat, Recorder: rec})
			ctx := gateway.WithCaller(context.Background(), &gateway.Caller{Consumer: "playground"})
			h := e.InterceptOperation(ctx, func(ctx context.Context) graphql.ResponseHandler {
				st := stateFrom(ctx)
				p := policy.Subject{ID: dataset.ZhangWei, Person: dataset.ZhangWei}
				st.record(cat.ByCode("310115-PSB-RK01-002"), p, policy.Decision{Outcome: gateway.Masked})
				st.record(cat.ByCode("310115-PSB-RK01-007"), p, policy.Decision{Outcome: gateway.Deny})
				return func(context.Context) *graphql.Response { return tc.resp }
			})
			h(ctx)
			var got []gateway.Outcome
			for _, ev := range rec.events {
				got = append(got, ev.Decision)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
		})
	}
}

// person is an entity about one person, as the resolvers' models are.
type person string

func (p person) AuditSubject() string { return string(p) }

// A refusal is audited as a refusal: a lookup refused for masked access, and a lookup, a
// join or a read refused by the budget of people, leave a DENY event — what the caller
// got — never the ALLOW or MASK the policy alone would have given.
func TestRefusalsAreAuditedAsRefusals(t *testing.T) {
	cat := demoCatalog(t, loadSchema(t, ""))
	b := NewLimiterBudget(ratelimit.NewLocal(10), func(string) SubjectLimit { return SubjectLimit{PerRequest: 1} })
	rec := &recorded{}
	e := New(Options{Catalog: cat, Recorder: rec, Budget: b})
	ctx := gateway.WithCaller(context.Background(), &gateway.Caller{Consumer: "playground", Subject: "dev"})
	yes, no := true, false
	var errs []error
	h := e.InterceptOperation(ctx, func(ctx context.Context) graphql.ResponseHandler {
		arg := func(v string) graphql.Resolver { return func(context.Context) (any, error) { return v, nil } }
		read := func(context.Context) (any, error) { s := "张伟"; return &s, nil }
		_, filter := e.Lookup(ctx, nil, arg(dataset.ZhangWei), "310115-PSB-RK01-001", &no) // masked: no filtering
		_, key := e.Lookup(ctx, nil, arg(dataset.LiNa), "310115-PSB-RK01-001", &yes)       // the one person allowed
		_, over := e.Lookup(ctx, nil, arg(dataset.WangQiang), "310115-PSB-RK01-001", &yes) // a second person
		_, overRead := e.Share(ctx, person(dataset.ChenJing), read, "310115-PSB-RK01-002")
		errs = []error{filter, key, over, overRead}
		return func(context.Context) *graphql.Response { return &graphql.Response{Data: []byte(`{}`)} }
	})
	h(ctx)
	for i, want := range []string{CodeForbiddenArgument, "", CodeSubjectLimit, CodeSubjectLimit} {
		got := ""
		if ge, ok := errs[i].(*gqlerror.Error); ok {
			got, _ = ge.Extensions["code"].(string)
		} else if errs[i] != nil {
			got = errs[i].Error()
		}
		if got != want {
			t.Errorf("call %d: error %q, want %q", i, got, want)
		}
	}
	want := map[string]gateway.Outcome{dataset.ZhangWei: gateway.Deny, dataset.LiNa: gateway.Masked,
		dataset.WangQiang: gateway.Deny, dataset.ChenJing: gateway.Deny}
	got := map[string]gateway.Outcome{}
	for _, ev := range rec.events {
		got[ev.Subject] = ev.Decision
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(rec.events) != len(want) {
		t.Errorf("recorded %v (%d events), want %v", got, len(rec.events), want)
	}
}
