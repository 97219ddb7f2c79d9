package storetest

import (
	"context"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// HeadStore is a Store that reads its chain head, as the audit checkpoints need
// (docs/audit.md).
type HeadStore interface {
	store.Store
	AuditHead(ctx context.Context, chain string) (seq int64, hash string, err error)
}

// RunHead checks AuditHead on an empty store: nothing at first, then the Seq and Hash
// of the last event appended.
func RunHead(t *testing.T, s HeadStore) {
	ctx := context.Background()
	if seq, hash, err := s.AuditHead(ctx, ""); err != nil || seq != 0 || hash != "" {
		t.Fatalf("head of an empty chain = %d %q %v, want 0 \"\" nil", seq, hash, err)
	}
	for range 2 {
		evs := make([]gateway.AuditEvent, 3)
		for i := range evs {
			evs[i] = gateway.AuditEvent{At: time.Now(), Consumer: "online-hall", Code: "310115-PSB-RK01-002", Owner: "psb",
				Subject: "310115198503120012", Decision: gateway.Allow}
		}
		if err := s.AppendAudit(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	var last gateway.AuditEvent
	if err := s.ScanAudit(ctx, func(e gateway.AuditEvent) error { last = e; return nil }); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := s.AuditHead(ctx, "")
	if err != nil || seq != 6 || hash != last.Hash {
		t.Errorf("head = %d %q %v, want 6 %q", seq, hash, err, last.Hash)
	}
}
