package policy

import (
	"time"

	"pudong.gov.cn/gateway"
)

// Datum is what one value is about: the catalogue entry that decides it (a copy's source,
// when the item holds another department's datum), whom it concerns, and the department
// holding the copy, which reads its own records as their owner. One datum has one policy
// wherever it appears, in a query's answer or in anything else the gateway sends on
// (docs/SECURITY.md, "the same datum under a second code").
type Datum struct {
	Entry   *gateway.CatalogEntry
	Subject Subject
	Holder  string // the copy's owner when Entry is its source; "" otherwise
}

// Datum returns the datum that entry's value about subject holds: entry itself, or the
// source of a copy unless the owner published a legal basis for sharing the copy more
// widely, or the copy is one for persons only and subject is none. subject is whom the
// value concerns (for a copy reached through a relation, whom the relation leads to).
func (c *Catalog) Datum(entry *gateway.CatalogEntry, subject Subject) Datum {
	d := Datum{Entry: entry, Subject: subject}
	cp := entry.Copy
	if cp == nil || entry.LegalBasis != "" || (cp.PersonOnly && subject.Person == "") {
		return d
	}
	if src := c.Source(entry); src != nil {
		d.Holder, d.Entry = entry.Owner, src
	}
	return d
}

// Decide applies the policy to the datum; the department holding a copy reads its own
// records as their owner.
func (d Datum) Decide(c *gateway.Caller, grants Grants, now time.Time) Decision {
	if d.Holder != "" && c != nil && c.Dept == d.Holder {
		return Decision{Outcome: gateway.Allow, Rule: RuleOwner}
	}
	return Decide(c, d.Entry, d.Subject, grants, now)
}

// AuditDue says whether a decision on the datum is an audit event: every decision on a
// conditional or not-shared datum, and every read of a person's datum, whatever its
// class, by anyone but the person and the datum's owner (docs/architecture.md, "Where the
// audit trail is written").
func (d Datum) AuditDue(c *gateway.Caller, dec Decision) bool {
	if d.Entry.Class != gateway.Unconditional {
		return true
	}
	if d.Subject.Person == "" || dec.Outcome == gateway.Deny {
		return false
	}
	return dec.Rule != RuleSelf && (dec.Rule != RuleOwner || c == nil || c.Dept != d.Entry.Owner)
}
