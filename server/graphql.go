package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/resolvers"
	"pudong.gov.cn/gateway/server/gqlhttp"
)

// CodeInternal is the code of an unexpected failure; details stay in the logs.
const CodeInternal = "INTERNAL_SERVER_ERROR"

// GraphQLOptions are what the GraphQL executor needs.
type GraphQLOptions struct {
	Resolvers     *resolvers.Resolver
	Enforcer      *enforce.Enforcer
	Limits        config.Limits
	Introspection bool
	Log           *slog.Logger
	// Extensions run around every operation: metrics, freshness reports.
	Extensions []graphql.HandlerExtension
	// Manifest is the allowlist; AllowlistOnly says which consumers are bound to it.
	Manifest      Manifest
	AllowlistOnly func(consumer string) bool
	Caller        func(context.Context) *gateway.Caller
}

// NewSchema returns the executable schema with the sharing policy and complexity wired in.
func NewSchema(o GraphQLOptions) graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{
		Resolvers:  o.Resolvers,
		Directives: graph.DirectiveRoot{Share: o.Enforcer.Share},
		Complexity: complexity(),
	})
}

// NewGraphQL returns the GraphQL executor: parsed-query cache, automatic persisted
// queries, query limits, the sharing policy, and errors presented with stable codes.
func NewGraphQL(o GraphQLOptions) *handler.Server {
	srv := handler.New(NewSchema(o))
	srv.AddTransport(gqlhttp.Transport{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if o.Introspection {
		srv.Use(extension.Introspection{})
	}
	// Before anything parses a document (APQ runs first, so a hash is already text).
	guard := &documentGuard{MaxSelections: o.Limits.Selections, checked: lru.New[bool](1000)}
	apq := lru.New[string](10000)
	for hash, op := range o.Manifest {
		apq.Add(context.Background(), hash, op.Query) // registered operations can be sent by hash alone
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: apq})
	srv.Use(guard)
	if o.AllowlistOnly != nil {
		srv.Use(allowlist{manifest: o.Manifest, only: o.AllowlistOnly, caller: o.Caller})
	}
	srv.Use(shapeLimit{Depth: o.Limits.Depth, Aliases: o.Limits.Aliases, Fields: int64(o.Limits.Fields)})
	srv.Use(extension.FixedComplexityLimit(o.Limits.Complexity))
	for _, e := range o.Extensions {
		srv.Use(e)
	}
	srv.Use(o.Enforcer)
	srv.SetErrorPresenter(presentError)
	log := o.Log
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic while resolving", "request_id", gateway.RequestID(ctx), "panic", p)
		return &gqlerror.Error{Message: "internal error; the request id in the X-Request-Id header helps the operators find it",
			Extensions: map[string]any{"code": CodeInternal}}
	})
	return srv
}

// presentError gives department failures their stable code and department, and keeps
// everything else as gqlgen presents it.
func presentError(ctx context.Context, err error) *gqlerror.Error {
	var se *federation.SourceError
	if errors.As(err, &se) {
		return &gqlerror.Error{
			Path:       graphql.GetPath(ctx),
			Message:    se.Error(),
			Extensions: map[string]any{"code": se.Code, "department": se.Department},
		}
	}
	return graphql.DefaultErrorPresenter(ctx, err)
}
