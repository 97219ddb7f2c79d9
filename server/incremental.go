package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway/errcode"
)

// CodeIncrementalNotSupported refuses @defer and @stream before execution.
const CodeIncrementalNotSupported = errcode.IncrementalNotSupported

// noIncremental refuses operations that use @defer or @stream before anything runs. The
// gateway answers each operation as one response whose audit events are committed before
// it leaves; a deferred part would be resolved after that commit, so it could neither be
// audited nor be promised and then sent (docs/SECURITY.md, "incremental delivery").
type noIncremental struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIncremental{}

func (noIncremental) ExtensionName() string                   { return "NoIncrementalDelivery" }
func (noIncremental) Validate(graphql.ExecutableSchema) error { return nil }

func (noIncremental) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Doc == nil {
		return nil
	}
	for _, op := range oc.Doc.Operations {
		if d := incrementalIn(op.SelectionSet); d != "" {
			return incrementalError(d)
		}
	}
	for _, f := range oc.Doc.Fragments {
		if d := incrementalIn(f.SelectionSet); d != "" {
			return incrementalError(d)
		}
	}
	return nil
}

func incrementalError(directive string) *gqlerror.Error {
	return &gqlerror.Error{
		Message: "@" + directive + " is not supported: the gateway sends each answer whole, once its audit is on record; " +
			"remove @" + directive + " (the fields are answered in the one response)",
		Extensions: map[string]any{"code": CodeIncrementalNotSupported, "directive": directive},
	}
}

// incrementalIn names the first @defer or @stream in a selection set, or "".
func incrementalIn(set ast.SelectionSet) string {
	for _, sel := range set {
		var dirs ast.DirectiveList
		var sub ast.SelectionSet
		switch s := sel.(type) {
		case *ast.Field:
			dirs, sub = s.Directives, s.SelectionSet
		case *ast.InlineFragment:
			dirs, sub = s.Directives, s.SelectionSet
		case *ast.FragmentSpread:
			dirs = s.Directives
		}
		for _, name := range []string{"defer", "stream"} {
			if dirs.ForName(name) != nil {
				return name
			}
		}
		if d := incrementalIn(sub); d != "" {
			return d
		}
	}
	return ""
}
