package server

import (
	"context"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"pudong.gov.cn/gateway"
)

// persistedQueries is the store of automatic persisted queries: the allowlist's
// registered operations, known by hash to every caller, and each end user's own
// registrations, known by hash to that end user alone. One store for all callers would
// be an oracle: a query text carries its literal arguments, so whoever asks for a hash
// by itself would learn whether anybody else sent that exact text, such as a lookup of
// one person (docs/SECURITY.md, "persisted queries").
type persistedQueries struct {
	registered Manifest
	own        graphql.Cache[string]
}

var _ graphql.Cache[string] = persistedQueries{}

// Get returns the text registered under hash, or the one the caller itself sent with it.
func (p persistedQueries) Get(ctx context.Context, hash string) (string, bool) {
	if op, ok := p.registered[hash]; ok {
		return op.Query, true
	}
	return p.own.Get(ctx, callerScope(ctx)+hash)
}

// Add keeps a text the caller sent with its hash, for that caller only.
func (p persistedQueries) Add(ctx context.Context, hash, query string) {
	if _, ok := p.registered[hash]; ok {
		return
	}
	p.own.Add(ctx, callerScope(ctx)+hash, query)
}

// callerScope names the end user a persisted query belongs to: consumer, end user,
// purpose and citizen, each prefixed by its length so that no two callers share a scope.
func callerScope(ctx context.Context) string {
	c := gateway.CallerFrom(ctx)
	if c == nil {
		return "-"
	}
	s := ""
	for _, part := range []string{c.Consumer, c.Subject, c.Purpose, c.CitizenID} {
		s += strconv.Itoa(len(part)) + ":" + part
	}
	return s + "|"
}
