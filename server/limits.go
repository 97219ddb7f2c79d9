package server

import (
	"context"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway/graph"
)

// Error codes of query limits, in extensions.code.
const (
	CodeQueryTooDeep     = "QUERY_TOO_DEEP"
	CodeTooManyAliases   = "TOO_MANY_ALIASES"
	CodeTooComplex       = "QUERY_TOO_COMPLEX"
	CodeIntrospectionOff = "INTROSPECTION_DISABLED"
)

// shapeLimit refuses operations nested deeper than Depth or using more than Aliases
// aliases, before anything runs: both are cheap ways to make one request cost many
// department calls.
type shapeLimit struct {
	Depth   int
	Aliases int
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
	aliases := 0
	depth := measure(oc.Operation.SelectionSet, 1, &aliases, map[string]bool{})
	if depth > l.Depth {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the query is nested %d levels deep; at most %d are allowed", depth, l.Depth),
			Extensions: map[string]any{"code": CodeQueryTooDeep, "depth": depth, "limit": l.Depth},
		}
	}
	if aliases > l.Aliases {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the query uses %d aliases; at most %d are allowed", aliases, l.Aliases),
			Extensions: map[string]any{"code": CodeTooManyAliases, "aliases": aliases, "limit": l.Aliases},
		}
	}
	return nil
}

// measure returns the depth of a selection set and counts its aliases. Fragment spreads
// are followed once per path (validation has already refused cycles).
func measure(set ast.SelectionSet, level int, aliases *int, onPath map[string]bool) int {
	deepest := level - 1
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				*aliases++
			}
			d := level
			if len(s.SelectionSet) > 0 {
				d = measure(s.SelectionSet, level+1, aliases, onPath)
			}
			deepest = max(deepest, d)
		case *ast.InlineFragment:
			deepest = max(deepest, measure(s.SelectionSet, level, aliases, onPath))
		case *ast.FragmentSpread:
			if s.Definition == nil || onPath[s.Name] {
				continue
			}
			onPath[s.Name] = true
			deepest = max(deepest, measure(s.Definition.SelectionSet, level, aliases, onPath))
			delete(onPath, s.Name)
		}
	}
	return deepest
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
