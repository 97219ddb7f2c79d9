// Package ownsqltest runs a package's tests of its own tables on every database the
// gateway supports.
package ownsqltest

import (
	"path/filepath"
	"testing"

	"pudong.gov.cn/gateway/store/postgres/pgtest"
)

// Each runs test once per database with the driver and DSN to open: SQLite always (a
// fresh file), PostgreSQL in a fresh schema when GATEWAY_TEST_POSTGRES_DSN names a
// database, skipped with a message otherwise.
func Each(t *testing.T, test func(t *testing.T, driver, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { test(t, "sqlite", filepath.Join(t.TempDir(), "own.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, "postgres", pgtest.FreshSchema(t)) })
}
