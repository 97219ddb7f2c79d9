package postgres

import (
	"testing"

	"pudong.gov.cn/gateway/store/storetest"
)

func TestAuditHead(t *testing.T) {
	testDSN(t)
	storetest.RunHead(t, openStore(t, freshSchema(t)))
}
