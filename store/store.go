// Package store is the durable memory of the gateway: sharing requests, the grants that
// approvals create, and the audit hash chains. The gateway depends on the Store interface
// only; store/sqlstore implements it once on database/sql, store/sqlite (one process, the
// default) and store/postgres (several replicas) open it on their database, and
// store/storetest is the behaviour both must show.
package store

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
)

// Errors a Store returns for conditions the caller is expected to handle; compare them
// with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrAlreadyDecided = errors.New("sharing request already decided")
	ErrAlreadyRevoked = errors.New("grant already revoked")
	// ErrNoOwner is returned by ListAudit for a filter without an owner, which would
	// otherwise disclose every department's audit trail.
	ErrNoOwner = errors.New("audit filter needs an owner")
)

// Store keeps sharing requests, grants and the audit chain.
//
// Times are kept at microsecond precision (what PostgreSQL stores) and returned in UTC;
// callers that compare times they wrote should truncate them the same way.
type Store interface {
	// CreateRequests stores new sharing requests atomically (all or none) and returns
	// them with ID assigned and Status PENDING. The caller sets every other field;
	// Requester, Department and Purpose must not be empty.
	CreateRequests(ctx context.Context, reqs []gateway.SharingRequest) ([]gateway.SharingRequest, error)
	// GetRequest returns one request, or ErrNotFound.
	GetRequest(ctx context.Context, id string) (*gateway.SharingRequest, error)
	// ListRequests returns the requests f selects, newest first.
	ListRequests(ctx context.Context, f RequestFilter) ([]gateway.SharingRequest, error)
	// DecideRequest answers a pending request in one transaction. An approval creates
	// the grant bound to the request's consumer, codes, purpose and department, valid
	// until d.ValidUntil, and returns it; a rejection returns a nil grant. A request that
	// is not PENDING gives ErrAlreadyDecided, so of two concurrent deciders exactly one
	// wins.
	DecideRequest(ctx context.Context, id string, d Decision) (*gateway.SharingRequest, *gateway.Grant, error)
	// ListGrants returns every stored grant, revoked and expired ones included: whether
	// a grant is in force depends on the time of the access, which only the caller knows.
	ListGrants(ctx context.Context) ([]gateway.Grant, error)
	// GetGrant returns one grant, or ErrNotFound.
	GetGrant(ctx context.Context, id string) (*gateway.Grant, error)
	// RevokeGrant ends a grant from at on; ErrNotFound, or ErrAlreadyRevoked.
	RevokeGrant(ctx context.Context, id, by string, at time.Time) (*gateway.Grant, error)

	// AppendAudit appends events to the hash chains named by their Chain fields in one
	// transaction, in order, assigning Seq (counted per chain), PrevHash and Hash (the
	// caller's values are ignored). When it returns nil the events are durable; the
	// caller's slice is not modified. Concurrent appends to one chain, from this or
	// another process sharing the database, still form one chain; appends to different
	// chains do not wait for each other. A store with an audit journal (docs/audit.md,
	// "The journal") links the events into their chains moments later; its own audit
	// reads wait for that, another process's reads see them once applied.
	AppendAudit(ctx context.Context, events []gateway.AuditEvent) error
	// ListAudit returns the events f selects in ascending (Chain, Seq): the default
	// chain "" first, then each replica's chain in order.
	ListAudit(ctx context.Context, f AuditFilter) ([]gateway.AuditEvent, error)
	// CountAudit counts the events f selects, ignoring its paging (AfterSeq, AfterChain,
	// Limit).
	CountAudit(ctx context.Context, f AuditFilter) (int, error)
	// ScanAudit calls fn for every event of every chain, chain by chain (ascending
	// Chain) and in Seq order within one, without loading the chains into memory. An
	// error from fn stops the scan and is returned wrapped.
	ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error
	// AuditChains lists the chains that have been appended to, in ascending order, so
	// that a verifier can tell a chain whose events were all removed from one that never
	// existed.
	AuditChains(ctx context.Context) ([]string, error)

	// Changes is signalled whenever requests or grants change, including changes made by
	// another process sharing the database, so the gateway can reload its grants.
	// Signals coalesce: one pending signal stands for any number of changes. The
	// channel has one reader, the gateway's grant cache, and is never closed.
	Changes() <-chan struct{}
	// Ping reports whether the database answers and holds the gateway's schema: the
	// readiness probe asks it, so it reads nothing of a caller's and writes nothing.
	Ping(ctx context.Context) error
	// Close releases the database. Calling it again is harmless.
	Close() error
}

// RequestFilter selects sharing requests. Empty fields select everything.
type RequestFilter struct {
	// Requester and Department select what one caller may see: the requests its
	// consumer filed and those addressed to its department. When both are set a request
	// matching either is selected.
	Requester  string
	Department string
	// Status is the stored status (PENDING, APPROVED, REJECTED); OVERDUE is derived by
	// the caller from PENDING and the deadline.
	Status gateway.RequestStatus
}

// Decision is an owning department's answer to a sharing request.
type Decision struct {
	Approve    bool
	By         string    // the approver
	At         time.Time // when the decision was taken; also the grant's creation time
	Reason     string
	ValidUntil time.Time // expiry of the grant an approval creates; zero: none
}

// AuditFilter selects audit events of one owning department: owners see the events on
// their own codes and nobody else's.
type AuditFilter struct {
	Owner   string // required
	Code    string // optional
	Subject string // optional
	From    time.Time
	To      time.Time // exclusive; zero: no bound
	// The paging cursor: only events after (AfterSeq, AfterChain) in ListAudit's order.
	AfterSeq   int64
	AfterChain string
	Limit      int // 0: no limit
}

// idAlphabet is Crockford's base 32: no I, L, O or U, so an ID read aloud over the phone
// or copied from a printed decision survives.
const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a readable unique identifier such as SR-20261127-7KQ2M9XDA3: a prefix
// naming the kind (SR sharing request, GR grant), the date of t in Shanghai, and 50
// random bits. Implementations use it so that IDs look the same whatever the database.
func NewID(prefix string, t time.Time) string {
	var b [10]byte
	rand.Read(b[:]) // never fails: crypto/rand panics rather than return an error
	out := make([]byte, 0, len(prefix)+1+8+1+len(b))
	out = append(out, prefix...)
	out = append(out, '-')
	// China has had no daylight saving since 1991, so a fixed zone is exact and needs no
	// time zone database on the host.
	out = t.In(time.FixedZone("CST", 8*60*60)).AppendFormat(out, "20060102")
	out = append(out, '-')
	for _, c := range b {
		out = append(out, idAlphabet[c&31])
	}
	return string(out)
}

// Micro truncates t to the precision every Store keeps and returns it in UTC; a
// zero time stays zero.
func Micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// RequestsQuery is the SELECT of the requests f selects, newest first, for both stores:
// columns are the request columns, placeholder(n) writes the n-th parameter.
func RequestsQuery(f RequestFilter, columns string, placeholder func(n int) string) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return placeholder(len(args))
	}
	switch {
	case f.Requester != "" && f.Department != "":
		where = append(where, `(requester = `+arg(f.Requester)+` OR department = `+arg(f.Department)+`)`)
	case f.Requester != "":
		where = append(where, `requester = `+arg(f.Requester))
	case f.Department != "":
		where = append(where, `department = `+arg(f.Department))
	}
	if f.Status != "" {
		where = append(where, `status = `+arg(string(f.Status)))
	}
	q := `SELECT ` + columns + ` FROM sharing_requests`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return q + ` ORDER BY created_at DESC, id DESC`, args
}
