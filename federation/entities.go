package federation

import "pudong.gov.cn/gateway/adapters"

// Citizen is a person by ID number. It is only a reference: its registry fields load
// lazily, per field, through the request's loaders, so a query that selects nothing the
// caller may see from the population registry never calls it.
type Citizen struct {
	IDNumber string
	// RepresentativeOf is the enterprise whose registry names this citizen as its legal
	// representative, when the citizen was reached that way: the registry's copy of the
	// name is then at hand to compare with the population registry's.
	RepresentativeOf *Enterprise
}

// IsCreditSubject marks Citizen as a member of the CreditSubject union.
func (Citizen) IsCreditSubject() {}

// Enterprise is an enterprise by credit code with its registry record, loaded before the
// object is handed to GraphQL (from a list, a batch or a loader), so that its fields are
// plain reads that need no goroutine of their own. Err is the registry's failure, which
// every registry field then reports; an empty Record means the registry has no such
// enterprise (or none of its fields was asked for).
type Enterprise struct {
	CreditCode string
	Record     adapters.Record
	Err        error
}

func (e *Enterprise) get(name string) (*string, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	return field(e.Record, name), nil
}

// The registry's fields of an enterprise.

func (e *Enterprise) CreditCodeValue() *string {
	code := e.CreditCode
	return &code
}
func (e *Enterprise) Name() (*string, error) { return e.get("name") }
func (e *Enterprise) LegalRepresentativeName() (*string, error) {
	return e.get("legalRepresentativeName")
}
func (e *Enterprise) Status() (*string, error)            { return e.get("status") }
func (e *Enterprise) EstablishedOn() (*string, error)     { return e.get("establishedOn") }
func (e *Enterprise) RegisteredCapital() (*string, error) { return e.get("registeredCapital") }
func (e *Enterprise) BusinessScope() (*string, error)     { return e.get("businessScope") }
func (e *Enterprise) Address() (*string, error)           { return e.get("address") }

// LegalRepresentative is the representative as a citizen, whose own fields load lazily.
func (e *Enterprise) LegalRepresentative() (*Citizen, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	if id := e.Record["legalRepresentativeId"]; id != "" {
		return &Citizen{IDNumber: id, RepresentativeOf: e}, nil
	}
	return nil, nil
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

// EmployerCode is the paying employer's credit code, "" for flexible employment.
func (s *SocialInsurance) EmployerCode() string { return s.Record["employer"] }

// PersonID is the ID number of the insured person: the subject of every field here.
func (s *SocialInsurance) PersonID() string { return s.Record["idNumber"] }

// The audit subjects of the entity types: whom each object's data is about, as a citizen
// ID number or a credit code. The policy decides and audits every governed field by it,
// and the gateway refuses to start on an entity type of the schema that is not listed in
// Entities (docs/architecture.md, "adding an entity").

// AuditSubject is the citizen's ID number.
func (c *Citizen) AuditSubject() string { return c.IDNumber }

// AuditSubject is the enterprise's credit code.
func (e *Enterprise) AuditSubject() string { return e.CreditCode }

// AuditSubject is the record's subject: a citizen ID number or a credit code, per record.
func (c *CreditRecord) AuditSubject() string { return c.Record["subjectId"] }

// AuditSubject is the insured person's ID number.
func (s *SocialInsurance) AuditSubject() string { return s.PersonID() }

// RelatedSubject is whom the object a relation leads to is about, for the catalogue's
// copies that hold that subject's datum (a legal representative's name); ok is false for
// a relation the type does not have.
func (e *Enterprise) RelatedSubject(relation string) (subject string, ok bool) {
	if relation == "legalRepresentative" {
		return e.Record["legalRepresentativeId"], true
	}
	return "", false
}

// RelatedSubject of a credit record: its subject.
func (c *CreditRecord) RelatedSubject(relation string) (string, bool) {
	if relation == "subject" {
		return c.Record["subjectId"], true
	}
	return "", false
}

// Entities lists the schema's entity types (types whose fields carry department data)
// with an empty value of the Go type that implements each.
func Entities() map[string]any {
	return map[string]any{
		"Citizen":         &Citizen{},
		"Enterprise":      &Enterprise{},
		"CreditRecord":    &CreditRecord{},
		"SocialInsurance": &SocialInsurance{},
	}
}
