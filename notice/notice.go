// Package notice closes the "who approves, supervises" loop: a consumer with a watch
// grant (the supervision platform by default) keeps a watch list of enterprises and
// persons, and the gateway tells it when their governed data change (a new credit
// record, a status change, a new or ended insurance) with a notice that is queued
// durably, delivered at least once to its webhook signed with the gateway's seal key,
// retried with bounded back-off, and readable by polling. Changes are noticed by
// re-reading watched subjects through the gateway's own cache, at most once per owner's
// update cycle, so no department is asked more often than the cache already asks it.
package notice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/store"
)

// Limits of a watch list.
const (
	MaxSubjectsPerCall = 500
	MaxWatchList       = 10000
)

// Recorder durably stores audit events.
type Recorder interface {
	Record(ctx context.Context, events []gateway.AuditEvent) error
}

// Signer signs what the gateway sends on its own initiative (the seal key).
type Signer interface {
	Sign(payload []byte) (string, error)
}

// Options configure a Service.
type Options struct {
	DB       *DB
	Fed      *federation.Federation // watched subjects are re-read through its cache
	Catalog  *policy.Catalog
	Grants   func() policy.Grants
	Consumer func(name string) *config.Consumer // watch grant, webhook, purpose
	Recorder Recorder                           // nil: audit off (benchmarks only)
	Signer   Signer
	Client   *http.Client // for webhooks
	// Cycle is how often a watched subject is re-read: the shortest update cycle of the
	// owners watched (the cache TTL), so a re-read costs a department at most one call
	// per subject per cycle. Default 10 minutes.
	Cycle time.Duration
	// ScanLimit bounds the subjects re-read per pass (default 500); the rest wait for
	// the next pass, least recently read first.
	ScanLimit int
	// MaxAttempts bounds webhook deliveries of one notice (default 10); the back-off
	// between them doubles from BaseBackoff (1s) up to MaxBackoff (10m).
	MaxAttempts             int
	BaseBackoff, MaxBackoff time.Duration
	// Timeout bounds each call a request makes into the tables, as store.timeout bounds
	// the store's (docs/operators.md): a stalled database fails the request with
	// STORE_UNAVAILABLE after this long. Zero: no bound but the request's own.
	Timeout time.Duration
	Now     func() time.Time
	Log     *slog.Logger
}

// Service serves watch lists and notices, and runs change detection and delivery.
type Service struct {
	o       Options
	wake    chan struct{}
	seen    chan string                         // subjects a request just read, to re-check
	watched atomic.Pointer[map[string]struct{}] // every watched subject, for Seen
}

// New returns a Service; Run starts its loops.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Cycle <= 0 {
		o.Cycle = 10 * time.Minute
	}
	if o.ScanLimit <= 0 {
		o.ScanLimit = 500
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	s := &Service{o: o, wake: make(chan struct{}, 1), seen: make(chan string, 256)}
	s.watched.Store(&map[string]struct{}{})
	return s
}

// Seen tells the service that a request has just read a subject's governed data. A
// watched subject is then re-checked at once through the cache that read filled, rather
// than at its next cycle: a change is noticed from what the gateway reads anyway. Seen
// never blocks; when its queue is full the periodic re-read still finds the change.
func (s *Service) Seen(subject string) {
	if _, ok := (*s.watched.Load())[subject]; !ok {
		return
	}
	select {
	case s.seen <- subject:
	default:
	}
}

// refreshWatched reloads the set of watched subjects (this and other replicas' lists).
func (s *Service) refreshWatched(ctx context.Context) {
	set, err := store.Within(ctx, s.o.Timeout, s.o.DB.Subjects)
	if err != nil {
		s.o.Log.Warn("watched subjects not reloaded", "err", err)
		return
	}
	s.watched.Store(&set)
}

func gqlErr(ctx context.Context, code, format string, args ...any) error {
	return errcode.At(ctx, code, fmt.Sprintf(format, args...))
}

func (s *Service) dbErr(ctx context.Context, op string, err error) error {
	s.o.Log.Error("notice store failure", "op", op, "request_id", gateway.RequestID(ctx), "err", err)
	return gqlErr(ctx, errcode.StoreUnavailable, "%s: the gateway's store is unavailable; try again later", op)
}

// watcher returns the caller if its consumer holds the watch grant.
func (s *Service) watcher(ctx context.Context, op string) (*gateway.Caller, error) {
	c := gateway.CallerFrom(ctx)
	// The watch grant is the consumer's configuration (consumers[].watch), not a role its
	// tokens carry, so it is checked here rather than by the schema's @role.
	if c == nil || s.o.Consumer(c.Consumer) == nil || !s.o.Consumer(c.Consumer).Watch {
		name := "this consumer"
		if c != nil {
			name = c.Consumer
		}
		return nil, gqlErr(ctx, errcode.Forbidden, "%s: %s has no watch grant (consumers[].watch in the configuration)", op, name)
	}
	return c, nil
}

