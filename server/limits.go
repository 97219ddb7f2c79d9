package server

import (
	"context"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/graph"
)

// shapeLimit refuses, before anything runs, operations nested deeper than Depth, using
// more than Aliases aliases, or expanding to more than Fields field selections once
// fragments are spread: all cheap ways to make one request cost a great deal. Each
// fragment is measured once and reused, so a document whose fragments spread each other
// many times ("fragment bombs") costs linear time to measure, not exponential.
type shapeLimit struct {
	Depth   int
	Aliases int
	Fields  int64
	memo    opMemo[shape] // an operation's shape depends on its document alone
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	sh := l.memo.get(oc.Operation, func() shape {
		m := measurer{memo: map[string]shape{}, onPath: map[string]bool{}}
		return m.set(oc.Operation.SelectionSet)
	})
	switch {
	case sh.depth > l.Depth:
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the query is nested %d levels deep; at most %d are allowed", sh.depth, l.Depth),
			Extensions: map[string]any{"code": errcode.QueryTooDeep, "depth": sh.depth, "limit": l.Depth},
		}
	case sh.aliases > int64(l.Aliases):
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the query uses %d aliases; at most %d are allowed", sh.aliases, l.Aliases),
			Extensions: map[string]any{"code": errcode.TooManyAliases, "aliases": sh.aliases, "limit": l.Aliases},
		}
	case l.Fields > 0 && sh.fields > l.Fields:
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the query expands to %d field selections once its fragments are spread; at most %d are allowed", sh.fields, l.Fields),
			Extensions: map[string]any{"code": errcode.QueryTooComplex, "fields": sh.fields, "limit": l.Fields},
		}
	}
	return nil
}

// shape is what a selection set costs: its depth, and its aliases and field selections
// counted as often as they would be executed (saturating, never overflowing).
type shape struct {
	depth           int
	aliases, fields int64
	chain           int // the longest __Type.ofType chain starting at this selection set
}

type measurer struct {
	memo   map[string]shape
	onPath map[string]bool
}

const saturated = int64(1) << 50

func sat(a, b int64) int64 { return min(a+b, saturated) }

func (m *measurer) set(set ast.SelectionSet) shape {
	var out shape
	for _, sel := range set {
		var sh shape
		switch s := sel.(type) {
		case *ast.Field:
			sh = m.set(s.SelectionSet)
			link := 0
			if typeRefLink(s) {
				link = sh.chain + 1
			}
			switch {
			case len(s.SelectionSet) == 0:
				sh.depth = 1
			case link == 0 || link > maxTypeRefChain:
				sh.depth++
			}
			sh.chain = link
			sh.fields = sat(sh.fields, 1)
			if s.Alias != "" && s.Alias != s.Name {
				sh.aliases = sat(sh.aliases, 1)
			}
		case *ast.InlineFragment:
			sh = m.set(s.SelectionSet)
		case *ast.FragmentSpread:
			sh = m.fragment(s)
		}
		out.depth = max(out.depth, sh.depth)
		out.chain = max(out.chain, sh.chain)
		out.aliases = sat(out.aliases, sh.aliases)
		out.fields = sat(out.fields, sh.fields)
	}
	return out
}

// maxTypeRefChain is how many ofType links in a row are exempt from the depth limit:
// graphql-js's query nests nine, and no type reference of this schema wraps deeper than
// [[T!]!]! (three), so a longer chain only inflates a query and counts again.
const maxTypeRefChain = 10

// typeRefLink reports whether f is a link of introspection's type-reference chain,
// __Type.ofType. The standard introspection query (graphql-js getIntrospectionQuery, which
// GraphiQL and code generators send) unwraps NON_NULL and LIST wrappers through eight
// nested ofType selections, so counting them would refuse every standard tool. Such a
// chain only walks the wrappers of one type reference and costs nothing; nesting that
// does fan out (fields → type → fields …) still counts, and so does a chain longer than
// maxTypeRefChain, so introspection cannot be used to build a deep query.
func typeRefLink(f *ast.Field) bool {
	return f.Name == "ofType" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "__Type"
}

