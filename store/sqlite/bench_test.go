package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/storetest"
)

// BenchmarkAppendAudit appends batches of audit events one after the other, as the
// recorder's group commits do: 12 events are one S1 answer, 120 a commit shared by ten
// answers. The answers of one commit are about one person each, so a commit of ten holds
// ten subjects (subjects=10); subjects=120 is the worst case, every event about another
// person (a sweep). Besides the time per append (which includes the disk's flush), it
// reports the process's CPU time per event, the cost docs/PERFORMANCE.md compares.
func BenchmarkAppendAudit(b *testing.B) {
	for _, c := range []struct{ events, subjects int }{{12, 1}, {120, 1}, {120, 10}, {120, 120}} {
		name := fmt.Sprintf("events=%d", c.events)
		if c.subjects > 1 {
			name += fmt.Sprintf(",subjects=%d", c.subjects)
		}
		b.Run(name, func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "gateway.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			evs := storetest.AppendBatch(c.events, c.subjects)
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
			b.ReportMetric(float64(cpu()-before)/float64(time.Microsecond)/float64(b.N*c.events), "cpu-µs/event")
		})
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTrackerQuery reads one person's accesses from a trail of about 100,000
// events (storetest.TrackerTrail) as the citizen's data tracker does
// (storetest.ReadTracker).
func BenchmarkTrackerQuery(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "gateway.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	mine := storetest.TrackerTrail(b, s)
	b.ResetTimer()
	for range b.N {
		storetest.ReadTracker(b, s, mine)
	}
}
