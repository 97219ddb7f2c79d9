// Package enforce applies the sharing policy to GraphQL execution, where no resolver can
// forget it: the @share directive decides every governed field by its schema coordinate
// (so aliases, fragments, unions, lists and nested paths are all governed), masks or
// denies the value, and records the decision for the audit trail. The audit events of a
// response are durably committed before the response leaves.
package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/policy"
)

// Error codes of this package, in extensions.code (the vocabulary is errcode's).
const (
	CodeForbiddenField   = errcode.ForbiddenField
	CodeAuditUnavailable = errcode.AuditUnavailable
)

// Recorder durably stores audit events; Record returns once they are committed.
type Recorder interface {
	Record(ctx context.Context, events []gateway.AuditEvent) error
}

// Observer is told of every decision, for metrics.
type Observer interface {
	Decision(class gateway.Class, outcome gateway.Outcome)
}

// Enforcer holds what every decision needs: the catalogue, the grants in force and the
// audit recorder.
type Enforcer struct {
	catalog  *policy.Catalog
	grants   func() policy.Grants
	recorder Recorder // nil: audit off (benchmarks only)
	observer Observer
	log      *slog.Logger
	now      func() time.Time
	caller   func(context.Context) *gateway.Caller
	budget   Budget // nil: no bound on the people one caller reaches
}

// Options configure an Enforcer.
type Options struct {
	Catalog  *policy.Catalog
	Grants   func() policy.Grants // the grants in force now; called once per request
	Recorder Recorder
	Observer Observer
	Log      *slog.Logger
	Now      func() time.Time
	Caller   func(context.Context) *gateway.Caller // the verified caller of a request
	// Budget bounds the distinct people one end user reads or looks up; nil: no bound.
	Budget Budget
}

// New returns an Enforcer.
func New(o Options) *Enforcer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Caller == nil {
		o.Caller = gateway.CallerFrom
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Enforcer{catalog: o.Catalog, grants: o.Grants, recorder: o.Recorder, observer: o.Observer,
		log: o.Log, now: o.Now, caller: o.Caller, budget: o.Budget}
}

// Governed lists the fields of a schema that carry @share, as coordinate → code: what
// the catalogue must cover exactly.
func Governed(s *ast.Schema) map[string]string {
	out := map[string]string{}
	for _, def := range s.Types {
		for _, f := range def.Fields {
			if d := f.Directives.ForName("share"); d != nil {
				if arg := d.Arguments.ForName("code"); arg != nil && arg.Value != nil {
					out[def.Name+"."+f.Name] = arg.Value.Raw
				}
			}
		}
	}
	return out
}

// state is one operation's view: who asks, the grants at its start, and what was decided.
type state struct {
	caller          *gateway.Caller
	requestID       string
	clientRequestID string
	grants          policy.Grants
	now             time.Time

	mu     sync.Mutex
	events []gateway.AuditEvent
	seen   map[eventKey]struct{}
	masked []map[string]any
	people map[string]bool // the people this request has read or looked up (budget)
}

