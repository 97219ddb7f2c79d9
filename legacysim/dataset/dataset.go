// Package dataset generates the synthetic records that the department simulators serve: a
// deterministic bulk population from a fixed seed plus the fixtures of
// docs/architecture.md (Demo data), which tests and people rely on. Values are kept in the
// departments' own legacy codes and formats; each simulator renders them in its protocol.
package dataset

// Person is one entry of the PSB population registry, in the registry's own codes.
type Person struct {
	IDNumber  string // SFZH, 18 characters with a GB 11643 check digit
	Name      string // XM
	Gender    string // XB, GB/T 2261.1: "1" male, "2" female
	BirthDate string // CSRQ, yyyyMMdd
	Ethnicity string // MZ, GB 3304 two-digit code, "01" = Han
	Address   string // HJDZ, household address
	Phone     string // LXDH, empty when none is on file
}

// Enterprise is one entry of the AMR enterprise registry.
type Enterprise struct {
	CreditCode   string // tyshxydm, GB 32100
	Name         string // qymc
	LegalRepName string // fddbr
	LegalRepID   string // fddbr_sfzh
	Capital      string // zczb, in units of 10,000 CNY, e.g. "500.0000"
	Established  string // clrq, yyyy-MM-dd
	Status       string // djzt: "1" active, "2" revoked, "3" cancelled, "4" moved out
	Scope        string // jyfw
	Address      string // zs
}

// Credit record kinds, one table each in the credit database.
const (
	KindLicense      = "license"
	KindPenalty      = "penalty"
	KindCommendation = "commendation"
	KindDishonesty   = "dishonesty"
)

// CreditRecord is one row of the public credit-information database.
type CreditRecord struct {
	ID             string // unique across all kinds, e.g. "XK-000001"
	Kind           string // one of the Kind constants
	SubjectID      string // credit code or citizen ID number
	SubjectName    string
	DecisionNumber string // e.g. "浦市监处〔2024〕123号"
	Title          string
	Content        string
	DecidedOn      string // yyyy-MM-dd
	ValidUntil     string // yyyy-MM-dd, empty when open-ended
	IssuedBy       string
	PenaltyAmount  string // CNY with two decimals, penalties only, else empty
}

// Social-insurance type codes as the HRSS exports carry them.
const (
	InsPension      = "110" // basic pension
	InsUnemployment = "210"
	InsMedical      = "310"
	InsWorkInjury   = "410"
	InsMaternity    = "510"
)

// Social-insurance status codes as the HRSS exports carry them.
const (
	InsStatusActive    = "1" // paying
	InsStatusSuspended = "2"
	InsStatusEnded     = "3"
)

// Insurance is one row of an HRSS social-insurance export: one person, one insurance type.
type Insurance struct {
	IDNumber      string // SFZH
	Name          string // XM
	EmployerCode  string // DWTYSHXYDM, empty for flexible employment (self-paid)
	Type          string // XZLX, one of the Ins* type codes
	Status        string // CBZT, one of the InsStatus* codes
	FirstMonth    string // SCCBNY, yyyyMM
	LastPaidMonth string // ZHJFNY, yyyyMM
}

// Dataset is everything the four simulators serve. Each bulk record is a function of the
// seed and its index (generate.go), so a dataset of any size can answer a lookup without
// holding its records: one up to HoldUpTo citizens and enterprises holds them anyway, for
// speed, and a larger one (the district's 5.7 million residents) generates each record
// when asked, in memory that does not grow with the registry.
type Dataset struct {
	// Credit holds the credit records of a dataset of up to HoldUpTo of them, and only
	// the fixtures' of a larger one: AllCredit yields them all.
	Credit []CreditRecord
	// Insurance holds the social-insurance rows of a dataset up to HoldUpTo, and only the
	// fixtures' of a larger one: EachInsurance yields them all.
	Insurance []Insurance

	seed uint64
	size Size
	// persons and enterprises hold the fixtures, then the bulk records when held.
	persons     []Person
	enterprises []Enterprise
	// insuranceHeld and creditHeld say Insurance and Credit hold the bulk rows too.
	insuranceHeld, creditHeld bool
	personAdd                 uint64 // the seed's offset into the slots of ID numbers (generate.go)
	firmAdd                   uint64 // the seed's offset into the slots of credit codes
}

// Size says how many bulk records to generate besides the fixtures.
type Size struct {
	Citizens      int
	Enterprises   int
	CreditRecords int
}

// DefaultSize is the demo's size: big enough that lookups are realistic, small enough to
// generate in well under a second.
var DefaultSize = Size{Citizens: 20000, Enterprises: 5000, CreditRecords: 30000}

// DefaultSeed is the fixed seed of the demo data.
const DefaultSeed = 20261127