func (s *Service) grants() policy.Grants {
	if s.o.Grants == nil {
		return nil
	}
	return s.o.Grants()
}

// Watch puts subjects on the caller's list.
func (s *Service) Watch(ctx context.Context, subjects []string) ([]*model.Watch, error) {
	c, err := s.watcher(ctx, "watch")
	if err != nil {
		return nil, err
	}
	if len(subjects) == 0 || len(subjects) > MaxSubjectsPerCall {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument subjects: between 1 and %d subjects per call", MaxSubjectsPerCall)
	}
	var bad, denied []string
	idEntry := s.o.Catalog.ByField("Citizen.idNumber")
	for _, sub := range subjects {
		switch {
		case idcode.ValidateCreditCode(sub) == nil:
		case idcode.ValidateIDNumber(sub) != nil:
			bad = append(bad, sub)
		case policy.Decide(c, idEntry, policy.Subject{ID: sub, Person: sub}, s.grants(), s.o.Now()).Outcome == gateway.Deny:
			// Following a person is looking them up by their ID number: it needs at least
			// the masked access a lookup by it needs.
			denied = append(denied, policy.MaskIDNumber(sub))
		}
	}
	if len(bad) > 0 {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument subjects: %s: a subject is a citizen ID number (GB 11643) or a unified social credit code (GB 32100)", strings.Join(bad, ", "))
	}
	if len(denied) > 0 {
		return nil, gqlErr(ctx, errcode.Forbidden, "watch: %s may not look persons up by ID number (%s)", c.Consumer, strings.Join(denied, ", "))
	}
	n, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) (int, error) { return s.o.DB.CountWatches(ctx, c.Consumer) })
	if err != nil {
		return nil, s.dbErr(ctx, "watch", err)
	}
	if n+len(subjects) > MaxWatchList {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument subjects: a watch list holds at most %d subjects (%d now)", MaxWatchList, n)
	}
	if _, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.o.DB.AddWatches(ctx, c.Consumer, subjects, s.o.Now())
	}); err != nil {
		return nil, s.dbErr(ctx, "watch", err)
	}
	s.refreshWatched(ctx)
	s.o.Log.Info("subjects watched", "request_id", gateway.RequestID(ctx), "consumer", c.Consumer, "subjects", len(subjects))
	all, err := s.watches(ctx, c, "watch")
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(w Watch) bool { return !slices.Contains(subjects, w.Subject) })
	return s.toWatches(c, all), nil
}

// Unwatch takes subjects off the caller's list.
func (s *Service) Unwatch(ctx context.Context, subjects []string) (int, error) {
	c, err := s.watcher(ctx, "unwatch")
	if err != nil {
		return 0, err
	}
	if len(subjects) > MaxSubjectsPerCall {
		return 0, gqlErr(ctx, errcode.BadUserInput, "argument subjects: at most %d subjects per call", MaxSubjectsPerCall)
	}
	n, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) (int, error) { return s.o.DB.RemoveWatches(ctx, c.Consumer, subjects) })
	if err != nil {
		return 0, s.dbErr(ctx, "unwatch", err)
	}
	s.refreshWatched(ctx)
	return n, nil
}

// WatchList returns the caller's list.
func (s *Service) WatchList(ctx context.Context) ([]*model.Watch, error) {
	c, err := s.watcher(ctx, "watchList")
	if err != nil {
		return nil, err
	}
	ws, err := s.watches(ctx, c, "watchList")
	if err != nil {
		return nil, err
	}
	return s.toWatches(c, ws), nil
}

// watches reads the caller's consumer's list.
func (s *Service) watches(ctx context.Context, c *gateway.Caller, op string) ([]Watch, error) {
	ws, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) ([]Watch, error) { return s.o.DB.Watches(ctx, c.Consumer, time.Time{}, 0) })
	if err != nil {
		return nil, s.dbErr(ctx, op, err)
	}
	return ws, nil
}

// toWatches shows watches to the caller, each person's ID number as its policy shows it.
func (s *Service) toWatches(c *gateway.Caller, ws []Watch) []*model.Watch {
	now := s.o.Now()
	out := make([]*model.Watch, len(ws))
	for i, w := range ws {
		out[i] = &model.Watch{Subject: s.shown(c, w.Subject, now), Since: w.CreatedAt}
		if !w.CheckedAt.IsZero() {
			t := w.CheckedAt
			out[i].CheckedAt = &t
		}
	}
	return out
}