// eventKey identifies one decision of a request: the audit trail records each field
// (code) of each subject once per request, however many records or aliases repeat it.
type eventKey struct {
	code, subject, grant string
	decision             gateway.Outcome
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	s, _ := ctx.Value(stateKey{}).(*state)
	return s
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = (*Enforcer)(nil)

// ExtensionName names the extension for gqlgen.
func (e *Enforcer) ExtensionName() string { return "SharingPolicy" }

// Validate is part of gqlgen's extension interface.
func (e *Enforcer) Validate(graphql.ExecutableSchema) error {
	if e.catalog == nil {
		return errors.New("enforce: no catalogue")
	}
	return nil
}

// InterceptOperation opens the operation's decision log and, once the response is
// complete, commits its audit events before letting the response go.
func (e *Enforcer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	st := &state{caller: e.caller(ctx), requestID: gateway.RequestID(ctx), clientRequestID: gateway.ClientRequestID(ctx), now: e.now()}
	if e.grants != nil {
		st.grants = e.grants()
	}
	ctx = context.WithValue(ctx, stateKey{}, st)
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if resp == nil {
			return nil
		}
		st.mu.Lock()
		events, masked := st.events, st.masked
		st.events, st.masked, st.seen = nil, nil, nil
		st.mu.Unlock()
		if undelivered(resp) {
			// Execution read data, but a failure nulled the whole answer (a non-null root
			// field): nobody saw what was allowed or masked, so only the attempts that
			// were refused are on record (docs/audit.md).
			events = slices.DeleteFunc(events, func(ev gateway.AuditEvent) bool { return ev.Decision != gateway.Deny })
		}
		if len(events) > 0 && e.recorder != nil {
			if err := e.recorder.Record(ctx, events); err != nil {
				// The answer may carry conditional data whose access is not on record:
				// it must not leave.
				e.log.ErrorContext(ctx, "audit commit failed; response withheld", "request_id", st.requestID, "events", len(events), "err", err)
				return &graphql.Response{Errors: gqlerror.List{{
					Message:    "the gateway could not record this access in the audit trail, so the answer is withheld; try again later",
					Extensions: map[string]any{"code": CodeAuditUnavailable},
				}}}
			}
		}
		if len(masked) > 0 {
			if resp.Extensions == nil {
				resp.Extensions = map[string]any{}
			}
			resp.Extensions["masked"] = masked
		}
		return resp
	}
}

// undelivered reports whether a response carries no data at all although it was executed.
func undelivered(resp *graphql.Response) bool {
	return len(resp.Errors) > 0 && (len(resp.Data) == 0 || string(resp.Data) == "null")
}

// Entity is an object whose governed fields carry department data about one subject.
// Every entity type of the schema implements it (CheckSchema refuses one that does not),
// so no decision is ever audited without its subject.
type Entity interface {
	// AuditSubject is whom the object's data is about: a citizen ID number or a credit code.
	AuditSubject() string
}

// relatedSubjects is implemented by entities whose catalogue items hold a datum about
// someone their relations lead to (an enterprise's legal representative).
type relatedSubjects interface {
	RelatedSubject(relation string) (subject string, ok bool)
}

// subjectFor turns a subject key into the decision's subject: a person when it is a
// citizen ID number.
func subjectFor(key string) policy.Subject {
	if idcode.IsIDNumber(key) {
		return policy.Subject{ID: key, Person: key}
	}
	return policy.Subject{ID: key}
}

// subjectOf says whom a governed field's parent object is about.
func subjectOf(obj any) policy.Subject {
	if en, ok := obj.(Entity); ok {
		return subjectFor(en.AuditSubject())
	}
	return policy.Subject{}
}

// target is what one decision is about: the catalogue entry that decides (a copy's
// source, when the field holds another department's datum), whom the datum is about, and
// the department holding the copy, which may read its own records.
type target struct {
	entry   *gateway.CatalogEntry
	subject policy.Subject
	holder  string
}

// resolve finds the target of a governed field of obj: one datum has one policy wherever
// it appears (docs/SECURITY.md, "copies").
func (e *Enforcer) resolve(entry *gateway.CatalogEntry, obj any) target {
	t := target{entry: entry, subject: subjectOf(obj)}
	if entry.Copy == nil {
		return t
	}
	if via := entry.Copy.Via; via != "" {
		if rel, ok := obj.(relatedSubjects); ok {
			if key, _ := rel.RelatedSubject(via); key != "" {
				t.subject = subjectFor(key)
			}
		}
	}
	return e.asSource(t)
}

// asSource turns a target whose entry is a copy into its source's (policy.Catalog.Datum):
// the same rule decides copies wherever the gateway sends a value on.
func (e *Enforcer) asSource(t target) target {
	d := e.catalog.Datum(t.entry, t.subject)
	return target{entry: d.Entry, subject: d.Subject, holder: d.Holder}
}

