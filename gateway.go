// Package gateway holds the domain of the district's data-sharing gateway: who calls
// (Caller), what may be shared (the catalogue), the grants and sharing requests that open
// conditional items, the audit events that record every decision, and what one request
// carries in its context (the caller, the request ids). It imports no other package of
// the module, so every package may use it; how the packages around it depend on one
// another is in docs/architecture.md.
package gateway

import (
	"slices"
	"time"
)

// Caller is the consumer behind one request, as its verified token describes it.
type Caller struct {
	Subject   string   // sub: the end user or service account
	Consumer  string   // the calling app, e.g. "online-hall"
	Dept      string   // the caller's department id, if it belongs to one
	Purpose   string   // the purpose the token was issued for
	CitizenID string   // citizen self-service: the citizen's own ID number
	Roles     []string // approver, auditor, cio
	TokenID   string   // jti, when the token has one
}

// Roles a caller may hold.
const (
	RoleApprover = "approver"
	RoleAuditor  = "auditor"
	RoleCIO      = "cio"
)

// Roles lists every role, the one list configuration and tokens are checked against.
var Roles = []string{RoleApprover, RoleAuditor, RoleCIO}

// HasRole reports whether the caller holds role.
func (c *Caller) HasRole(role string) bool { return c != nil && slices.Contains(c.Roles, role) }

// Class is how the owning department shares a data item.
type Class string

// The sharing classes (docs/architecture.md, The sharing policy).
const (
	Unconditional Class = "UNCONDITIONAL"
	Conditional   Class = "CONDITIONAL"
	NotShared     Class = "NONE"
)

// Mask names how a conditional item is de-identified for callers without a grant.
type Mask string

// The masks (docs/errors.md, extensions.masked). MaskNone means the item is never shown masked.
const (
	MaskNone     Mask = ""
	MaskID       Mask = "id"       // 310115********0012
	MaskName     Mask = "name"     // 张*
	MaskPhone    Mask = "phone"    // 138****5678
	MaskYear     Mask = "year"     // a date cut to its year
	MaskDistrict Mask = "district" // an address cut to the district
)

// CatalogEntry is one data item of the catalogue: one datum, one code.
type CatalogEntry struct {
	Code        string        // 310115-{DEPT}-{RESOURCE}-{ITEM}
	Field       string        // the schema coordinate, "Citizen.name"
	Owner       string        // owning department id
	Class       Class         // sharing class
	Mask        Mask          // for conditional items that may be shown de-identified
	TTL         time.Duration // the owner's update cycle: how long a record may be cached
	Description string
	// Copy, when set, says the item holds another department's datum again (one datum,
	// one code): it is decided, masked and audited as its source unless LegalBasis is set.
	Copy *Copy
	// LegalBasis is the published legal basis on which the owner shares a copy more
	// widely than its source; the catalogue shows it.
	LegalBasis string
}

// Copy links a catalogue item to the datum it holds a copy of.
type Copy struct {
	Of string // the source's catalogue code
	// Via names the relation of the item's type that leads to whom the datum is about
	// (Enterprise.legalRepresentative for a legal representative's name); "" means the
	// item's own subject.
	Via string
	// PersonOnly decides per value: the item is a copy only when its subject is a person
	// (a credit record's subject ID is a citizen's ID number or a credit code).
	PersonOnly bool
}

// Outcome is the decision for one field of one subject for one caller.
type Outcome string

// The three outcomes of a decision.
const (
	Allow  Outcome = "ALLOW"
	Masked Outcome = "MASK"
	Deny   Outcome = "DENY"
)

// Grant opens conditional catalogue items to one consumer for one purpose.
type Grant struct {
	ID         string
	Consumer   string
	Purpose    string
	Codes      []string
	Department string     // the owning department that granted it
	RequestID  string     // the sharing request it came from; empty for configured grants
	GrantedBy  string     // who approved it
	CreatedAt  time.Time  //
	ValidUntil time.Time  // zero: no expiry
	RevokedAt  *time.Time // set once revoked
	RevokedBy  string
}

// ActiveAt reports whether the grant is in force at t.
func (g *Grant) ActiveAt(t time.Time) bool {
	if g.RevokedAt != nil && !t.Before(*g.RevokedAt) {
		return false
	}
	return g.ValidUntil.IsZero() || t.Before(g.ValidUntil)
}

// Covers reports whether the grant opens code for consumer and purpose at t.
func (g *Grant) Covers(consumer, purpose, code string, t time.Time) bool {
	return g.Consumer == consumer && g.Purpose == purpose && g.ActiveAt(t) && slices.Contains(g.Codes, code)
}

// RequestStatus is the state of a sharing request.
type RequestStatus string

// The states of a sharing request. OVERDUE is PENDING past its deadline.
const (
	Pending  RequestStatus = "PENDING"
	Approved RequestStatus = "APPROVED"
	Rejected RequestStatus = "REJECTED"
	Overdue  RequestStatus = "OVERDUE"
)

// SharingRequest asks one owning department to open catalogue items to a consumer.
type SharingRequest struct {
	ID            string
	Requester     string // consumer
	RequestedBy   string // the end user who filed it
	Department    string // the owning department that must answer
	Codes         []string
	Purpose       string
	Justification string
	Status        RequestStatus // PENDING, APPROVED or REJECTED as stored; OVERDUE is derived
	CreatedAt     time.Time
	Deadline      time.Time
	DecidedAt     *time.Time
	DecidedBy     string
	Reason        string
	ValidUntil    *time.Time // expiry of the grant an approval created
	GrantID       string
}

// StatusAt is the request's status as seen at t: a pending request past its deadline is
// overdue.
func (r *SharingRequest) StatusAt(t time.Time) RequestStatus {
	if r.Status == Pending && t.After(r.Deadline) {
		return Overdue
	}
	return r.Status
}

// AuditEvent records one decision on a conditional or not-shared field.
type AuditEvent struct {
	Seq       int64 // position in the chain, from 1
	At        time.Time
	Consumer  string
	EndUser   string
	Purpose   string
	RequestID string // the gateway's own id of the request (never chosen by the client)
	// ClientRequestID is the correlation id the client sent (X-Request-Id), kept beside
	// RequestID, never in its place.
	ClientRequestID string
	TraceID         string // W3C trace id of the request, when tracing is on
	// Chain names the hash chain the event belongs to (one per replica, so replicas do
	// not serialise on one chain head); "" is the default chain. Seq counts per chain.
	Chain    string
	Code     string // catalogue code
	Owner    string // owning department of the code
	Subject  string // citizen ID number or credit code the field belongs to
	Decision Outcome
	GrantID  string
	PrevHash string // hex SHA-256 of the previous event, "" for the first
	Hash     string // hex SHA-256 over this event's fields and PrevHash
}