// shown is a watched subject as the caller's policy shows it: a person's ID number as
// Citizen.idNumber would be shown to the caller (masked unless allowed), whoever typed
// it; an enterprise's credit code as it is.
func (s *Service) shown(c *gateway.Caller, subject string, now time.Time) string {
	if idcode.ValidateIDNumber(subject) != nil {
		return subject
	}
	if entry := s.o.Catalog.ByField("Citizen.idNumber"); entry != nil {
		dt := s.o.Catalog.Datum(entry, policy.Subject{ID: subject, Person: subject})
		if dt.Decide(c, s.grants(), now).Outcome == gateway.Allow {
			return subject
		}
	}
	return policy.MaskIDNumber(subject)
}

// Notices returns the caller's notices. Any consumer may poll its own; only a consumer
// with the watch grant has any.
func (s *Service) Notices(ctx context.Context, status *model.NoticeStatus, after *string, first *int) ([]*model.Notice, error) {
	c := gateway.CallerFrom(ctx)
	if c == nil {
		return nil, gqlErr(ctx, errcode.Forbidden, "notices: no caller")
	}
	limit := 100
	if first != nil {
		if *first < 1 || *first > 500 {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument first: between 1 and 500")
		}
		limit = *first
	}
	st := Status("")
	if status != nil {
		st = Status(*status)
	}
	cursor := ""
	if after != nil {
		cursor = *after
	}
	ns, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) ([]Notice, error) { return s.o.DB.Notices(ctx, c.Consumer, st, cursor, limit) })
	if errors.Is(err, ErrUnknownNotice) {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument after: %q is none of your notices", cursor)
	}
	if err != nil {
		return nil, s.dbErr(ctx, "notices", err)
	}
	out := make([]*model.Notice, 0, len(ns))
	now := s.o.Now()
	for _, n := range ns {
		var b Body
		if err := json.Unmarshal(n.Body, &b); err != nil {
			s.o.Log.Error("a stored notice does not decode", "notice", n.ID, "err", err)
			continue
		}
		if !s.asNow(c, &b, now) {
			continue
		}
		m := &model.Notice{ID: n.ID, Subject: b.Subject, Change: n.Change, Codes: b.Codes, Values: []*model.NoticeValue{},
			CreatedAt: n.CreatedAt, Status: model.NoticeStatus(n.Status), Attempts: n.Attempts}
		for _, v := range b.Values {
			m.Values = append(m.Values, &model.NoticeValue{Code: v.Code, Field: v.Field, Access: model.Access(v.Access), Value: v.Value})
		}
		if !n.DeliveredAt.IsZero() {
			t := n.DeliveredAt
			m.DeliveredAt = &t
		}
		if n.LastError != "" {
			e := n.LastError
			m.LastError = &e
		}
		out = append(out, m)
	}
	return out, nil
}

// recheckEvery bounds how often a subject that requests keep reading is re-checked.
const recheckEvery = 5 * time.Second

// Run detects changes every pass interval and on reads of watched subjects, and
// delivers due notices, until ctx ends. Each step has its own deadline, so a database
// or department that hangs delays the loop, never stops it.
func (s *Service) Run(ctx context.Context, pass time.Duration) {
	scan := time.NewTicker(pass)
	defer scan.Stop()
	deliver := time.NewTicker(time.Second)
	defer deliver.Stop()
	step := func(d time.Duration, f func(ctx context.Context)) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		f(ctx)
	}
	step(time.Minute, s.refreshWatched)
	rechecked := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-scan.C:
			step(pass, func(ctx context.Context) {
				s.refreshWatched(ctx)
				if _, err := s.Scan(ctx, false); err != nil && ctx.Err() == nil {
					s.o.Log.Warn("watch scan failed; retried on the next pass", "err", err)
				}
			})
			clear(rechecked)
		case sub := <-s.seen:
			if time.Since(rechecked[sub]) < recheckEvery {
				continue
			}
			rechecked[sub] = time.Now()
			step(time.Minute, func(ctx context.Context) { s.recheck(ctx, sub) })
		case <-s.wake:
		case <-deliver.C:
		}
		step(5*time.Minute, func(ctx context.Context) { s.Deliver(ctx) })
	}
}

// recheck re-reads one subject for every consumer that watches it.
func (s *Service) recheck(ctx context.Context, subject string) {
	ws, err := s.o.DB.Watchers(ctx, subject)
	if err != nil {
		s.o.Log.Warn("watched subject not re-checked", "err", err)
		return
	}
	l := s.o.Fed.NewLoaders()
	now := s.o.Now()
	for _, w := range ws {
		// The watch's checkedAt stays that of its last scheduled read: this re-check
		// follows another request's read, which the watcher must not learn of.
		if _, err := s.checkStamped(ctx, l, w, now, w.CheckedAt); err != nil {
			s.o.Log.Warn("watched subject not checked; retried on the next pass", "consumer", w.Consumer, "err", err)
		}
	}
}
