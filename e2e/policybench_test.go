package e2e

import (
	"testing"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/config"
)

// BenchmarkPolicyChecks* are the warm scenarios with the audit store off, so that they
// measure the policy's own checks (decisions, copies, lookups, joins, budget) and not the
// number of events written.
func BenchmarkPolicyChecksCitizenSelf(b *testing.B) {
	g := StartWith(b, app.Options{NoAudit: true}, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	benchQuery(b, g, g.Token("ipudong-portal", "310115198503120012"), `{ citizen(idNumber: "310115198503120012") { name gender birthDate householdAddress phone
		socialInsurance { insuranceType status since employer { name } } enterprises { name status } creditRecords { kind title } } }`)
}

func BenchmarkPolicyChecksHallCitizen(b *testing.B) {
	g := StartWith(b, app.Options{NoAudit: true}, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	benchQuery(b, g, g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { idNumber name birthDate householdAddress
		socialInsurance { insuranceType status since employer { name legalRepresentativeName } } creditRecords { kind title content subjectId } } }`)
}

func BenchmarkPolicyChecksSweep(b *testing.B) {
	g := StartWith(b, app.Options{NoAudit: true}, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	benchQuery(b, g, g.Token("supervision-platform"), `{ enterprises(first: 50) { edges { node { name legalRepresentativeName creditRecords { kind title content subjectId } legalRepresentative { name } } } } }`)
}
