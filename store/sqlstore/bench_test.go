package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"pudong.gov.cn/gateway/store/postgres"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
	"pudong.gov.cn/gateway/store/sqlstore"
	"pudong.gov.cn/gateway/store/storetest"
)

// openPostgres opens a store on a fresh PostgreSQL schema (GATEWAY_TEST_POSTGRES_DSN).
func openPostgres(b *testing.B) *sqlstore.Store {
	s, err := postgres.Open(context.Background(), pgtest.FreshSchema(b), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPostgresAppendAudit is store/sqlite's BenchmarkAppendAudit on PostgreSQL,
// where each statement of an append is a round trip.
func BenchmarkPostgresAppendAudit(b *testing.B) {
	for _, c := range []struct{ events, subjects int }{{12, 1}, {120, 1}, {120, 10}, {120, 120}} {
		b.Run(fmt.Sprintf("events=%d,subjects=%d", c.events, c.subjects), func(b *testing.B) {
			s := openPostgres(b)
			evs := storetest.AppendBatch(c.events, c.subjects)
			b.ResetTimer()
			for range b.N {
				if err := s.AppendAudit(context.Background(), evs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPostgresTrackerQuery is store/sqlite's BenchmarkTrackerQuery on PostgreSQL.
func BenchmarkPostgresTrackerQuery(b *testing.B) {
	s := openPostgres(b)
	mine := storetest.TrackerTrail(b, s)
	b.ResetTimer()
	for range b.N {
		storetest.ReadTracker(b, s, mine)
	}
}
