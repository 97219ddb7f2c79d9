// Package resolvers maps the unified schema onto the federation's loaders. Resolvers are
// thin on purpose: read and validate arguments, ask a loader, return. Sharing policy is
// not here: the @share directive applies it to every governed field, whatever resolver
// produced the value.
package resolvers

import (
	"context"
	"errors"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/idcode"
)

// Planner tells a resolver whether the fields selected below it need a department at
// all for this caller: when every one of them is denied, the department is not called
// (data minimisation).
type Planner interface {
	NeedsDepartment(ctx context.Context, dept, keyField, subjectPerson string) bool
	// Denied is the error for a relation whose every selected field is denied: the
	// relation is null and names the codes, so the caller can file a sharing request.
	Denied(ctx context.Context, dept, subject string) error
}

// Quality serves the data-quality loop: objections and the gateway's findings.
type Quality interface {
	ReportDataIssue(ctx context.Context, input model.DataIssueInput) (*model.DataIssue, error)
	ResolveDataIssue(ctx context.Context, id string, outcome model.DataIssueOutcome, note *string) (*model.DataIssue, error)
	DataIssues(ctx context.Context, status *model.DataIssueStatus, kind *model.DataIssueKind) ([]*model.DataIssue, error)
	// DataQuality counts one department's objections and findings (CIO office).
	DataQuality(ctx context.Context, department string) (*model.DepartmentDataQuality, error)
}

