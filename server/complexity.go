package server

import (
	"context"
	"errors"

	gqlcomplexity "github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	gqlcode "github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway/errcode"
)

// opMemo remembers a figure computed from a parsed operation alone. The parsed-query
// cache hands the same *ast.OperationDefinition to every request that sends the same
// document, so a warm request finds its operation's figure without walking the document
// again (docs/PERFORMANCE.md, "Warm and cold paths: profile and fixes"). An entry keeps
// its document alive; the memo is bounded like the query cache.
type opMemo[T any] struct {
	c *lru.Cache[*ast.OperationDefinition, T]
}

func newOpMemo[T any](size int) opMemo[T] {
	c, err := lru.New[*ast.OperationDefinition, T](size)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return opMemo[T]{c: c}
}

// get returns op's figure, computing and remembering it on a miss. A nil memo computes
// every time.
func (m opMemo[T]) get(op *ast.OperationDefinition, compute func() T) T {
	if m.c == nil || op == nil {
		return compute()
	}
	if v, ok := m.c.Get(op); ok {
		return v
	}
	v := compute()
	m.c.Add(op, v)
	return v
}

// complexityLimit is gqlgen's FixedComplexityLimit (the same error, code and operation
// statistics) with the complexity of an operation that declares no variables
// remembered: without variables, it is a function of the document alone, and the
// complexity functions (complexity in limits.go) read only the arguments.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	memo  opMemo[int]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*complexityLimit)(nil)

func newComplexityLimit(limit int) *complexityLimit {
	return &complexityLimit{limit: limit, memo: newOpMemo[int](1000)}
}

// ExtensionName is gqlgen's, so that its operation statistics read the same.
func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	if es == nil {
		return errors.New("complexity limit: no schema")
	}
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	calc := func() int { return gqlcomplexity.Calculate(ctx, c.es, op, oc.Variables) }
	var n int
	if op != nil && len(op.VariableDefinitions) == 0 {
		n = c.memo.get(op, calc)
	} else {
		n = calc()
	}
	oc.Stats.SetExtension("ComplexityLimit", &extension.ComplexityStats{Complexity: n, ComplexityLimit: c.limit})
	if n > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", n, c.limit)
		gqlcode.Set(err, errcode.ComplexityLimitExceeded)
		return err
	}
	return nil
}
