package main

import (
	"strings"
	"testing"

	"pudong.gov.cn/gateway/legacysim/dataset"
)

// The README's table of what each demo consumer sees of 张伟 is checked here, so the
// page a newcomer reads first stays true.
func TestReadmeConsumerTable(t *testing.T) {
	g := newTG(t)
	const full = "full"
	const denied = "denied"
	rows := []struct {
		token                                  string
		name, birth, address, phone, insurance string
	}{
		{g.token("ipudong-portal", dataset.ZhangWei), "张伟", "1985-03-12", full, "13812345678", full},
		{g.token("ipudong-portal", dataset.LiNa), "张*", "1985", "上海市浦东新区", denied, denied},
		{g.token("online-hall"), "张伟", "1985-03-12", full, denied, full},
		{g.token("supervision-platform"), "张伟", "1985", "上海市浦东新区", denied, denied},
		{g.token("playground"), "张*", "1985", "上海市浦东新区", denied, denied},
		{g.token("psb-console"), "张伟", "1985-03-12", full, "13812345678", denied},
	}
	for i, row := range rows {
		r := g.post(row.token, `{ citizen(idNumber: "310115198503120012") { name birthDate householdAddress phone socialInsurance { insuranceType } } }`, nil)
		check := func(field, want string) {
			got := r.str("citizen." + field)
			switch want {
			case denied:
				if r.get("citizen."+field) != nil || r.errorAt("citizen."+field) == nil {
					t.Errorf("row %d: %s should be denied: %s", i, field, r.Raw)
				}
			case full:
				if field == "householdAddress" && !strings.Contains(got, "银城中路") {
					t.Errorf("row %d: %s = %q, want the full address", i, field, got)
				}
				if field == "socialInsurance" && r.str("citizen.socialInsurance.0.insuranceType") != "PENSION" {
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
