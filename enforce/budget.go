package enforce

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/ratelimit"
)

// CodeSubjectLimit is the code of a field refused because the caller has looked up more
// distinct people than its budget allows (docs/SECURITY.md, "cost-based limits").
const CodeSubjectLimit = errcode.SubjectLimit

// SubjectLimit bounds how many distinct people one end user of a consumer may read or
// look up: in one request, and per minute across requests. Zero means no bound.
type SubjectLimit struct {
	PerRequest int
	PerMinute  int
}

// Budget takes from an end user's per-minute budget of distinct people.
type Budget interface {
	// Limit is the caller's bound.
	Limit(c *gateway.Caller) SubjectLimit
	// Take counts person against the caller's budget, unless the caller already reached
	// them within the minute; ok is false, with the time after which a person is
	// available again, when the budget is spent (nothing is taken then).
	Take(ctx context.Context, c *gateway.Caller, person string) (ok bool, retryAfter time.Duration)
}

// LimiterBudget keeps each end user's budget as a token bucket on a ratelimit.Limiter:
// in this replica's memory, or in Redis shared by every replica, so that a load balancer
// spreading one end user's requests does not multiply their budget (docs/operators.md,
// "Rate limits"). Which people an end user reached in the last minute it remembers in
// this replica's memory, so that reading the same person again does not count again;
// a person reached through two replicas, or forgotten when the memory is full, counts
// once more, which only ever makes the bound stricter.
type LimiterBudget struct {
	lim    ratelimit.Limiter
	limits func(consumer string) SubjectLimit
	seen   *lru.Cache[string, time.Time] // end user and person → when counted
	now    func() time.Time
}

// budgetMemory is how long a person counted against an end user's budget stays
// counted, and budgetMemoryKeys how many (end user, person) pairs a replica remembers.
const (
	budgetMemory     = time.Minute
	budgetMemoryKeys = 100_000
)

// NewLimiterBudget counts on lim the budgets limits returns for each consumer.
func NewLimiterBudget(lim ratelimit.Limiter, limits func(consumer string) SubjectLimit) *LimiterBudget {
	seen, _ := lru.New[string, time.Time](budgetMemoryKeys)
	return &LimiterBudget{lim: lim, limits: limits, seen: seen, now: time.Now}
}

// Limit returns the consumer's configured bound.
func (b *LimiterBudget) Limit(c *gateway.Caller) SubjectLimit { return b.limits(c.Consumer) }

// Take takes one person from the end user's bucket, which holds PerMinute people and
// refills PerMinute a minute, unless the end user reached that person within the last
// minute.
func (b *LimiterBudget) Take(ctx context.Context, c *gateway.Caller, person string) (bool, time.Duration) {
	lim := b.limits(c.Consumer)
	if lim.PerMinute <= 0 {
		return true, 0
	}
	key := budgetKey(c)
	pair := key + "\x00" + person
	now := b.now()
	if at, ok := b.seen.Get(pair); ok && now.Sub(at) < budgetMemory {
		return true, 0
	}
	r := ratelimit.Rate{PerSecond: float64(lim.PerMinute) / 60, Burst: lim.PerMinute}
	ok, wait := b.lim.AllowN(ctx, key, r, 1)
	if ok {
		b.seen.Add(pair, now)
	}
	return ok, wait
}

// budgetKey is the end user's bucket: "s" then NUL, beside the rate limits' "c" and "u"
// keys on the same Limiter (server.RateLimiter). Configured consumer names hold no NUL,
// so the key is unambiguous whatever a token's subject holds.
func budgetKey(c *gateway.Caller) string { return "s\x00" + c.Consumer + "\x00" + c.Subject }

// touch counts a person the request reads or looks up against the caller's budget. The
// caller's own data and the owner's reads of its own data do not count: the budget
// bounds how many other people one end user can reach, however the query is shaped
// (aliases, lists, relations, lookups).
func (e *Enforcer) touch(ctx context.Context, st *state, t target, d policy.Decision) error {
	person := t.subject.Person
	c := st.caller
	if e.budget == nil || c == nil || person == "" || person == c.CitizenID || d.Rule == policy.RuleOwner {
		return nil
	}
	st.mu.Lock()
	if st.people[person] {
		st.mu.Unlock()
		return nil
	}
	lim := e.budget.Limit(c)
	if lim.PerRequest > 0 && len(st.people) >= lim.PerRequest {
		st.mu.Unlock()
		return subjectLimitError(ctx, c, fmt.Sprintf("this request reaches more than %d people other than yourself; ask for fewer at a time", lim.PerRequest), "perRequest", 0)
	}
	if st.people == nil {
		st.people = map[string]bool{}
	}
	st.people[person] = true
	st.mu.Unlock()
	if ok, wait := e.budget.Take(ctx, c, person); !ok {
		st.mu.Lock()
		delete(st.people, person)
		st.mu.Unlock()
		secs := int(math.Ceil(wait.Seconds()))
		return subjectLimitError(ctx, c, fmt.Sprintf("you have reached %d people other than yourself in the last minute; retry after %d s", lim.PerMinute, secs), "perMinute", secs)
	}
	return nil
}

func subjectLimitError(ctx context.Context, c *gateway.Caller, msg, which string, retryAfter int) error {
	ext := map[string]any{"code": CodeSubjectLimit, "limit": which, "consumer": c.Consumer}
	if retryAfter > 0 {
		ext["retryAfterSeconds"] = retryAfter
	}
	return &gqlerror.Error{Path: fieldPath(ctx), Message: msg, Extensions: ext}
}

// fieldPath is the response path of the field being resolved (an argument's directive
// runs with the argument's name appended, which is no response path).
func fieldPath(ctx context.Context) ast.Path {
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		return fc.Path()
	}
	return graphql.GetPath(ctx)
}
