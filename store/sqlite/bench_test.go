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
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/sqlite"
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
			evs := make([]gateway.AuditEvent, c.events)
			for i := range evs {
				evs[i] = gateway.AuditEvent{
					At: time.Now(), Consumer: "online-hall", EndUser: "clerk-7", Purpose: "administrative-approval",
					RequestID: fmt.Sprintf("req-%d", i/12), Code: fmt.Sprintf("310115-PSB-RK01-%03d", i%12), Owner: []string{"psb", "hrss", "credit"}[i%3],
					Subject: fmt.Sprintf("3101151985%08d", i*c.subjects/c.events), Decision: gateway.Allow, GrantID: "GR-20261127-0000000001",
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
			b.ReportMetric(float64(cpu()-before)/float64(time.Microsecond)/float64(b.N*c.events), "cpu-µs/event")
		})
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// trackerOwners are the departments whose codes trackerTrail's events are on.
var trackerOwners = []string{"psb", "hrss", "credit", "amr"}

// trackerCitizen is the person whose accesses BenchmarkTrackerQuery reads.
const trackerCitizen = "310115198503120012"

// trackerTrail appends about 100,000 events as the recorder writes them: answers of 12
// events about one person each (three on each department's codes), ten answers to a
// commit. 8,340 answers are about 5,000 other people, and 40, spread over the trail,
// about trackerCitizen; it returns how many events are about trackerCitizen.
func trackerTrail(b *testing.B, s store.Store) int {
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	const answers, perCommit, own = 8380, 10, 40
	var batch []gateway.AuditEvent
	mine := 0
	for a := range answers {
		subject := fmt.Sprintf("3101151990%08d", a%5000)
		if a%(answers/own) == answers/own/2 {
			subject = trackerCitizen
			mine += 12
		}
		for i := range 12 {
			owner := trackerOwners[i%len(trackerOwners)]
			batch = append(batch, gateway.AuditEvent{
				At: t0.Add(time.Duration(a) * time.Second), Consumer: "online-hall", EndUser: "clerk-7",
				Purpose: "administrative-approval", RequestID: fmt.Sprintf("req-%d", a),
				Code: fmt.Sprintf("310115-%s-X01-%03d", owner, i), Owner: owner, Subject: subject, Decision: gateway.Allow,
			})
		}
		if len(batch) == 12*perCommit || a == answers-1 {
			if err := s.AppendAudit(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return mine
}

// BenchmarkTrackerQuery reads one person's accesses from a trail of about 100,000
// events (trackerTrail) as the citizen's data tracker does (sharing/tracker.go): each
// department's events about the person, in pages of 1,000, and their count.
func BenchmarkTrackerQuery(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "gateway.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	mine := trackerTrail(b, s)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		found, counted := 0, 0
		for _, owner := range trackerOwners {
			f := store.AuditFilter{Owner: owner, Subject: trackerCitizen, Limit: 1000}
			for {
				evs, err := s.ListAudit(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				found += len(evs)
				if len(evs) < f.Limit {
					break
				}
				f.AfterSeq, f.AfterChain = evs[len(evs)-1].Seq, evs[len(evs)-1].Chain
			}
			n, err := s.CountAudit(ctx, store.AuditFilter{Owner: owner, Subject: trackerCitizen})
			if err != nil {
				b.Fatal(err)
			}
			counted += n
		}
		if found != mine || counted != mine {
			b.Fatalf("ListAudit found %d events and CountAudit counted %d; %d are about the person", found, counted, mine)
		}
	}
}