func (t target) datum() policy.Datum {
	return policy.Datum{Entry: t.entry, Subject: t.subject, Holder: t.holder}
}

// decide applies the policy to a target; the department holding a copy reads its own
// records as their owner.
func (st *state) decide(t target) policy.Decision {
	return t.datum().Decide(st.caller, st.grants, st.now)
}

// auditDue says whether a decision is an audit event: every decision on a conditional or
// not-shared datum, and every read of a person's datum, whatever its class, by anyone
// but the person and the datum's owner (policy.Datum.AuditDue).
func (st *state) auditDue(t target, d policy.Decision) bool {
	return t.datum().AuditDue(st.caller, d)
}

// Share implements the @share directive.
func (e *Enforcer) Share(ctx context.Context, obj any, next graphql.Resolver, code string) (any, error) {
	entry := e.catalog.ByCode(code)
	st := stateFrom(ctx)
	if st == nil || entry == nil {
		// Outside an operation, or a code the catalogue lost: never open data.
		return nil, e.forbidden(ctx, entry, code, nil)
	}
	t := e.resolve(entry, obj)
	d := st.decide(t)
	if e.observer != nil {
		e.observer.Decision(t.entry.Class, d.Outcome)
	}
	var refused error
	if d.Outcome != gateway.Deny {
		if refused = e.touch(ctx, st, t, d); refused != nil {
			d.Outcome = gateway.Deny // the budget refused it: the caller gets nothing
		}
	}
	if st.auditDue(t, d) {
		st.record(t.entry, t.subject, d)
	}
	if refused != nil {
		return nil, refused
	}
	switch d.Outcome {
	case gateway.Allow:
		return next(ctx)
	case gateway.Masked:
		v, err := next(ctx)
		if err != nil || v == nil {
			return v, err
		}
		st.noteMasked(ctx, t.entry)
		return maskResult(t.entry.Mask, v), nil
	default:
		return nil, e.forbidden(ctx, t.entry, t.entry.Code, st.caller)
	}
}

// maskResult masks a resolver's result. Anything but a string is withheld: a mask that
// does not know a type must not let its value through.
func maskResult(m gateway.Mask, v any) any {
	switch s := v.(type) {
	case *string:
		if s == nil {
			return s
		}
		out := policy.MaskValue(m, *s)
		return &out
	case string:
		return policy.MaskValue(m, s)
	}
	return nil
}

func (e *Enforcer) forbidden(ctx context.Context, entry *gateway.CatalogEntry, code string, c *gateway.Caller) error {
	fc := graphql.GetFieldContext(ctx)
	coord := code
	if fc != nil {
		coord = fc.Object + "." + fc.Field.Name
	}
	consumer := "this caller"
	if c != nil {
		consumer = c.Consumer
	}
	ext := map[string]any{"code": CodeForbiddenField, "catalogCode": code}
	msg := fmt.Sprintf("%s (%s) is not shared with %s", coord, code, consumer)
	if entry != nil {
		ext["owner"] = entry.Owner
		ext["class"] = string(entry.Class)
		ext["requestable"] = entry.Class == gateway.Conditional
		if entry.Class == gateway.Conditional {
			msg += fmt.Sprintf(": it is conditionally shared by %s; file a sharing request (requestSharing) for this code and your purpose", entry.Owner)
		} else {
			msg += fmt.Sprintf(": %s does not share it", entry.Owner)
		}
	}
	return &gqlerror.Error{Path: graphql.GetPath(ctx), Message: msg, Extensions: ext}
}

