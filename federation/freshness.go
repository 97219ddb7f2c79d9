package federation

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"pudong.gov.cn/gateway"
)

// SourceFreshness says, for one department in one response, whether its data came from
// the cache, from the department, or both, how old the oldest cached answer was, and
// whether anything was served stale because the department failed.
//
// The cache is shared by every consumer, so a hit and its age tell that someone else
// asked about the same subject, and when. Only the department's own callers see those
// figures; everyone else sees whether anything was stale (docs/SECURITY.md, "side
// channels").
type SourceFreshness struct {
	CacheHits int `json:"cacheHits,omitempty"`
	// Fetched counts lookups the department answered; Failed those it was asked and
	// did not answer (their fields carry the error), so a failure never reads as a fetch.
	Fetched       int     `json:"fetched,omitempty"`
	Failed        int     `json:"failed,omitempty"`
	MaxAgeSeconds float64 `json:"maxAgeSeconds,omitempty"`
	Stale         bool    `json:"stale"`
}

type freshness struct {
	mu sync.Mutex
	m  map[string]*SourceFreshness
}

func noteFreshness(ctx context.Context, dept string, hits, fetched, failed int, age time.Duration, stale bool) {
	l, ok := ctx.Value(loadersKey{}).(*Loaders)
	if !ok {
		return
	}
	f := &l.fresh
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*SourceFreshness{}
	}
	s := f.m[dept]
	if s == nil {
		s = &SourceFreshness{}
		f.m[dept] = s
	}
	s.CacheHits += hits
	s.Fetched += fetched
	s.Failed += failed
	if a := age.Seconds(); a > s.MaxAgeSeconds {
		s.MaxAgeSeconds = float64(int64(a*1000)) / 1000
	}
	s.Stale = s.Stale || stale
}

// FreshnessExtension adds `extensions.sources` to every response: per department, how
// much came from the cache, how old it was and whether it was stale.
type FreshnessExtension struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = FreshnessExtension{}

// ExtensionName names the gqlgen extension.
func (FreshnessExtension) ExtensionName() string { return "SourceFreshness" }

// Validate is part of gqlgen's extension interface.
func (FreshnessExtension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse attaches the request's freshness report.
func (FreshnessExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	l, ok := ctx.Value(loadersKey{}).(*Loaders)
	if resp == nil || !ok {
		return resp
	}
	l.fresh.mu.Lock()
	defer l.fresh.mu.Unlock()
	if len(l.fresh.m) == 0 {
		return resp
	}
	c := gateway.CallerFrom(ctx)
	out := make(map[string]SourceFreshness, len(l.fresh.m))
	for k, v := range l.fresh.m {
		if c != nil && c.Dept == k {
			out[k] = *v
		} else if v.Stale {
			// How old stale data is matters to the caller; it reveals only that the
			// record was read at least one update cycle ago.
			out[k] = SourceFreshness{Stale: true, MaxAgeSeconds: v.MaxAgeSeconds, Failed: v.Failed}
		} else {
			// This request's own failures tell nothing about anyone else's.
			out[k] = SourceFreshness{Failed: v.Failed}
		}
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["sources"] = out
	return resp
}

// unanswered counts the keys a failed lookup has no records for: the ones whose fields
// carry the error. Without an error, keys absent from got are ones the department does
// not know, which it answered.
func unanswered[V any](keys []string, got map[string]V, err error) int {
	if err == nil {
		return 0
	}
	n := 0
	for _, k := range keys {
		if _, ok := got[k]; !ok {
			n++
		}
	}
	return n
}
