package store

import (
	"context"
	"time"

	"pudong.gov.cn/gateway"
)

// WithTimeout bounds every call to s that serves a request by d, so that a database that
// stops answering fails those calls after d instead of holding their requests for as long
// as it stalls (docs/operators.md, store.timeout). ScanAudit is not bounded: it reads the
// whole chain, for as long as that takes, and its caller (audit verify) sets its own
// deadline. A d of zero or less returns s unchanged.
func WithTimeout(s Store, d time.Duration) Store {
	if d <= 0 {
		return s
	}
	return timeoutStore{s, d}
}

type timeoutStore struct {
	Store
	d time.Duration
}

// within runs f with the store's bound on ctx.
func within[T any](t timeoutStore, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	return Within(ctx, t.d, f)
}

// Within runs f with ctx bounded by d (not bounded when d is zero or less): the bound of
// one call a request makes into the gateway's database, for the store and the tables
// the gateway keeps beside it alike (docs/operators.md, store.timeout).
func Within[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	if Later(ctx, d) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return f(ctx)
}

// Later reports whether a bound of d (none when d is zero or less) from now would end
// sooner than ctx: whether bounding ctx by d changes anything. An audited answer passes
// through several bounds of its wait for the disk (docs/audit.md, The journal); where an
// earlier one already ends first, a later one adds no context and no timer.
func Later(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

func (t timeoutStore) CreateRequests(ctx context.Context, reqs []gateway.SharingRequest) ([]gateway.SharingRequest, error) {
	return within(t, ctx, func(ctx context.Context) ([]gateway.SharingRequest, error) { return t.Store.CreateRequests(ctx, reqs) })
}

func (t timeoutStore) GetRequest(ctx context.Context, id string) (*gateway.SharingRequest, error) {
	return within(t, ctx, func(ctx context.Context) (*gateway.SharingRequest, error) { return t.Store.GetRequest(ctx, id) })
}

func (t timeoutStore) ListRequests(ctx context.Context, f RequestFilter) ([]gateway.SharingRequest, error) {
	return within(t, ctx, func(ctx context.Context) ([]gateway.SharingRequest, error) { return t.Store.ListRequests(ctx, f) })
}

func (t timeoutStore) DecideRequest(ctx context.Context, id string, d Decision) (*gateway.SharingRequest, *gateway.Grant, error) {
	var g *gateway.Grant
	r, err := within(t, ctx, func(ctx context.Context) (*gateway.SharingRequest, error) {
		r, gr, err := t.Store.DecideRequest(ctx, id, d)
		g = gr
		return r, err
	})
	return r, g, err
}

func (t timeoutStore) ListGrants(ctx context.Context) ([]gateway.Grant, error) {
	return within(t, ctx, t.Store.ListGrants)
}

func (t timeoutStore) GetGrant(ctx context.Context, id string) (*gateway.Grant, error) {
	return within(t, ctx, func(ctx context.Context) (*gateway.Grant, error) { return t.Store.GetGrant(ctx, id) })
}

func (t timeoutStore) RevokeGrant(ctx context.Context, id, by string, at time.Time) (*gateway.Grant, error) {
	return within(t, ctx, func(ctx context.Context) (*gateway.Grant, error) { return t.Store.RevokeGrant(ctx, id, by, at) })
}

func (t timeoutStore) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	_, err := within(t, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, t.Store.AppendAudit(ctx, events) })
	return err
}

func (t timeoutStore) ListAudit(ctx context.Context, f AuditFilter) ([]gateway.AuditEvent, error) {
	return within(t, ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) { return t.Store.ListAudit(ctx, f) })
}

func (t timeoutStore) CountAudit(ctx context.Context, f AuditFilter) (int, error) {
	return within(t, ctx, func(ctx context.Context) (int, error) { return t.Store.CountAudit(ctx, f) })
}

func (t timeoutStore) Ping(ctx context.Context) error {
	_, err := within(t, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, t.Store.Ping(ctx) })
	return err
}
