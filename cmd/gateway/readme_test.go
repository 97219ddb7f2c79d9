package main

import (
	"strings"
	"testing"

	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// The README's table of what each demo consumer sees of 张伟 is checked here, so the
// page a newcomer reads first stays true.
func TestReadmeConsumerTable(t *testing.T) {
	g := e2e.Start(t)
	const full = "full"
	const denied = "denied"
	rows := []struct {
		token                                  string
		name, birth, address, phone, insurance string
	}{
		{g.Token("ipudong-portal", dataset.ZhangWei), "张伟", "1985-03-12", full, "13812345678", full},
		{g.Token("ipudong-portal", dataset.LiNa), "张*", "1985", "上海市浦东新区", denied, denied},
		{g.Token("online-hall"), "张伟", "1985-03-12", full, denied, full},
		{g.Token("supervision-platform"), "张伟", "1985", "上海市浦东新区", denied, denied},
		{g.Token("playground"), "张*", "1985", "上海市浦东新区", denied, denied},
		{g.Token("psb-console"), "张伟", "1985-03-12", full, "13812345678", denied},
	}
	for i, row := range rows {
		r := g.Post(row.token, `{ citizen(idNumber: "310115198503120012") { name birthDate householdAddress phone socialInsurance { insuranceType } } }`, nil)
		check := func(field, want string) {
			got := r.Str("citizen." + field)
			switch want {
			case denied:
				if r.Get("citizen."+field) != nil || r.ErrorAt("citizen."+field) == nil {
					t.Errorf("row %d: %s should be denied: %s", i, field, r.Raw)
				}
			case full:
				if field == "householdAddress" && !strings.Contains(got, "银城中路") {
					t.Errorf("row %d: %s = %q, want the full address", i, field, got)
				}
				if field == "socialInsurance" && r.Str("citizen.socialInsurance.0.insuranceType") != "PENSION" {
					t.Errorf("row %d: insurance should be visible: %s", i, r.Raw)
				}
			default:
				if got != want {
					t.Errorf("row %d: %s = %q, want %q", i, field, got, want)
				}
			}
		}
		check("name", row.name)
		check("birthDate", row.birth)
		check("householdAddress", row.address)
		check("phone", row.phone)
		check("socialInsurance", row.insurance)
	}
}
