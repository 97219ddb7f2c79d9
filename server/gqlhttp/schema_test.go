package gqlhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/99designs/gqlgen/graphql"
)

// testSchema is a tiny hand-written graphql.ExecutableSchema, so that the tests exercise
// gqlgen's real executor (parsing, validation, variable coercion, extensions) without
// generated code. It counts what it executes, so a test can prove that something did not run.
type testSchema struct {
	schema    *ast.Schema
	queries   atomic.Int32
	mutations atomic.Int32
	subs      atomic.Int32
}

func newTestSchema() *testSchema {
	return &testSchema{schema: gqlparser.MustLoadSchema(&ast.Source{Name: "test.graphql", Input: `
		type Query {
			hello: String!
			echo(n: Int!): Int!
			broken: String
		}
		type Mutation { bump: Int! }
		type Subscription { ticks: Int! }
	`})}
}

func (s *testSchema) Schema() *ast.Schema { return s.schema }

func (s *testSchema) Complexity(context.Context, string, string, int, map[string]any) (int, bool) {
	return 0, false
}

// Exec resolves fields inside the returned handler, as generated code does: errors added
// there are field errors that travel with the data, not request errors.
func (s *testSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		var buf bytes.Buffer
		buf.WriteByte('{')
		typeName := map[ast.Operation]string{ast.Query: "Query", ast.Mutation: "Mutation", ast.Subscription: "Subscription"}[opCtx.Operation.Operation]
		for i, f := range graphql.CollectFields(opCtx, opCtx.Operation.SelectionSet, []string{typeName}) {
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(f.Alias)
			buf.Write(key)
			buf.WriteByte(':')
			var v any
			switch f.Name {
			case "__typename":
				v = typeName
			case "hello":
				s.queries.Add(1)
				v = "world"
			case "echo":
				s.queries.Add(1)
				v = f.ArgumentMap(opCtx.Variables)["n"]
			case "broken":
				s.queries.Add(1)
				graphql.AddError(ctx, &gqlerror.Error{Message: "broken always fails", Path: ast.Path{ast.PathName(f.Alias)}})
			case "bump":
				v = s.mutations.Add(1)
			case "ticks":
				v = s.subs.Add(1)
			default:
				panic(fmt.Sprintf("test schema has no resolver for %s", f.Name))
			}
			b, _ := json.Marshal(v)
			buf.Write(b)
		}
		buf.WriteByte('}')
		return &graphql.Response{Data: buf.Bytes()}
	}
}
