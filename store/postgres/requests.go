package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

const requestColumns = `id, requester, requested_by, department, codes, purpose, justification, status,
	created_at, deadline, decided_at, decided_by, reason, valid_until, grant_id`

const grantColumns = `id, consumer, purpose, codes, department, request_id, granted_by, created_at,
	valid_until, revoked_at, revoked_by`

// CreateRequests implements store.Store.
func (s *Store) CreateRequests(ctx context.Context, reqs []gateway.SharingRequest) ([]gateway.SharingRequest, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	out := make([]gateway.SharingRequest, len(reqs))
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for i, r := range reqs {
			r.ID = store.NewID("SR", r.CreatedAt)
			r.Status = gateway.Pending
			r.CreatedAt, r.Deadline = store.Micro(r.CreatedAt), store.Micro(r.Deadline)
			r.DecidedAt, r.DecidedBy, r.Reason, r.ValidUntil, r.GrantID = nil, "", "", nil, ""
			_, err := tx.Exec(ctx, `INSERT INTO sharing_requests
				(id, requester, requested_by, department, codes, purpose, justification, status, created_at, deadline)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				r.ID, r.Requester, r.RequestedBy, r.Department, r.Codes, r.Purpose, r.Justification,
				string(r.Status), r.CreatedAt, r.Deadline)
			if err != nil {
				return fmt.Errorf("insert request for %s: %w", r.Department, err)
			}
			out[i] = r
		}
		return s.notify(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: create requests: %w", err)
	}
	return out, nil
}

// GetRequest implements store.Store.
func (s *Store) GetRequest(ctx context.Context, id string) (*gateway.SharingRequest, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM sharing_requests WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: request %s: %w", id, err)
	}
	return r, nil
}

// ListRequests implements store.Store.
func (s *Store) ListRequests(ctx context.Context, f store.RequestFilter) ([]gateway.SharingRequest, error) {
	q, args := store.RequestsQuery(f, requestColumns, func(n int) string { return fmt.Sprintf("$%d", n) })
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list requests: %w", err)
	}
	defer rows.Close()
	var out []gateway.SharingRequest
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: list requests: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: list requests: %w", err)
	}
	return out, nil
}

// DecideRequest implements store.Store. The request row is locked (FOR UPDATE) before its
// status is checked, so a concurrent decider waits and then sees the decision.
func (s *Store) DecideRequest(ctx context.Context, id string, d store.Decision) (*gateway.SharingRequest, *gateway.Grant, error) {
	var req *gateway.SharingRequest
	var grant *gateway.Grant
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		req, err = scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM sharing_requests WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if req.Status != gateway.Pending {
			return fmt.Errorf("%w: %s is %s", store.ErrAlreadyDecided, id, req.Status)
		}
		at := store.Micro(d.At)
		req.DecidedAt, req.DecidedBy, req.Reason = &at, d.By, d.Reason
		req.Status = gateway.Rejected
		if d.Approve {
			req.Status = gateway.Approved
			grant = &gateway.Grant{
				ID:         store.NewID("GR", at),
				Consumer:   req.Requester,
				Purpose:    req.Purpose,
				Codes:      slices.Clone(req.Codes),
				Department: req.Department,
				RequestID:  req.ID,
				GrantedBy:  d.By,
				CreatedAt:  at,
				ValidUntil: store.Micro(d.ValidUntil),
			}
			req.ValidUntil = nullTime(grant.ValidUntil)
			req.GrantID = grant.ID
			if err := insertGrant(ctx, tx, grant); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE sharing_requests
			SET status = $1, decided_at = $2, decided_by = $3, reason = $4, valid_until = $5, grant_id = $6
			WHERE id = $7`,
			string(req.Status), at, req.DecidedBy, req.Reason, req.ValidUntil, req.GrantID, id)
		if err != nil {
			return fmt.Errorf("update request: %w", err)
		}
		return s.notify(ctx, tx)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres store: decide request %s: %w", id, err)
	}
	return req, grant, nil
}

func insertGrant(ctx context.Context, tx pgx.Tx, g *gateway.Grant) error {
	var requestID *string
	if g.RequestID != "" {
		requestID = &g.RequestID
	}
	_, err := tx.Exec(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		g.ID, g.Consumer, g.Purpose, g.Codes, g.Department, requestID, g.GrantedBy, g.CreatedAt,
		nullTime(g.ValidUntil), g.RevokedAt, g.RevokedBy)
	if err != nil {
		return fmt.Errorf("insert grant: %w", err)
	}
	return nil
}

// ListGrants implements store.Store.
func (s *Store) ListGrants(ctx context.Context) ([]gateway.Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list grants: %w", err)
	}
	defer rows.Close()
	var out []gateway.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: list grants: %w", err)
		}
		out = append(out, *g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: list grants: %w", err)
	}
	return out, nil
}

// GetGrant implements store.Store.
func (s *Store) GetGrant(ctx context.Context, id string) (*gateway.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: grant %s: %w", id, err)
	}
	return g, nil
}

// RevokeGrant implements store.Store.
func (s *Store) RevokeGrant(ctx context.Context, id, by string, at time.Time) (*gateway.Grant, error) {
	var g *gateway.Grant
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		g, err = scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if g.RevokedAt != nil {
			return fmt.Errorf("%w: %s on %s", store.ErrAlreadyRevoked, id, g.RevokedAt.Format(time.RFC3339))
		}
		at := store.Micro(at)
		g.RevokedAt, g.RevokedBy = &at, by
		if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3`, at, by, id); err != nil {
			return fmt.Errorf("update grant: %w", err)
		}
		return s.notify(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: revoke grant %s: %w", id, err)
	}
	return g, nil
}

func scanRequest(row pgx.Row) (*gateway.SharingRequest, error) {
	var r gateway.SharingRequest
	var status string
	err := row.Scan(&r.ID, &r.Requester, &r.RequestedBy, &r.Department, &r.Codes, &r.Purpose, &r.Justification,
		&status, &r.CreatedAt, &r.Deadline, &r.DecidedAt, &r.DecidedBy, &r.Reason, &r.ValidUntil, &r.GrantID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.Status = gateway.RequestStatus(status)
	r.CreatedAt, r.Deadline = r.CreatedAt.UTC(), r.Deadline.UTC()
	r.DecidedAt, r.ValidUntil = utcPtr(r.DecidedAt), utcPtr(r.ValidUntil)
	return &r, nil
}

func scanGrant(row pgx.Row) (*gateway.Grant, error) {
	var g gateway.Grant
	var requestID *string
	var validUntil *time.Time
	err := row.Scan(&g.ID, &g.Consumer, &g.Purpose, &g.Codes, &g.Department, &requestID, &g.GrantedBy, &g.CreatedAt,
		&validUntil, &g.RevokedAt, &g.RevokedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if requestID != nil {
		g.RequestID = *requestID
	}
	g.CreatedAt = g.CreatedAt.UTC()
	if validUntil != nil {
		g.ValidUntil = validUntil.UTC()
	}
	g.RevokedAt = utcPtr(g.RevokedAt)
	return &g, nil
}
