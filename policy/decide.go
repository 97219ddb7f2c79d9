// Package policy decides what one caller may see of one governed field: the sharing
// decision of docs/architecture.md (The sharing policy), the masks that de-identify
// conditional items, and the catalogue that gives every field its code, owner and class.
// Everything here is a pure function of its arguments, so the same decision can be made,
// tested and explained anywhere.
package policy

import (
	"time"

	"pudong.gov.cn/gateway"
)

// Subject is whom a datum is about. The decision needs Person for the self-service rule;
// ID travels with the decision into the audit trail.
type Subject struct {
	ID     string // the citizen ID number or credit code the datum belongs to, for audit
	Person string // the citizen ID number when the datum is about a person, else ""
}

// Rule names the rule (docs/architecture.md, The sharing policy) that decided, so a
// decision can be explained and tested by why, not only by what. The names carry a Rule
// prefix so they are not mistaken for the root package's classes, masks and outcomes.
type Rule string

// The rules of docs/architecture.md (The sharing policy), in the order they are tried.
const (
	RuleOwner         Rule = "OWNER"         // the caller belongs to the owning department
	RuleSelf          Rule = "SELF"          // the datum is about the calling citizen
	RuleUnconditional Rule = "UNCONDITIONAL" // the item is shared with every consumer
	RuleGrant         Rule = "GRANT"         // an active grant opens the item to the caller
	RuleMask          Rule = "MASK"          // a conditional item shown de-identified
	RuleDenied        Rule = "DENIED"        // nothing opened the item
)

// Decision is the outcome for one field of one subject, with the rule that produced it.
type Decision struct {
	Outcome gateway.Outcome
	Rule    Rule
	GrantID string // the grant that opened the item, when Rule is RuleGrant
}

// Grants finds the grant that opens a catalogue code to a consumer for a purpose. It is
// an interface so the gateway can swap a fresh index in when grants change without the
// decision knowing where grants come from.
type Grants interface {
	// Find returns an active grant at now, or nil.
	Find(consumer, purpose, code string, now time.Time) *gateway.Grant
}

// Decide applies the rules of docs/architecture.md (The sharing policy) to one field of
// one subject; the first rule that matches wins. A nil caller (no verified identity) sees
// unconditional items only, and a nil entry (a field the catalogue does not govern) is
// denied, so a gap in configuration never opens data. Decide does not allocate: it runs
// for every governed field of every response.
func Decide(c *gateway.Caller, e *gateway.CatalogEntry, s Subject, grants Grants, now time.Time) Decision {
	if e == nil {
		return Decision{Outcome: gateway.Deny, Rule: RuleDenied}
	}
	if c == nil {
		if e.Class == gateway.Unconditional {
			return Decision{Outcome: gateway.Allow, Rule: RuleUnconditional}
		}
		return Decision{Outcome: gateway.Deny, Rule: RuleDenied}
	}
	if c.Dept != "" && c.Dept == e.Owner {
		return Decision{Outcome: gateway.Allow, Rule: RuleOwner}
	}
	if c.CitizenID != "" && s.Person == c.CitizenID {
		return Decision{Outcome: gateway.Allow, Rule: RuleSelf}
	}
	switch e.Class {
	case gateway.Unconditional:
		return Decision{Outcome: gateway.Allow, Rule: RuleUnconditional}
	case gateway.Conditional:
		// A grant opens an item to a consumer and purpose; a self-service app serves
		// many citizens, so a grant never opens one citizen's data to another.
		if grants != nil && c.CitizenID == "" {
			if g := grants.Find(c.Consumer, c.Purpose, e.Code, now); g != nil {
				return Decision{Outcome: gateway.Allow, Rule: RuleGrant, GrantID: g.ID}
			}
		}
		if e.Mask != gateway.MaskNone {
			return Decision{Outcome: gateway.Masked, Rule: RuleMask}
		}
	}
	return Decision{Outcome: gateway.Deny, Rule: RuleDenied}
}

// Access is the caller's access to a catalogue item in general, for the catalogue
// listing: no particular subject, so the self-service rule never applies. grantWouldOpen
// tells the caller that a sharing request for the item is worth filing: it is
// conditional and not already open to them.
func Access(c *gateway.Caller, e *gateway.CatalogEntry, grants Grants, now time.Time) (outcome gateway.Outcome, grantWouldOpen bool) {
	d := Decide(c, e, Subject{}, grants, now)
	return d.Outcome, e != nil && e.Class == gateway.Conditional && d.Outcome != gateway.Allow
}
