// Package audit makes the audit trail (docs/architecture.md, Where the audit trail is
// written) durable without making every response wait for its own disk flush, and checks
// the trail's hash chain.
//
// No response carrying conditional data may leave before its audit events are stored, so
// each request waits for a commit. The Recorder shares commits between concurrent
// requests (group commit): while one AppendAudit is being flushed, the events of every
// request that arrives queue up, and the next commit takes them all. Throughput then
// grows with concurrency instead of being capped by the disk's flush rate. In front of an
// audit journal, which groups concurrent appends into shared flushes itself, each request
// appends its own events instead (Options.Direct).
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// ErrClosed is returned by Record once Close has been called.
var ErrClosed = errors.New("audit recorder closed")

// Options tune a Recorder. The zero value is a sound default.
type Options struct {
	// MaxBatch caps the events of one commit, so one transaction stays short. A caller's
	// events are never split, so a commit exceeds it when one caller alone does.
	// Default 1000.
	MaxBatch int
	// MaxWait holds a commit back until more events have queued (or MaxBatch is
	// reached), trading latency for fewer commits. Default 0: commit as soon as the
	// previous commit has finished, which already batches everything that arrived
	// during it.
	MaxWait time.Duration
	// CommitTimeout bounds each AppendAudit, so that a store that stops answering fails
	// the commit (and its callers) instead of holding the loop, and the events queued
	// behind it, for as long as it stalls. Default 0: no bound of its own; callers
	// bound their wait with Record's context.
	CommitTimeout time.Duration
	// Direct makes each Record append its own events in its caller's goroutine instead
	// of queueing them for the Recorder's loop: for a store whose appends share disk
	// flushes between concurrent callers themselves (an audit journal, docs/audit.md),
	// where the loop's hand-offs between goroutines would only add waiting. MaxBatch
	// and MaxWait do not apply.
	Direct bool
	// Chain is the audit chain this Recorder appends to (gateway.AuditEvent.Chain): one
	// per replica, so that replicas sharing a database do not take turns on one chain
	// head. Events are stamped with it whatever their own Chain. Default "".
	Chain string
}

// Stats are the Recorder's counters, for metrics.
type Stats struct {
	Commits    uint64        // successful AppendAudit calls
	Failures   uint64        // failed AppendAudit calls
	Events     uint64        // events committed
	LastCommit time.Duration // how long the last AppendAudit took
	LastBatch  int           // events in the last AppendAudit
	Queued     int           // events waiting for a commit now
}

// Recorder commits audit events in batches shared by concurrent callers. Create it with
// NewRecorder; it runs one background loop until Close.
type Recorder struct {
	s    store.Store
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	queue   []gateway.AuditEvent // events waiting, in arrival order
	waiters []waiter             // their callers, in the same order
	closed  bool

	wake   chan struct{} // capacity 1: "the queue or closed changed"
	ctx    context.Context
	cancel context.CancelFunc // aborts commits when Close runs out of time
	done   chan struct{}      // closed when the loop has exited

	direct sync.WaitGroup // Records appending in their own goroutines (Options.Direct)

	commits, failures, events atomic.Uint64
	lastCommit, lastBatch     atomic.Int64
}

// waiter is one Record call waiting for the commit of its n queued events.
type waiter struct {
	n    int
	done chan error // capacity 1, so the loop never blocks on a caller that gave up
}

// NewRecorder starts a Recorder that commits to s.
func NewRecorder(s store.Store, opts Options, log *slog.Logger) *Recorder {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{
		s: s, opts: opts, log: log,
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	go r.run()
	return r
}

// Record queues events and waits until they are durably committed, together with those
// of other callers. A nil error means the events are stored. If ctx ends first, Record
// returns its error and the events may or may not be stored; the caller must then treat
// the audit as failed (and not release the data). events is copied; the caller may
// reuse it when Record returns.
func (r *Recorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit: record: %w", err)
	}
	if r.opts.Direct {
		return r.recordDirect(ctx, events)
	}
	w := waiter{n: len(events), done: make(chan error, 1)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	start := len(r.queue)
	r.queue = append(r.queue, events...)
	for i := range r.queue[start:] {
		r.queue[start+i].Chain = r.opts.Chain
	}
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	r.signal()

	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: waiting for commit: %w", ctx.Err())
	}
}

