package server

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/resolvers"
	"pudong.gov.cn/gateway/server/gqlhttp"
)

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
}

// NewSchema returns the executable schema with the sharing policy and complexity wired in.
func NewSchema(o GraphQLOptions) graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{
		Resolvers:  o.Resolvers,
		Directives: graph.DirectiveRoot{Share: o.Enforcer.Share, Lookup: o.Enforcer.Lookup, Role: o.Enforcer.Role, Join: o.Enforcer.Join},
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
	} else {
		srv.Use(introspectionOff{})
	}
	// Before anything parses a document (APQ runs first, so a hash is already text).
	guard := &documentGuard{MaxSelections: o.Limits.Selections, checked: lru.New[bool](1000)}
	// Registered operations can be sent by hash alone by anyone; any other text only by
	// the end user who sent it with its hash.
	apq := persistedQueries{registered: o.Manifest, own: lru.New[string](10000)}
	srv.Use(extension.AutomaticPersistedQuery{Cache: apq})
	srv.Use(guard)
	if o.AllowlistOnly != nil {
		srv.Use(allowlist{manifest: o.Manifest, only: o.AllowlistOnly})
	}
	srv.Use(noIncremental{})
	srv.Use(shapeLimit{Depth: o.Limits.Depth, Aliases: o.Limits.Aliases, Fields: int64(o.Limits.Fields), memo: newOpMemo[shape](1000)})
	srv.Use(newComplexityLimit(o.Limits.Complexity))
	for _, e := range o.Extensions {
		srv.Use(e)
	}
	srv.Use(o.Enforcer)
	srv.SetErrorPresenter(errcode.Presenter(o.Log))
	log := o.Log
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic while resolving", "request_id", gateway.RequestID(ctx), "panic", p)
		return errcode.Request(errcode.Internal, errcode.InternalMessage)
	})
	return srv
}
