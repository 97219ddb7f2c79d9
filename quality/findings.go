package quality

import (
	"context"
	"time"

	"pudong.gov.cn/gateway/store"
)

// FindingStats are the findings writer's counters.
type FindingStats struct {
	Recorded uint64 // new findings stored
	Dropped  uint64 // findings dropped because the queue was full
}

// Note hands a finding to the writer without waiting: the request that noticed it must
// not be slowed by it. A finding already noted (same code, subject and check) is
// skipped in memory; one noted by another replica or before a restart is skipped by the
// table's unique key. When the queue is full the finding is dropped and counted: the
// same disagreement is noticed again on the next read.
func (s *Service) Note(f Issue, check string) {
	if s.closed.Load() {
		return
	}
	key := f.Code + "|" + f.Subject + "|" + check
	s.seenMu.Lock()
	if _, dup := s.seen[key]; dup {
		s.seenMu.Unlock()
		return
	}
	if len(s.seen) >= maxSeen {
		clear(s.seen)
	}
	s.seen[key] = struct{}{}
	s.seenMu.Unlock()
	f.Kind, f.Status, f.FiledBy = Finding, StatusOpen, "gateway"
	select {
	case s.queue <- queued{f, key}:
	default:
		s.dropped.Add(1)
		s.seenMu.Lock()
		delete(s.seen, key) // so that the next read notices it again
		s.seenMu.Unlock()
	}
}

// FindingStats returns the writer's counters.
func (s *Service) FindingStats() FindingStats {
	return FindingStats{Recorded: s.recorded.Load(), Dropped: s.dropped.Load()}
}

// writeFindings stores queued findings until Close.
func (s *Service) writeFindings() {
	defer close(s.done)
	for {
		select {
		case f := <-s.queue:
			s.store(f)
		case <-s.stop:
			for { // what was queued before Close is still stored
				select {
				case f := <-s.queue:
					s.store(f)
				default:
					return
				}
			}
		}
	}
}

// queued is a finding waiting for the writer, with its once-only key.
type queued struct {
	issue Issue
	key   string
}

func (s *Service) store(q queued) {
	f, key := q.issue, q.key
	if f.CreatedAt.IsZero() {
		f.CreatedAt = store.Micro(s.o.Now())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	created, err := s.o.DB.Insert(ctx, &f, key)
	if err != nil {
		s.o.Log.Warn("finding not recorded", "code", f.Code, "department", f.Department, "err", err)
		s.seenMu.Lock()
		delete(s.seen, key)
		s.seenMu.Unlock()
		return
	}
	if created {
		s.recorded.Add(1)
		s.o.Log.Info("cross-source finding recorded", "issue", f.ID, "code", f.Code, "department", f.Department)
	}
}

// Close stores what is queued and stops the writer; if ctx ends first, the rest is lost
// (it is noticed again on a later read).
func (s *Service) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
