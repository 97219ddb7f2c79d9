package sqlite_test

import (
	"path/filepath"
	"testing"

	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/storetest"
)

func TestAuditHead(t *testing.T) {
	s := opener(filepath.Join(t.TempDir(), "gateway.db"))(t).(*sqlite.Store)
	storetest.RunHead(t, s)
}