// introspectionOff answers an operation that asks for __schema or __type, when
// introspection is off, with INTROSPECTION_DISABLED (docs/errors.md) before anything runs.
// __typename is not introspection of the schema and stays allowed.
type introspectionOff struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = introspectionOff{}

func (introspectionOff) ExtensionName() string                   { return "IntrospectionOff" }
func (introspectionOff) Validate(graphql.ExecutableSchema) error { return nil }

func (introspectionOff) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Query || !asksSchema(oc.Operation.SelectionSet, map[string]bool{}) {
		return nil
	}
	return &gqlerror.Error{
		Message:    "schema introspection (__schema, __type) is turned off on this gateway; the schema reference is docs/schema.md in the gateway's documentation",
		Extensions: map[string]any{"code": errcode.IntrospectionDisabled},
	}
}

// asksSchema reports whether a root selection set selects __schema or __type, directly
// or through fragments (each visited once).
func asksSchema(set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if asksSchema(s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if asksSchema(s.Definition.SelectionSet, seen) {
					return true
				}
			}
		}
	}
	return false
}

// fragment measures a fragment once. Validation has already refused cycles; onPath
// guards anyway, so a cycle can never recurse forever.
func (m *measurer) fragment(s *ast.FragmentSpread) shape {
	if s.Definition == nil || m.onPath[s.Name] {
		return shape{}
	}
	if sh, ok := m.memo[s.Name]; ok {
		return sh
	}
	m.onPath[s.Name] = true
	sh := m.set(s.Definition.SelectionSet)
	delete(m.onPath, s.Name)
	m.memo[s.Name] = sh
	return sh
}

// listWeight is the assumed length of a list field without a page size.
const listWeight = 10

// complexity weighs list fields by their page size, so a complexity limit bounds the
// department calls one query can cause.
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	page := func(first *int) int {
		if first == nil || *first < 1 {
			return 20
		}
		return *first
	}
	list := func(child int) int { return 1 + child*listWeight }
	c.Query.Enterprises = func(child int, _ *string, first *int, _ *string) int { return 1 + child*page(first) }
	c.Query.AuditEvents = func(child int, _, _ *string, _, _ *time.Time, first *int, _ *string) int {
		return 1 + child*page(first)
	}
	c.Query.CreditRecords = func(child int, _ string, _ []string) int { return list(child) }
	c.Citizen.CreditRecords = func(child int, _ []string) int { return list(child) }
	c.Citizen.Enterprises = list
	c.Citizen.SocialInsurance = list
	c.Enterprise.CreditRecords = func(child int, _ []string) int { return list(child) }
	return c
}

// documentGuard refuses, before gqlgen parses and validates a document, one with more
// field selections than any real front end sends. Validation compares the fields of a
// selection set pairwise, so a document of thousands of repeated fields would cost
// seconds of CPU before any other limit is even consulted.
type documentGuard struct {
	MaxSelections int
	checked       *lru.LRU[bool] // documents already found within the limit
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*documentGuard)(nil)

func (*documentGuard) ExtensionName() string                   { return "DocumentGuard" }
func (*documentGuard) Validate(graphql.ExecutableSchema) error { return nil }

func (g *documentGuard) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" || g.MaxSelections <= 0 {
		return nil
	}
	if _, ok := g.checked.Get(ctx, p.Query); ok {
		return nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return nil // gqlgen reports the syntax error
	}
	n := 0
	var count func(ast.SelectionSet)
	count = func(set ast.SelectionSet) {
		for _, sel := range set {
			n++
			switch s := sel.(type) {
			case *ast.Field:
				count(s.SelectionSet)
			case *ast.InlineFragment:
				count(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		count(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		count(f.SelectionSet)
	}
	if n > g.MaxSelections {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the document has %d selections; at most %d are allowed", n, g.MaxSelections),
			Extensions: map[string]any{"code": errcode.QueryTooComplex, "selections": n, "limit": g.MaxSelections},
		}
	}
	g.checked.Add(ctx, p.Query, true)
	return nil
}
