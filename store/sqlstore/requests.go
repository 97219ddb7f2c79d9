package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// CreateRequests implements store.Store.
func (s *Store) CreateRequests(ctx context.Context, reqs []gateway.SharingRequest) ([]gateway.SharingRequest, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	out := make([]gateway.SharingRequest, len(reqs))
	err := s.writeChange(ctx, func(tx *sql.Tx) error {
		for i, r := range reqs {
			r.ID = store.NewID("SR", r.CreatedAt)
			r.Status = gateway.Pending
			r.CreatedAt, r.Deadline = store.Micro(r.CreatedAt), store.Micro(r.Deadline)
			r.DecidedAt, r.DecidedBy, r.Reason, r.ValidUntil, r.GrantID = nil, "", "", nil, ""
			codes, err := s.d.Codes(r.Codes)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO sharing_requests
				(id, requester, requested_by, department, codes, purpose, justification, status, created_at, deadline)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				r.ID, r.Requester, r.RequestedBy, r.Department, codes, r.Purpose, r.Justification,
				string(r.Status), s.d.Time(r.CreatedAt), s.d.Time(r.Deadline))
			if err != nil {
				return fmt.Errorf("insert request for %s: %w", r.Department, err)
			}
			out[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, s.errf(err, "create requests")
	}
	return out, nil
}

// GetRequest implements store.Store.
func (s *Store) GetRequest(ctx context.Context, id string) (*gateway.SharingRequest, error) {
	r, err := scanRequest(s.r.QueryRowContext(ctx, s.q(`SELECT `+s.requestColumns+` FROM sharing_requests WHERE id = ?`), id))
	if err != nil {
		return nil, s.errf(err, "request %s", id)
	}
	return r, nil
}

// ListRequests implements store.Store.
func (s *Store) ListRequests(ctx context.Context, f store.RequestFilter) ([]gateway.SharingRequest, error) {
	q, args := store.RequestsQuery(f, s.requestColumns, s.d.Placeholder)
	out, err := queryAll(ctx, s.r, q, args, scanRequest)
	if err != nil {
		return nil, s.errf(err, "list requests")
	}
	return out, nil
}

// DecideRequest implements store.Store. The request is read with the dialect's lock
// (FOR UPDATE on PostgreSQL; SQLite's write transaction already holds the database), so a
// concurrent decider waits and then sees the decision; and the update repeats the status
// condition, so that even a dialect whose lock were weaker could not decide twice.
func (s *Store) DecideRequest(ctx context.Context, id string, d store.Decision) (*gateway.SharingRequest, *gateway.Grant, error) {
	var req *gateway.SharingRequest
	var grant *gateway.Grant
	err := s.writeChange(ctx, func(tx *sql.Tx) error {
		var err error
		req, err = scanRequest(tx.QueryRowContext(ctx, s.q(`SELECT `+s.requestColumns+` FROM sharing_requests WHERE id = ?`+s.d.ForUpdate()), id))
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
			if !grant.ValidUntil.IsZero() {
				until := grant.ValidUntil
				req.ValidUntil = &until
			}
			req.GrantID = grant.ID
			if err := s.insertGrant(ctx, tx, grant); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE sharing_requests
			SET status = ?, decided_at = ?, decided_by = ?, reason = ?, valid_until = ?, grant_id = ?
			WHERE id = ? AND status = 'PENDING'`),
			string(req.Status), s.d.Time(at), req.DecidedBy, req.Reason, s.nullTimePtr(req.ValidUntil), req.GrantID, id)
		if err != nil {
			return fmt.Errorf("update request: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: %s", store.ErrAlreadyDecided, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, s.errf(err, "decide request %s", id)
	}
	return req, grant, nil
}

func (s *Store) insertGrant(ctx context.Context, tx *sql.Tx, g *gateway.Grant) error {
	codes, err := s.d.Codes(g.Codes)
	if err != nil {
		return err
	}
	var requestID sql.NullString
	if g.RequestID != "" {
		requestID = sql.NullString{String: g.RequestID, Valid: true}
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO grants (id, consumer, purpose, codes, department, request_id,
		granted_by, created_at, valid_until, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		g.ID, g.Consumer, g.Purpose, codes, g.Department, requestID, g.GrantedBy, s.d.Time(g.CreatedAt),
		s.nullTime(g.ValidUntil), s.nullTimePtr(g.RevokedAt), g.RevokedBy)
	if err != nil {
		return fmt.Errorf("insert grant: %w", err)
	}
	return nil
}

// ListGrants implements store.Store.
func (s *Store) ListGrants(ctx context.Context) ([]gateway.Grant, error) {
	out, err := queryAll(ctx, s.r, `SELECT `+s.grantColumns+` FROM grants ORDER BY created_at, id`, nil, scanGrant)
	if err != nil {
		return nil, s.errf(err, "list grants")
	}
	return out, nil
}

// GetGrant implements store.Store.
func (s *Store) GetGrant(ctx context.Context, id string) (*gateway.Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx, s.q(`SELECT `+s.grantColumns+` FROM grants WHERE id = ?`), id))
	if err != nil {
		return nil, s.errf(err, "grant %s", id)
	}
	return g, nil
}

// RevokeGrant implements store.Store.
func (s *Store) RevokeGrant(ctx context.Context, id, by string, at time.Time) (*gateway.Grant, error) {
	var g *gateway.Grant
	err := s.writeChange(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanGrant(tx.QueryRowContext(ctx, s.q(`SELECT `+s.grantColumns+` FROM grants WHERE id = ?`+s.d.ForUpdate()), id))
		if err != nil {
			return err
		}
		if g.RevokedAt != nil {
			return fmt.Errorf("%w: %s on %s", store.ErrAlreadyRevoked, id, g.RevokedAt.Format(time.RFC3339))
		}
		at := store.Micro(at)
		g.RevokedAt, g.RevokedBy = &at, by
		_, err = tx.ExecContext(ctx, s.q(`UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ?`), s.d.Time(at), by, id)
		if err != nil {
			return fmt.Errorf("update grant: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, s.errf(err, "revoke grant %s", id)
	}
	return g, nil
}

// queryAll runs q on db and reads every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, q string, args []any, scan func(scanner) (*T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

func scanRequest(row scanner) (*gateway.SharingRequest, error) {
	var r gateway.SharingRequest
	var codes, status string
	var created, deadline, decided, validUntil scanTime
	err := row.Scan(&r.ID, &r.Requester, &r.RequestedBy, &r.Department, &codes, &r.Purpose, &r.Justification,
		&status, &created, &deadline, &decided, &r.DecidedBy, &r.Reason, &validUntil, &r.GrantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(codes), &r.Codes); err != nil {
		return nil, fmt.Errorf("decode codes of %s: %w", r.ID, err)
	}
	r.Status = gateway.RequestStatus(status)
	r.CreatedAt, r.Deadline = created.t, deadline.t
	r.DecidedAt, r.ValidUntil = decided.ptr(), validUntil.ptr()
	return &r, nil
}

func scanGrant(row scanner) (*gateway.Grant, error) {
	var g gateway.Grant
	var codes string
	var requestID sql.NullString
	var created, validUntil, revoked scanTime
	err := row.Scan(&g.ID, &g.Consumer, &g.Purpose, &codes, &g.Department, &requestID, &g.GrantedBy, &created,
		&validUntil, &revoked, &g.RevokedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(codes), &g.Codes); err != nil {
		return nil, fmt.Errorf("decode codes of %s: %w", g.ID, err)
	}
	g.RequestID = requestID.String
	g.CreatedAt, g.ValidUntil, g.RevokedAt = created.t, validUntil.t, revoked.ptr()
	return &g, nil
}
