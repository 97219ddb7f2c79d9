package sqlite

import (
	"fmt"
	"strings"
)

// Immediate makes a connection begin its transactions IMMEDIATE: a writer takes the
// write lock with its first statement and queues on busy_timeout, instead of failing on
// SQLITE_BUSY when it upgrades a read to a write.
const Immediate = "&_txlock=immediate"

// DSN names the SQLite file at path for database/sql with the settings every connection
// the gateway opens on SQLite shares (params), followed by extra parameters such as
// Immediate. The store and the tables the gateway keeps beside it (internal/ownsql) both
// open their files with it, so a change to those settings reaches every one.
func DSN(path string, extra ...string) (string, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return "", fmt.Errorf("sqlite: invalid database path %q", path)
	}
	return path + params + strings.Join(extra, ""), nil
}
