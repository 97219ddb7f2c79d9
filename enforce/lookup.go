package enforce

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/policy"
)

// Codes of refused arguments and operations, in extensions.code.
const (
	CodeForbiddenArgument = errcode.ForbiddenArgument
	CodeForbidden         = errcode.Forbidden
)

// Lookup implements the @lookup directive on arguments. Looking up, filtering or counting
// by a governed datum tells the caller whether a candidate value exists, so it needs the
// access that reading that datum unmasked would need; otherwise the field answers
// FORBIDDEN_ARGUMENT before any department is asked, and a masked value cannot be
// recovered by trying candidates (docs/SECURITY.md, "arguments as an oracle"). An allowed
// lookup of a person is audited like a read and counts toward the caller's budget. A key
// lookup (the argument names the one subject the field answers about) needs only masked
// access: everything it answers is then decided field by field, and the budget bounds
// how many people one caller can try.
func (e *Enforcer) Lookup(ctx context.Context, obj any, next graphql.Resolver, code string, key *bool) (any, error) {
	v, err := next(ctx)
	if err != nil {
		return v, err
	}
	st := stateFrom(ctx)
	if st == nil {
		// The complexity estimate parses arguments before execution: nothing is read.
		return v, nil
	}
	entry := e.catalog.ByCode(code)
	if entry == nil {
		return nil, e.forbiddenArgument(ctx, nil, code, st.caller)
	}
	for _, value := range lookupKeys(v) {
		t := target{entry: entry}
		if idcode.IsIDNumber(value) || idcode.ValidateCreditCode(value) == nil {
			t.subject = subjectFor(value)
		}
		t = e.asSource(t)
		d := st.decide(t)
		var refused error
		if d.Outcome == gateway.Deny || (d.Outcome == gateway.Masked && (key == nil || !*key)) {
			refused = e.forbiddenArgument(ctx, t.entry, t.entry.Code, st.caller)
		} else {
			refused = e.touch(ctx, st, t, d)
		}
		st.recordRefusable(t, d, refused)
		if refused != nil {
			return nil, refused
		}
	}
	return v, nil
}

// recordRefusable records the decision on t when it is due, as a refusal when refused is
// set: the event says what the caller got, not what the policy alone would have allowed
// (docs/audit.md).
func (st *state) recordRefusable(t target, d policy.Decision, refused error) {
	if refused != nil {
		d.Outcome = gateway.Deny
	}
	if st.auditDue(t, d) {
		st.record(t.entry, t.subject, d)
	}
}

// Join implements the @join directive: a relation that finds its objects by a governed
// datum of its parent (a person's enterprises, by the ID number the enterprise registry
// holds) is a lookup by that datum, so following it needs unmasked access to it;
// otherwise a caller who sees the datum masked could link records it cannot read.
func (e *Enforcer) Join(ctx context.Context, obj any, next graphql.Resolver, code string) (any, error) {
	st := stateFrom(ctx)
	entry := e.catalog.ByCode(code)
	if st == nil || entry == nil {
		return nil, e.forbidden(ctx, entry, code, nil)
	}
	t := e.asSource(target{entry: entry, subject: subjectOf(obj)})
	d := st.decide(t)
	var refused error
	if d.Outcome != gateway.Allow {
		refused = e.forbiddenJoin(ctx, t.entry, st.caller)
	} else {
		refused = e.touch(ctx, st, t, d)
	}
	st.recordRefusable(t, d, refused)
	if refused != nil {
		return nil, refused
	}
	return next(ctx)
}

func (e *Enforcer) forbiddenJoin(ctx context.Context, entry *gateway.CatalogEntry, c *gateway.Caller) error {
	coord := entry.Code
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		coord = fc.Object + "." + fc.Field.Name
	}
	msg := fmt.Sprintf("%s finds its records by %s (%s), which is not shared unmasked with %s", coord, entry.Field, entry.Code, c.Consumer)
	if entry.Class == gateway.Conditional {
		msg += fmt.Sprintf("; following it needs a grant from %s (requestSharing)", entry.Owner)
	}
	return &gqlerror.Error{Path: graphql.GetPath(ctx), Message: msg, Extensions: map[string]any{
		"code": CodeForbiddenField, "catalogCode": entry.Code, "owner": entry.Owner, "class": string(entry.Class),
		"requestable": entry.Class == gateway.Conditional,
	}}
}

// lookupKeys lists the values an argument looks up by.
func lookupKeys(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case *string:
		if x != nil {
			return []string{*x}
		}
	case []string:
		return x
	}
	return nil
}

func (e *Enforcer) forbiddenArgument(ctx context.Context, entry *gateway.CatalogEntry, code string, c *gateway.Caller) error {
	arg := ""
	if p := graphql.GetPath(ctx); len(p) > 0 {
		if name, ok := p[len(p)-1].(ast.PathName); ok {
			arg = string(name)
		}
	}
	coord := code
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		coord = fc.Object + "." + fc.Field.Name
	}
	consumer := "this caller"
	if c != nil {
		consumer = c.Consumer
	}
	ext := map[string]any{"code": CodeForbiddenArgument, "catalogCode": code, "argument": arg}
	msg := fmt.Sprintf("argument %s of %s looks up by %s, which is not shared unmasked with %s", arg, coord, code, consumer)
	if entry != nil {
		ext["owner"], ext["class"] = entry.Owner, string(entry.Class)
		ext["requestable"] = entry.Class == gateway.Conditional
		if entry.Class == gateway.Conditional {
			msg += fmt.Sprintf("; looking up by it needs a grant from %s (requestSharing)", entry.Owner)
		}
	}
	return &gqlerror.Error{Path: fieldPath(ctx), Message: msg, Extensions: ext}
}

// Role implements the @role directive: the operation runs only for a caller holding one
// of the roles (any authenticated caller when the list is empty).
func (e *Enforcer) Role(ctx context.Context, _ any, next graphql.Resolver, anyOf []string) (any, error) {
	c := e.caller(ctx)
	if c == nil {
		return nil, &gqlerror.Error{Path: fieldPath(ctx), Message: "this operation needs an authenticated caller",
			Extensions: map[string]any{"code": CodeForbidden}}
	}
	if len(anyOf) == 0 {
		return next(ctx)
	}
	for _, r := range anyOf {
		if c.HasRole(strings.ToLower(r)) {
			return next(ctx)
		}
	}
	coord := "this operation"
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		coord = fc.Field.Name
	}
	return nil, &gqlerror.Error{Path: fieldPath(ctx),
		Message:    fmt.Sprintf("%s needs one of the roles %s; %s has none of them", coord, strings.ToLower(strings.Join(anyOf, ", ")), c.Consumer),
		Extensions: map[string]any{"code": CodeForbidden, "roles": anyOf}}
}
