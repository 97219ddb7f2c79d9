package server

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"pudong.gov.cn/gateway/graph"
)

// The complexity of an operation without variables is computed once per parsed
// operation; one with variables is computed for each request's values, so a page size
// sent as a variable cannot slip past the limit on a remembered figure.
func TestComplexityLimitRemembersOnlyVariableFreeOperations(t *testing.T) {
	pass := func(ctx context.Context, _ any, next graphql.Resolver, _ string, _ *bool) (any, error) {
		return next(ctx)
	}
	es := graph.NewExecutableSchema(graph.Config{Complexity: complexity(), Directives: graph.DirectiveRoot{Lookup: pass}})
	c := newComplexityLimit(200)
	if err := c.Validate(es); err != nil {
		t.Fatal(err)
	}
	run := func(q string, vars map[string]any) (int, bool) {
		t.Helper()
		doc, errs := gqlparser.LoadQuery(es.Schema(), q)
		if errs != nil {
			t.Fatal(errs)
		}
		return c.check(t, doc, vars)
	}
	const fixed = `{ enterprises(first: 5) { edges { node { name } } } }`
	doc, _ := gqlparser.LoadQuery(es.Schema(), fixed)
	n1, ok1 := c.check(t, doc, nil)
	n2, ok2 := c.check(t, doc, nil)
	if !ok1 || !ok2 || n1 != n2 || n1 == 0 {
		t.Errorf("the same operation twice: %d %v, %d %v", n1, ok1, n2, ok2)
	}
	if c.memo.c.Len() != 1 || !c.memo.c.Contains(doc.Operations[0]) {
		t.Errorf("a variable-free operation is not remembered (%d entries)", c.memo.c.Len())
	}

	const paged = `query($n: Int) { enterprises(first: $n) { edges { node { name } } } }`
	if _, ok := run(paged, map[string]any{"n": 5}); !ok {
		t.Error("first: 5 refused")
	}
	if n, ok := run(paged, map[string]any{"n": 5000}); ok {
		t.Errorf("first: 5000 allowed at complexity %d", n)
	}
	if c.memo.c.Len() != 1 {
		t.Errorf("an operation with variables was remembered (%d entries)", c.memo.c.Len())
	}
}

// check runs the limit on doc's operation and returns the complexity it recorded and
// whether it let the operation through.
func (c *complexityLimit) check(t *testing.T, doc *ast.QueryDocument, vars map[string]any) (int, bool) {
	t.Helper()
	oc := &graphql.OperationContext{Doc: doc, Variables: vars}
	err := c.MutateOperationContext(context.Background(), oc)
	st, _ := oc.Stats.GetExtension("ComplexityLimit").(*extension.ComplexityStats)
	if st == nil || st.ComplexityLimit != c.limit {
		t.Fatalf("no complexity statistics: %+v", st)
	}
	return st.Complexity, err == nil
}
