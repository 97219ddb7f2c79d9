package resolvers

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/graph/model"
)

// Admin serves the catalogue, the caller's identity, the sharing-request loop, the audit
// trail and cache purges: the gateway's own data rather than the departments'.
type Admin interface {
	Catalog(ctx context.Context, department *string) ([]*model.CatalogEntry, error)
	Me(ctx context.Context) (*model.Consumer, error)
	SharingRequests(ctx context.Context, status *model.SharingRequestStatus) ([]*model.SharingRequest, error)
	AuditEvents(ctx context.Context, code, subject *string, from, to *time.Time, first *int, after *string) (*model.AuditEventConnection, error)
	SharingStats(ctx context.Context) ([]*model.DepartmentSharingStats, error)
	RequestSharing(ctx context.Context, input model.SharingRequestInput) ([]*model.SharingRequest, error)
	DecideSharingRequest(ctx context.Context, id string, approve bool, validUntil *time.Time, reason *string) (*model.SharingRequest, error)
	RevokeGrant(ctx context.Context, id string) (*model.Grant, error)
	PurgeCache(ctx context.Context, department string, keys []string) (int, error)
	// MyDataAccess is the calling citizen's data tracker; WithheldDataAccess the
	// accesses it withholds, for the CIO office and auditors.
	MyDataAccess(ctx context.Context, first *int, after *string, from, to *time.Time) (*model.DataAccessConnection, error)
	WithheldDataAccess(ctx context.Context, from, to *time.Time, first *int) (*model.WithheldDataAccessList, error)
}

type argError struct {
	arg string
	msg string
}

func (e *argError) Error() string { return e.msg }

// pageArgs turns Relay arguments into a limit and an offset.
func pageArgs(first *int, after *string, maxPage int) (limit, offset int, err *argError) {
	if maxPage <= 0 {
		maxPage = config.DefaultPageSize
	}
	limit = 20
	if first != nil {
		limit = *first
	}
	if limit < 0 || limit > maxPage {
		return 0, 0, &argError{"first", fmt.Sprintf("first must be between 0 and %d", maxPage)}
	}
	if after != nil && *after != "" {
		n, ok := decodeCursor(*after)
		if !ok {
			return 0, 0, &argError{"after", "after is not a cursor this list gave out"}
		}
		offset = n
	}
	return limit, offset, nil
}

const cursorPrefix = "offset:"

// encodeCursor makes an opaque cursor for the position after the n-th item.
func encodeCursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(n)))
}

func decodeCursor(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[len(cursorPrefix):]))
	if err != nil || n < 0 || n > 1<<30 {
		return 0, false
	}
	return n, true
}
