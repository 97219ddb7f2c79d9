package policy

import (
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

// The demo fixtures and consumers (docs/architecture.md, Demo data).
const (
	zhangWei  = "310115198503120012"
	liNa      = "310115199001010029"
	wangQiang = "310115197811200036"
	e1        = "91310115MA1FL0AB0P"
)

var (
	now = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

	psbName       = gateway.CatalogEntry{Code: "310115-PSB-RK01-002", Field: "Citizen.name", Owner: "psb", Class: gateway.Conditional, Mask: gateway.MaskName}
	psbGender     = gateway.CatalogEntry{Code: "310115-PSB-RK01-003", Field: "Citizen.gender", Owner: "psb", Class: gateway.Conditional}
	psbEthnicity  = gateway.CatalogEntry{Code: "310115-PSB-RK01-005", Field: "Citizen.ethnicity", Owner: "psb", Class: gateway.Conditional}
	psbPhone      = gateway.CatalogEntry{Code: "310115-PSB-RK01-007", Field: "Citizen.phone", Owner: "psb", Class: gateway.NotShared}
	amrName       = gateway.CatalogEntry{Code: "310115-AMR-QY01-002", Field: "Enterprise.name", Owner: "amr", Class: gateway.Unconditional}
	creditContent = gateway.CatalogEntry{Code: "310115-CREDIT-XY01-006", Field: "CreditRecord.content", Owner: "credit", Class: gateway.Conditional}
	hrssEmployer  = gateway.CatalogEntry{Code: "310115-HRSS-SB01-003", Field: "SocialInsurance.employer", Owner: "hrss", Class: gateway.Conditional}

	psbConsole  = &gateway.Caller{Consumer: "psb-console", Dept: "psb", Purpose: "department-administration"}
	portal      = &gateway.Caller{Consumer: "ipudong-portal", Purpose: "citizen-self-service", CitizenID: zhangWei}
	onlineHall  = &gateway.Caller{Consumer: "online-hall", Purpose: "administrative-approval"}
	supervision = &gateway.Caller{Consumer: "supervision-platform", Purpose: "market-supervision"}
	playground  = &gateway.Caller{Consumer: "playground", Purpose: "exploration"}
)

func testGrants() *GrantIndex {
	revokedEarlier := now.Add(-time.Hour)
	revokedLater := now.Add(time.Hour)
	return NewGrantIndex([]gateway.Grant{
		{ID: "g-hall", Consumer: "online-hall", Purpose: "administrative-approval", Department: "psb",
			Codes: []string{psbName.Code, hrssEmployer.Code, creditContent.Code, psbPhone.Code}},
		{ID: "g-expired", Consumer: "supervision-platform", Purpose: "market-supervision", Department: "psb",
			Codes: []string{psbGender.Code}, ValidUntil: now.Add(-time.Minute)},
		{ID: "g-revoked", Consumer: "supervision-platform", Purpose: "market-supervision", Department: "psb",
			Codes: []string{psbName.Code}, RevokedAt: &revokedEarlier},
		{ID: "g-revoking", Consumer: "supervision-platform", Purpose: "market-supervision", Department: "credit",
			Codes: []string{creditContent.Code}, RevokedAt: &revokedLater, ValidUntil: now.Add(time.Minute)},
	})
}

func TestDecide(t *testing.T) {
	grants := testGrants()
	about := func(id string) Subject { return Subject{ID: id, Person: id} }
	enterprise := Subject{ID: e1}

	tests := []struct {
		name    string
		caller  *gateway.Caller
		entry   *gateway.CatalogEntry
		subject Subject
		grants  Grants
		want    Decision
	}{
		{"owner reads its not-shared item", psbConsole, &psbPhone, about(liNa), grants,
			Decision{Outcome: gateway.Allow, Rule: RuleOwner}},
		{"owner does not extend to other departments", psbConsole, &hrssEmployer, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"citizen reads own not-shared phone", portal, &psbPhone, about(zhangWei), grants,
			Decision{Outcome: gateway.Allow, Rule: RuleSelf}},
		{"citizen reads own social insurance", portal, &hrssEmployer, about(zhangWei), grants,
			Decision{Outcome: gateway.Allow, Rule: RuleSelf}},
		{"citizen reads own credit record", &gateway.Caller{Consumer: "ipudong-portal", Purpose: "citizen-self-service", CitizenID: wangQiang},
			&creditContent, about(wangQiang), grants, Decision{Outcome: gateway.Allow, Rule: RuleSelf}},
		{"self does not cover another citizen", portal, &psbName, about(liNa), grants,
			Decision{Outcome: gateway.Masked, Rule: RuleMask}},
		{"self does not cover another citizen's unmasked item", portal, &hrssEmployer, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"self does not cover an enterprise's record", portal, &creditContent, enterprise, grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"no citizen claim and no person never match", playground, &psbGender, enterprise, grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"no department and no owner never match", playground, &gateway.CatalogEntry{Code: "x", Class: gateway.NotShared}, enterprise, grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"unconditional", playground, &amrName, enterprise, grants,
			Decision{Outcome: gateway.Allow, Rule: RuleUnconditional}},
		{"grant for the token's purpose", onlineHall, &psbName, about(liNa), grants,
			Decision{Outcome: gateway.Allow, Rule: RuleGrant, GrantID: "g-hall"}},
		{"grant on an unmasked item", onlineHall, &hrssEmployer, about(liNa), grants,
			Decision{Outcome: gateway.Allow, Rule: RuleGrant, GrantID: "g-hall"}},
		{"grant for another purpose does not apply", &gateway.Caller{Consumer: "online-hall", Purpose: "exploration"}, &psbName, about(liNa), grants,
			Decision{Outcome: gateway.Masked, Rule: RuleMask}},
		{"expired grant", supervision, &psbGender, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"revoked grant", supervision, &psbName, about(liNa), grants,
			Decision{Outcome: gateway.Masked, Rule: RuleMask}},
		{"grant revoked only later is still in force", supervision, &creditContent, enterprise, grants,
			Decision{Outcome: gateway.Allow, Rule: RuleGrant, GrantID: "g-revoking"}},
		{"grant for another consumer", playground, &hrssEmployer, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"mask without grant", playground, &psbName, about(liNa), grants,
			Decision{Outcome: gateway.Masked, Rule: RuleMask}},
		{"mask without any grants", playground, &psbName, about(liNa), nil,
			Decision{Outcome: gateway.Masked, Rule: RuleMask}},
		{"not shared is denied even under a grant naming it", onlineHall, &psbPhone, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"conditional without mask", playground, &psbEthnicity, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"unknown class is denied", onlineHall, &gateway.CatalogEntry{Code: psbName.Code, Owner: "psb", Class: "PUBLIC"}, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"nil caller reads unconditional", nil, &amrName, enterprise, grants,
			Decision{Outcome: gateway.Allow, Rule: RuleUnconditional}},
		{"nil caller is not masked", nil, &psbName, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"nil caller and not shared", nil, &psbPhone, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
		{"ungoverned field is denied", psbConsole, nil, about(liNa), grants,
			Decision{Outcome: gateway.Deny, Rule: RuleDenied}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.caller, tt.entry, tt.subject, tt.grants, now); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
			allocs := testing.AllocsPerRun(20, func() { Decide(tt.caller, tt.entry, tt.subject, tt.grants, now) })
			if allocs != 0 {
				t.Errorf("Decide allocates %v times per call, want 0", allocs)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	grants := testGrants()
	tests := []struct {
		name     string
		caller   *gateway.Caller
		entry    *gateway.CatalogEntry
		want     gateway.Outcome
		wantOpen bool
	}{
		{"owner", psbConsole, &psbPhone, gateway.Allow, false},
		{"granted", onlineHall, &psbName, gateway.Allow, false},
		{"masked, a grant would open it", playground, &psbName, gateway.Masked, true},
		{"denied conditional, a grant would open it", playground, &psbGender, gateway.Deny, true},
		{"expired grant, a new one would open it", supervision, &psbGender, gateway.Deny, true},
		{"not shared, no grant can open it", playground, &psbPhone, gateway.Deny, false},
		{"unconditional", playground, &amrName, gateway.Allow, false},
		{"self-service does not apply to the catalogue", portal, &psbPhone, gateway.Deny, false},
		{"citizen sees the general masked access", portal, &psbName, gateway.Masked, true},
		{"nil caller, unconditional", nil, &amrName, gateway.Allow, false},
		{"nil caller, conditional", nil, &hrssEmployer, gateway.Deny, true},
		{"nil entry", playground, nil, gateway.Deny, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, open := Access(tt.caller, tt.entry, grants, now)
			if got != tt.want || open != tt.wantOpen {
				t.Errorf("Access = %s, %v; want %s, %v", got, open, tt.want, tt.wantOpen)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	grants := testGrants()
	cases := []struct {
		name   string
		caller *gateway.Caller
		entry  *gateway.CatalogEntry
	}{
		{"owner", psbConsole, &psbName},
		{"unconditional", playground, &amrName},
		{"grant", onlineHall, &psbName},
		{"mask", playground, &psbName},
		{"deny", supervision, &psbGender},
	}
	subject := Subject{ID: liNa, Person: liNa}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(c.caller, c.entry, subject, grants, now)
			}
		})
	}
}