// share is n as a fraction of a department's catalogue items, 0 when it has none.
func share(n int, s *model.DepartmentSharingStats) float64 {
	total := s.Unconditional + s.Conditional + s.NotShared
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

// Watcher serves watch lists and the notices of their changes.
type Watcher interface {
	Watch(ctx context.Context, subjects []string) ([]*model.Watch, error)
	Unwatch(ctx context.Context, subjects []string) (int, error)
	WatchList(ctx context.Context) ([]*model.Watch, error)
	Notices(ctx context.Context, status *model.NoticeStatus, after *string, first *int) ([]*model.Notice, error)
	// Seen is told, without waiting, that a request read a subject's governed data.
	Seen(subject string)
}

// seen tells the watcher that a request read subject's governed data.
func (r *Resolver) seen(subject string) {
	if r.Watcher != nil {
		r.Watcher.Seen(subject)
	}
}

// creditRecordsOf loads a subject's credit records for a request.
func (r *Resolver) creditRecordsOf(ctx context.Context, subject string) ([]adapters.Record, error) {
	recs, err := loaders(ctx).CreditRecords(ctx, subject)
	if err == nil {
		r.seen(subject)
	}
	return recs, err
}

// Comparer is told when a request holds two departments' versions of one datum, to
// compare them; it must return at once (the comparison and its record happen off the
// request's path). A nil record is one the department does not have.
type Comparer interface {
	LegalRepresentative(enterprise, person adapters.Record)
	Employer(insurance, employer adapters.Record)
}

// Resolver is the root of the resolvers and holds their dependencies.
type Resolver struct {
	Fed     *federation.Federation
	Planner Planner
	Admin   Admin
	Quality Quality
	Watcher Watcher
	// Comparer, when set, compares what two departments hold about one subject.
	Comparer Comparer
	// MaxPageSize bounds `first`, to protect the departments (default config.DefaultPageSize).
	MaxPageSize int
}

// badInput is an argument error that names the argument and the rule it broke.
func badInput(ctx context.Context, arg string, err error) error {
	e := errcode.At(ctx, errcode.BadUserInput, "argument "+arg+": "+err.Error())
	e.Extensions["argument"] = arg
	return e
}

// errSubject is the rule a credit subject must follow.
var errSubject = errors.New("a subject is a citizen ID number (GB 11643) or a unified social credit code (GB 32100)")

// validSubject checks a credit subject: an ID number or a credit code.
func validSubject(s string) error {
	if idcode.ValidateIDNumber(s) == nil || idcode.ValidateCreditCode(s) == nil {
		return nil
	}
	if len(s) == 18 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[6] >= '0' && s[6] <= '9' && s[7] >= '0' && s[7] <= '9' {
		// Shaped like an ID number: name the ID rule it broke.
		if err := idcode.ValidateIDNumber(s); !errors.Is(err, idcode.ErrIDFormat) {
			return err
		}
	}
	return errSubject
}

func loaders(ctx context.Context) *federation.Loaders { return federation.LoadersFrom(ctx) }

func value(r adapters.Record, name string) *string {
	if v, ok := r[name]; ok && v != "" {
		return &v
	}
	return nil
}

// personField reads one field of a citizen's registry record. A legal representative's
// record is compared with the enterprise registry's copy while both are at hand.
func (r *Resolver) personField(ctx context.Context, c *federation.Citizen, name string) (*string, error) {
	rec, err := loaders(ctx).Person(ctx, c.IDNumber)
	if err != nil {
		return nil, err
	}
	if c.RepresentativeOf != nil && r.Comparer != nil {
		r.Comparer.LegalRepresentative(c.RepresentativeOf.Record, rec)
	}
	return value(rec, name), nil
}

// enterpriseFor returns the enterprise with its registry record loaded, so its fields
// are plain reads. With plan set, the registry is asked only when a field other than the
// credit code is selected below (data minimisation); a failure is kept in Err for those
// fields to report.
func (r *Resolver) enterpriseFor(ctx context.Context, code string, plan bool) *federation.Enterprise {
	e, _ := r.loadEnterprise(ctx, code, plan)
	return e
}

// loadEnterprise is enterpriseFor that also says whether the registry answered for it.
func (r *Resolver) loadEnterprise(ctx context.Context, code string, plan bool) (e *federation.Enterprise, answered bool) {
	e = &federation.Enterprise{CreditCode: code, Record: adapters.Record{}}
	if plan && !r.Planner.NeedsDepartment(ctx, r.Fed.Sources().Enterprise.Department, "creditCode", "") {
		return e, false
	}
	rec, err := loaders(ctx).Enterprise(ctx, code)
	switch {
	case err != nil:
		e.Err = err
	case rec != nil:
		e.Record = rec
	}
	return e, err == nil
}

func creditRecords(recs []adapters.Record, kinds []string) []*federation.CreditRecord {
	out := make([]*federation.CreditRecord, 0, len(recs))
	for _, r := range recs {
		if len(kinds) > 0 && !slices.Contains(kinds, r["kind"]) {
			continue
		}
		out = append(out, &federation.CreditRecord{Record: r})
	}
	return out
}

// prefetchEnterpriseLinks looks ahead in the selection under a list of enterprises and
// registers, in one batch, the credit subjects it will need: the enterprises' own
// records and their legal representatives'. One query then serves both levels.
func prefetchEnterpriseLinks(ctx context.Context, l *federation.Loaders, recs []adapters.Record, path ...string) {
	if len(recs) == 0 {
		return // nothing to prefetch, so the selection need not be read
	}
	fields := selected(ctx, path...)
	var subjects []string
	if named(fields, "creditRecords") != nil {
		for _, r := range recs {
			subjects = append(subjects, r["creditCode"])
		}
	}
	if rep := named(fields, "legalRepresentative"); rep != nil && hasChild(ctx, rep, "Citizen", "creditRecords") {
		for _, r := range recs {
			if id := r["legalRepresentativeId"]; id != "" {
				subjects = append(subjects, id)
			}
		}
	}
	l.PrefetchCredit(ctx, subjects)
}

// enterpriseType is the satisfies list of an enterprise's selection, made once.
var enterpriseType = []string{"Enterprise"}

// selected collects the fields selected under the current field, following path through
// nested fields (e.g. "edges", "node" for a connection); named finds one by name.
func selected(ctx context.Context, path ...string) []graphql.CollectedField {
	oc := graphql.GetOperationContext(ctx)
	fc := graphql.GetFieldContext(ctx)
	if oc == nil || fc == nil {
		return nil
	}
	set := fc.Field.Selections
	for _, step := range path {
		var next ast.SelectionSet
		for _, f := range graphql.CollectFields(oc, set, nil) {
			if f.Name == step {
				next = append(next, f.Selections...)
			}
		}
		set = next
	}
	return graphql.CollectFields(oc, set, enterpriseType)
}

// named returns the first of fields with the name, or nil.
func named(fields []graphql.CollectedField, name string) *graphql.CollectedField {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}

func hasChild(ctx context.Context, f *graphql.CollectedField, typeName, name string) bool {
	for _, c := range graphql.CollectFields(graphql.GetOperationContext(ctx), f.Selections, []string{typeName}) {
		if c.Name == name {
			return true
		}
	}
	return false
}

func enterprises(l *federation.Loaders, recs []adapters.Record) []*federation.Enterprise {
	out := make([]*federation.Enterprise, len(recs))
	for i, r := range recs {
		l.PrimeEnterprise(r)
		out[i] = &federation.Enterprise{CreditCode: r["creditCode"], Record: r}
	}
	return out
}
