package quality

import (
	"strings"

	"pudong.gov.cn/gateway/adapters"
)

// The checks of the cross-source comparison, as they name a finding.
const (
	checkRepUnknown  = "legal-representative-unknown"
	checkRepName     = "legal-representative-name"
	checkEmpUnknown  = "employer-unknown"
	repNameField     = "Enterprise.legalRepresentativeName"
	employerField    = "SocialInsurance.employer"
	sourceDepartment = "the population registry"
)

// LegalRepresentative compares an enterprise registry record's legal representative with
// the population registry's record of that person (nil: the registry has none). A
// disagreement is a finding for the owner of the copy, the enterprise registry, about the
// enterprise. The finding names no personal value: the owner sees its own record, and the
// other department's value is not its to see.
func (s *Service) LegalRepresentative(enterprise, person adapters.Record) {
	code := enterprise["creditCode"]
	if code == "" || enterprise["legalRepresentativeId"] == "" {
		return
	}
	entry := s.o.Catalog.ByField(repNameField)
	if entry == nil {
		return
	}
	switch {
	case len(person) == 0:
		s.Note(Issue{Code: entry.Code, Department: entry.Owner, Subject: code,
			Description: "the legal representative's ID number is not known to " + sourceDepartment + ": check the registration"}, checkRepUnknown)
	case person["name"] != "" && enterprise["legalRepresentativeName"] != "" &&
		strings.TrimSpace(person["name"]) != strings.TrimSpace(enterprise["legalRepresentativeName"]):
		s.Note(Issue{Code: entry.Code, Department: entry.Owner, Subject: code,
			Description: "the legal representative's name differs from the name " + sourceDepartment + " holds for the same ID number"}, checkRepName)
	}
}

// Employer compares an insurance record's employer with the enterprise registry's record
// of it (empty: the registry has none). An unknown employer is a finding for the owner of
// the insurance export, about the insured person.
func (s *Service) Employer(insurance, employer adapters.Record) {
	person := insurance["idNumber"]
	if person == "" || insurance["employer"] == "" || len(employer) > 0 {
		return
	}
	entry := s.o.Catalog.ByField(employerField)
	if entry == nil {
		return
	}
	s.Note(Issue{Code: entry.Code, Department: entry.Owner, Subject: person,
		Description: "the employer's credit code is not known to the enterprise registry: check the export"}, checkEmpUnknown)
}
