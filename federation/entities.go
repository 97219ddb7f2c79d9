package federation

import "pudong.gov.cn/gateway/adapters"

// Citizen is a person by ID number. It is only a reference: its registry fields load
// lazily, per field, through the request's loaders, so a query that selects nothing the
// caller may see from the population registry never calls it.
type Citizen struct {
	IDNumber string
}

// IsCreditSubject marks Citizen as a member of the CreditSubject union.
func (Citizen) IsCreditSubject() {}

// Enterprise is an enterprise by credit code, with its registry record when it is
// already known (from a list or batch), or nil until a field needs it.
type Enterprise struct {
	CreditCode string
	Record     adapters.Record
}

// IsCreditSubject marks Enterprise as a member of the CreditSubject union.
func (Enterprise) IsCreditSubject() {}

// CreditRecord is one record of the credit platform, under unified field names.
type CreditRecord struct {
	Record adapters.Record
}

// SocialInsurance is one social-insurance record of a person for one insurance type.
type SocialInsurance struct {
	Record adapters.Record
}

// field returns a record's value as a GraphQL nullable: nil when the department has none.
func field(r adapters.Record, name string) *string {
	if v, ok := r[name]; ok && v != "" {
		return &v
	}
	return nil
}

// The credit record's fields; nothing to load, so plain methods that gqlgen calls inline.

func (c *CreditRecord) ID() *string             { return field(c.Record, "id") }
func (c *CreditRecord) Kind() *string           { return field(c.Record, "kind") }
func (c *CreditRecord) SubjectID() *string      { return field(c.Record, "subjectId") }
func (c *CreditRecord) DecisionNumber() *string { return field(c.Record, "decisionNumber") }
func (c *CreditRecord) Title() *string          { return field(c.Record, "title") }
func (c *CreditRecord) Content() *string        { return field(c.Record, "content") }
func (c *CreditRecord) DecidedOn() *string      { return field(c.Record, "decidedOn") }
func (c *CreditRecord) ValidUntil() *string     { return field(c.Record, "validUntil") }
func (c *CreditRecord) IssuedBy() *string       { return field(c.Record, "issuedBy") }
func (c *CreditRecord) PenaltyAmount() *string  { return field(c.Record, "penaltyAmount") }

// The social-insurance record's fields.

func (s *SocialInsurance) InsuranceType() *string { return field(s.Record, "insuranceType") }
func (s *SocialInsurance) Status() *string        { return field(s.Record, "status") }
func (s *SocialInsurance) Since() *string         { return field(s.Record, "since") }
func (s *SocialInsurance) LastPaidMonth() *string { return field(s.Record, "lastPaidMonth") }

// Employer is the paying employer, nil for flexible employment.
func (s *SocialInsurance) Employer() *Enterprise {
	if code := s.Record["employer"]; code != "" {
		return &Enterprise{CreditCode: code}
	}
	return nil
}

// PersonID is the ID number of the insured person: the subject of every field here.
func (s *SocialInsurance) PersonID() string { return s.Record["idNumber"] }
