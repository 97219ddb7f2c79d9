package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store/sqlite"
)

// BenchmarkAppendAudit appends batches of audit events one after the other, as the
// recorder's group commits do: 12 events are one S1 answer, 120 a commit shared by ten
// answers. Besides the time per append (which includes the disk's flush), it reports the
// process's CPU time per event, the cost docs/PERFORMANCE.md compares.
func BenchmarkAppendAudit(b *testing.B) {
	for _, n := range []int{12, 120} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "gateway.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			evs := make([]gateway.AuditEvent, n)
			for i := range evs {
				evs[i] = gateway.AuditEvent{
					At: time.Now(), Consumer: "online-hall", EndUser: "clerk-7", Purpose: "administrative-approval",
					RequestID: fmt.Sprintf("req-%d", i/12), Code: fmt.Sprintf("310115-PSB-RK01-%03d", i%12), Owner: []string{"psb", "hrss", "credit"}[i%3],
					Subject: "310115198503120012", Decision: gateway.Allow, GrantID: "GR-20261127-0000000001",
				}
			}
			ctx := context.Background()
			before := cpu()
			b.ResetTimer()
			for range b.N {
				if err := s.AppendAudit(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := s.Sync(ctx); err != nil { // the journal's applier's CPU counts too
				b.Fatal(err)
			}
			b.ReportMetric(float64(cpu()-before)/float64(time.Microsecond)/float64(b.N*n), "cpu-µs/event")
		})
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
