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

func (t timeoutStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.d)
}

func (t timeoutStore) CreateRequests(ctx context.Context, reqs []gateway.SharingRequest) ([]gateway.SharingRequest, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.CreateRequests(ctx, reqs)
}

func (t timeoutStore) GetRequest(ctx context.Context, id string) (*gateway.SharingRequest, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.GetRequest(ctx, id)
}

func (t timeoutStore) ListRequests(ctx context.Context, f RequestFilter) ([]gateway.SharingRequest, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.ListRequests(ctx, f)
}

func (t timeoutStore) DecideRequest(ctx context.Context, id string, d Decision) (*gateway.SharingRequest, *gateway.Grant, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.DecideRequest(ctx, id, d)
}

func (t timeoutStore) ListGrants(ctx context.Context) ([]gateway.Grant, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.ListGrants(ctx)
}

func (t timeoutStore) GetGrant(ctx context.Context, id string) (*gateway.Grant, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.GetGrant(ctx, id)
}

func (t timeoutStore) RevokeGrant(ctx context.Context, id, by string, at time.Time) (*gateway.Grant, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.RevokeGrant(ctx, id, by, at)
}

func (t timeoutStore) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.AppendAudit(ctx, events)
}

func (t timeoutStore) ListAudit(ctx context.Context, f AuditFilter) ([]gateway.AuditEvent, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.ListAudit(ctx, f)
}

func (t timeoutStore) CountAudit(ctx context.Context, f AuditFilter) (int, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.CountAudit(ctx, f)
}

func (t timeoutStore) Ping(ctx context.Context) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.Store.Ping(ctx)
}
