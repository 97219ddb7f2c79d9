package sqlite_test

import (
	"path/filepath"
	"testing"

	"pudong.gov.cn/gateway/store/sqlstore"
	"pudong.gov.cn/gateway/store/storetest"
)

func TestAuditHead(t *testing.T) {
	s := opener(filepath.Join(t.TempDir(), "gateway.db"))(t).(*sqlstore.Store)
	storetest.RunHead(t, s)
}