func (st *state) record(entry *gateway.CatalogEntry, subj policy.Subject, d policy.Decision) {
	ev := gateway.AuditEvent{
		At:              st.now,
		RequestID:       st.requestID,
		ClientRequestID: st.clientRequestID,
		Code:            entry.Code,
		Owner:           entry.Owner,
		Subject:         subj.ID,
		Decision:        d.Outcome,
		GrantID:         d.GrantID,
	}
	if c := st.caller; c != nil {
		ev.Consumer, ev.EndUser, ev.Purpose = c.Consumer, c.Subject, c.Purpose
	}
	k := eventKey{code: entry.Code, subject: subj.ID, grant: d.GrantID, decision: d.Outcome}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, dup := st.seen[k]; dup {
		return
	}
	if st.seen == nil {
		// Sized for a profile's worth of events, so a request seldom grows them.
		st.seen = make(map[eventKey]struct{}, 16)
		st.events = make([]gateway.AuditEvent, 0, 16)
	}
	st.seen[k] = struct{}{}
	st.events = append(st.events, ev)
}

func (st *state) noteMasked(ctx context.Context, entry *gateway.CatalogEntry) {
	m := map[string]any{"path": graphql.GetPath(ctx), "catalogCode": entry.Code, "owner": entry.Owner, "mask": string(entry.Mask)}
	st.mu.Lock()
	st.masked = append(st.masked, m)
	st.mu.Unlock()
}

// NeedsDepartment reports whether any field selected under the current field, for the
// caller of this operation, would be allowed or masked and must be read from dept. The
// key field is already known to the gateway and needs no call. Resolvers use it so that a
// department whose every selected field is denied is not called at all.
func (e *Enforcer) NeedsDepartment(ctx context.Context, dept, keyField, subjectPerson string) bool {
	st := stateFrom(ctx)
	fc := graphql.GetFieldContext(ctx)
	if st == nil || fc == nil {
		return true
	}
	typeName := fc.Field.Definition.Type.Name()
	fields := graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, []string{typeName})
	subj := policy.Subject{ID: subjectPerson, Person: subjectPerson}
	for _, f := range fields {
		if f.Name == keyField {
			continue
		}
		entry := e.catalog.ByField(typeName + "." + f.Name)
		if entry == nil || entry.Owner != dept {
			continue
		}
		if entry.Copy != nil {
			return true // decided per value, once the record says whose datum it holds
		}
		if policy.Decide(st.caller, entry, subj, st.grants, st.now).Outcome != gateway.Deny {
			return true
		}
	}
	return false
}

// Denied is the error for a relation none of whose selected fields the caller may see
// from dept: FORBIDDEN_FIELD at the relation's path, with the codes concerned. The denials
// are audited for subject like any other.
func (e *Enforcer) Denied(ctx context.Context, dept, subject string) error {
	st := stateFrom(ctx)
	fc := graphql.GetFieldContext(ctx)
	var codes []string
	var class gateway.Class
	requestable := false
	if fc != nil {
		typeName := fc.Field.Definition.Type.Name()
		for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, []string{typeName}) {
			if entry := e.catalog.ByField(typeName + "." + f.Name); entry != nil && entry.Owner == dept {
				if st != nil && entry.Class != gateway.Unconditional {
					st.record(entry, policy.Subject{ID: subject, Person: subject}, policy.Decision{Outcome: gateway.Deny, Rule: policy.RuleDenied})
				}
				codes = append(codes, entry.Code)
				class = entry.Class
				requestable = requestable || entry.Class == gateway.Conditional
			}
		}
	}
	consumer := "this caller"
	if st != nil && st.caller != nil {
		consumer = st.caller.Consumer
	}
	coord := dept
	if fc != nil {
		coord = fc.Object + "." + fc.Field.Name
	}
	msg := fmt.Sprintf("%s: none of the fields selected from %s is shared with %s (%s)", coord, dept, consumer, strings.Join(codes, ", "))
	if requestable {
		msg += "; file a sharing request (requestSharing) for these codes and your purpose"
	}
	return &gqlerror.Error{Path: graphql.GetPath(ctx), Message: msg, Extensions: map[string]any{
		"code": CodeForbiddenField, "catalogCodes": codes, "owner": dept, "class": string(class), "requestable": requestable,
	}}
}