// Close commits what is queued and stops the loop. If ctx ends first, the commit in
// flight is aborted, the callers still waiting get errors, and Close returns ctx's error.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.signal()
	defer r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.cancel()
		<-r.done // prompt: every commit from now on fails at once
		return fmt.Errorf("audit: close: %w", ctx.Err())
	}
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	queued := len(r.queue)
	r.mu.Unlock()
	return Stats{
		Commits:    r.commits.Load(),
		Failures:   r.failures.Load(),
		Events:     r.events.Load(),
		LastCommit: time.Duration(r.lastCommit.Load()),
		LastBatch:  int(r.lastBatch.Load()),
		Queued:     queued,
	}
}

func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run is the loop: on each wake-up it commits batches until the queue is empty, and exits
// once closed with nothing left. Two buffers alternate between the queue and the batch
// being committed, so the steady state allocates nothing.
func (r *Recorder) run() {
	defer close(r.done)
	var spare []gateway.AuditEvent
	var spareWaiters []waiter
	for range r.wake {
		for {
			r.gather()
			batch, waiters, closed := r.take(spare, spareWaiters)
			if len(waiters) == 0 {
				if closed {
					r.direct.Wait()
					return
				}
				break
			}
			r.commit(batch, waiters)
			clear(batch) // drop references to the events' strings until reuse
			clear(waiters)
			spare, spareWaiters = batch[:0], waiters[:0]
		}
	}
}

// recordDirect is Record with Options.Direct: the caller appends its own events.
func (r *Recorder) recordDirect(ctx context.Context, events []gateway.AuditEvent) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.direct.Add(1)
	r.mu.Unlock()
	defer r.direct.Done()
	stamped := make([]gateway.AuditEvent, len(events))
	for i, e := range events {
		e.Chain = r.opts.Chain
		stamped[i] = e
	}
	var cancel context.CancelFunc
	if store.Later(ctx, r.opts.CommitTimeout) {
		ctx, cancel = context.WithTimeout(ctx, r.opts.CommitTimeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)() // Close running out of time aborts it too
	return r.append(ctx, stamped, 1)
}

// gather waits, when Options.MaxWait asks for it, until a full batch has queued, the
// Recorder is closing, or MaxWait has passed.
func (r *Recorder) gather() {
	if r.opts.MaxWait <= 0 {
		return
	}
	timer := time.NewTimer(r.opts.MaxWait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		enough := len(r.queue) == 0 || len(r.queue) >= r.opts.MaxBatch || r.closed
		r.mu.Unlock()
		if enough {
			return
		}
		select {
		case <-r.wake:
		case <-timer.C:
			return
		}
	}
}

// take removes the next batch from the queue: whole callers, up to MaxBatch events (at
// least one caller). When it takes everything it swaps the spare buffers in as the new
// queue instead of copying.
func (r *Recorder) take(spare []gateway.AuditEvent, spareWaiters []waiter) ([]gateway.AuditEvent, []waiter, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.waiters) == 0 {
		return nil, nil, r.closed
	}
	n, k := 0, 0
	for k < len(r.waiters) && (k == 0 || n+r.waiters[k].n <= r.opts.MaxBatch) {
		n += r.waiters[k].n
		k++
	}
	if k == len(r.waiters) {
		batch, waiters := r.queue, r.waiters
		r.queue, r.waiters = spare, spareWaiters
		return batch, waiters, r.closed
	}
	batch := append(spare, r.queue[:n]...)
	waiters := append(spareWaiters, r.waiters[:k]...)
	rest := copy(r.queue, r.queue[n:])
	clear(r.queue[rest:])
	r.queue = r.queue[:rest]
	restW := copy(r.waiters, r.waiters[k:])
	r.waiters = r.waiters[:restW]
	return batch, waiters, r.closed
}

// append stores events for callers and counts the commit.
func (r *Recorder) append(ctx context.Context, events []gateway.AuditEvent, callers int) error {
	start := time.Now()
	err := r.s.AppendAudit(ctx, events)
	took := time.Since(start)
	r.lastCommit.Store(int64(took))
	r.lastBatch.Store(int64(len(events)))
	if err != nil {
		r.failures.Add(1)
		r.log.Error("audit commit failed", "events", len(events), "callers", callers, "err", err)
		return fmt.Errorf("audit: commit of %d events: %w", len(events), err)
	}
	r.commits.Add(1)
	r.events.Add(uint64(len(events)))
	return nil
}

// commit stores one batch and tells its callers the outcome.
func (r *Recorder) commit(batch []gateway.AuditEvent, waiters []waiter) {
	ctx := r.ctx
	if r.opts.CommitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opts.CommitTimeout)
		defer cancel()
	}
	err := r.append(ctx, batch, len(waiters))
	for _, w := range waiters {
		w.done <- err
	}
}
