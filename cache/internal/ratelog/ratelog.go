// Package ratelog keeps a failing dependency from flooding the logs. When Redis is down,
// every request would otherwise log the same connection error; an operator needs to know
// that it is failing and how often, not each occurrence.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is how often one kind of message is logged when Limiter.Every is unset.
const DefaultEvery = 10 * time.Second

// Limiter logs at most one message per kind per interval and reports how many were
// dropped in between. The zero value is ready to use.
type Limiter struct {
	Every time.Duration    // DefaultEvery when zero
	Now   func() time.Time // time.Now when nil

	mu      sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

// Warn logs msg at warn level with args, unless a message of the same kind was logged
// less than Every ago; then it only counts it, and the next message logged carries the
// count as "dropped".
func (l *Limiter) Warn(ctx context.Context, log *slog.Logger, kind, msg string, args ...any) {
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	at := now()
	l.mu.Lock()
	if l.last == nil {
		l.last = map[string]time.Time{}
		l.dropped = map[string]int{}
	}
	if last, ok := l.last[kind]; ok && at.Sub(last) < every {
		l.dropped[kind]++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped[kind]
	l.last[kind] = at
	l.dropped[kind] = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, slog.Int("dropped", dropped))
	}
	log.WarnContext(ctx, msg, args...)
}
