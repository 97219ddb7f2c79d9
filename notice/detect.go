package notice

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/store"
)

// The changes a notice reports.
const (
	CreditRecordAdded   = "CREDIT_RECORD_ADDED"
	CreditRecordRemoved = "CREDIT_RECORD_REMOVED"
	StatusChanged       = "STATUS_CHANGED"
	InsuranceStarted    = "INSURANCE_STARTED"
	InsuranceChanged    = "INSURANCE_CHANGED"
	InsuranceEnded      = "INSURANCE_ENDED"
)

// state is what one read of a watched subject saw. An aspect whose department failed
// keeps what the previous read saw, so an outage is never mistaken for a change.
type state struct {
	Credit    []string          `json:"credit,omitempty"`    // credit record ids
	Status    string            `json:"status,omitempty"`    // enterprise registration status
	Insurance map[string]string `json:"insurance,omitempty"` // insurance type → status|employer
}

// Body is a notice as delivered to the webhook and kept for polling.
type Body struct {
	ID         string    `json:"id"`
	Consumer   string    `json:"consumer"`
	Subject    string    `json:"subject"`
	Change     string    `json:"change"`
	DetectedAt time.Time `json:"detectedAt"`
	Codes      []string  `json:"codes"`
	Values     []Value   `json:"values"`
}

// Value is one value of a notice as the watcher's policy shows it.
type Value struct {
	Code   string  `json:"code"`
	Field  string  `json:"field"`
	Access string  `json:"access"` // ALLOW, MASK or DENY
	Value  *string `json:"value"`  // nil when denied
}

// read is one re-read of a subject: its state and the records behind it.
type read struct {
	state   state
	credit  map[string]adapters.Record
	insured map[string]adapters.Record
}

// Scan re-reads the watched subjects not read within one cycle (all of them with
// force), at most ScanLimit, and queues a notice for each change. It returns how many
// notices it queued.
func (s *Service) Scan(ctx context.Context, force bool) (int, error) {
	now := s.o.Now()
	before := now.Add(-s.o.Cycle)
	if force {
		before = now.Add(time.Second)
	}
	ws, err := s.o.DB.Watches(ctx, "", before, s.o.ScanLimit)
	if err != nil {
		return 0, err
	}
	l := s.o.Fed.NewLoaders() // one set for the pass: subjects read twice are read once
	queued := 0
	for _, w := range ws {
		if ctx.Err() != nil {
			return queued, ctx.Err()
		}
		n, err := s.check(ctx, l, w, now)
		if err != nil {
			s.o.Log.Warn("watched subject not checked; retried on the next pass", "consumer", w.Consumer, "err", err)
			continue
		}
		queued += n
	}
	if queued > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return queued, nil
}

// check re-reads one watched subject on the gateway's own schedule and records what
// changed since the last read; the watch's checkedAt becomes now.
func (s *Service) check(ctx context.Context, l *federation.Loaders, w Watch, now time.Time) (int, error) {
	return s.checkStamped(ctx, l, w, now, now)
}

// checkStamped is check with the checkedAt to record. A re-check that another request's
// read prompted (recheck) keeps the watch's checkedAt as it was: the watch list would
// otherwise tell the watcher when anybody read the subject, which extensions.sources
// hides from all but the owner (docs/SECURITY.md, T10).
func (s *Service) checkStamped(ctx context.Context, l *federation.Loaders, w Watch, now, stamp time.Time) (int, error) {
	var old state
	first := w.State == ""
	if !first {
		if err := json.Unmarshal([]byte(w.State), &old); err != nil {
			return 0, fmt.Errorf("stored state: %w", err)
		}
	}
	c := s.watcherCaller(w.Consumer)
	if c == nil {
		// The consumer lost its watch grant: nothing is read for it, and the watch moves
		// to the back of the queue so that it does not hold up the others.
		return 0, s.o.DB.Checked(ctx, w, w.State, store.Micro(stamp), nil)
	}
	r := s.read(ctx, l, w.Subject, old)
	var notices []Notice
	var events []gateway.AuditEvent
	if !first { // the first read is the baseline: what exists already is not news
		var err error
		if notices, events, err = s.noticesFor(c, w, old, r, now); err != nil {
			return 0, err
		}
	}
	// No value leaves for the watcher before its access is on record.
	if len(events) > 0 && s.o.Recorder != nil {
		if err := s.o.Recorder.Record(ctx, events); err != nil {
			return 0, fmt.Errorf("audit: %w", err)
		}
	}
	st, err := json.Marshal(r.state)
	if err != nil {
		return 0, err
	}
	if err := s.o.DB.Checked(ctx, w, string(st), store.Micro(stamp), notices); err != nil {
		return 0, err
	}
	return len(notices), nil
}

// noticesFor turns what changed between two reads into the watcher's notices and the
// audit events of their values. A change the watcher may not learn of (its datum is
// denied to it, such as a person's insurance status without a grant) yields no notice:
// that a notice came would itself tell the datum.
func (s *Service) noticesFor(c *gateway.Caller, w Watch, old state, r read, now time.Time) ([]Notice, []gateway.AuditEvent, error) {
	var notices []Notice
	var events []gateway.AuditEvent
	for _, ch := range diff(old, r) {
		id := store.NewID("NT", now)
		key, join := keyOf(ch.kind)
		if join != "" {
			// The records were found by a datum of the subject (a person's credit records
			// by their ID number, Citizen.creditRecords' @join): a watcher who could not
			// follow that join by a query learns nothing of them here either.
			j, ev := s.value(c, w.Subject, field{coord: join}, now, id)
			if ev != nil {
				events = append(events, *ev)
			}
			if j == nil || j.Access != string(gateway.Allow) {
				continue
			}
		}
		k, ev := s.value(c, w.Subject, field{coord: key}, now, id)
		if k == nil || k.Access == string(gateway.Deny) {
			if ev != nil {
				events = append(events, *ev)
			}
			continue
		}
		b := Body{ID: id, Consumer: w.Consumer, Subject: w.Subject, Change: ch.kind, DetectedAt: now.UTC(), Codes: []string{}, Values: []Value{}}
		for _, f := range ch.fields {
			v, ev := s.value(c, w.Subject, f, now, id)
			if v == nil {
				continue
			}
			b.Values = append(b.Values, *v)
			if !slices.Contains(b.Codes, v.Code) {
				b.Codes = append(b.Codes, v.Code)
			}
			if ev != nil {
				events = append(events, *ev)
			}
		}
		body, err := json.Marshal(b)
		if err != nil {
			return nil, nil, err
		}
		st := Poll
		if cons := s.o.Consumer(w.Consumer); cons != nil && cons.Webhook != "" {
			st = Pending
		}
		notices = append(notices, Notice{ID: id, Consumer: w.Consumer, Subject: w.Subject, Change: ch.kind, Body: body, Status: st, CreatedAt: store.Micro(now)})
	}
	return notices, events, nil
}

// read loads what the gateway governs about a subject, through the cache. A failed
// department leaves its aspect as the previous read saw it.
func (s *Service) read(ctx context.Context, l *federation.Loaders, subject string, old state) read {
	r := read{state: old, credit: map[string]adapters.Record{}, insured: map[string]adapters.Record{}}
	if recs, err := l.CreditRecords(ctx, subject); err == nil {
		r.state.Credit = nil
		for _, rec := range recs {
			r.credit[rec["id"]] = rec
			r.state.Credit = append(r.state.Credit, rec["id"])
		}
		slices.Sort(r.state.Credit)
	}
	if idcode.ValidateCreditCode(subject) == nil {
		if rec, err := l.Enterprise(ctx, subject); err == nil {
			r.state.Status = rec["status"]
		}
		return r
	}
	if recs, err := l.Insurance(ctx, subject); err == nil {
		r.state.Insurance = map[string]string{}
		for _, rec := range recs {
			t := rec["insuranceType"]
			r.insured[t] = rec
			r.state.Insurance[t] = rec["status"] + "|" + rec["employer"]
		}
	}
	return r
}

// change is one change found by diff, with the raw values a notice reports.
type change struct {
	kind   string
	fields []field
}

// creditJoin is the datum a subject's credit records are found by (Citizen.creditRecords
// is @join on it): a person's ID number, as the credit platform holds it.
const creditJoin = "CreditRecord.subjectId"

// keyOf names, for a kind of change, the datum whose change it reports (the watcher must
// be allowed to learn of that one: the notice's arrival alone tells it) and, when the
// changed records are found by a datum of the subject, that datum (the watcher must see
// it unmasked, as following the schema's @join needs).
func keyOf(kind string) (key, join string) {
	switch kind {
	case CreditRecordAdded, CreditRecordRemoved:
		return "CreditRecord.id", creditJoin
	case StatusChanged:
		return "Enterprise.status", ""
	default:
		return "SocialInsurance.status", ""
	}
}

type field struct{ coord, value string }

var creditFields = []string{"id", "kind", "decisionNumber", "title", "content", "decidedOn", "validUntil", "issuedBy", "penaltyAmount"}

// diff lists what changed between two reads.
func diff(old state, r read) []change {
	var out []change
	for _, id := range r.state.Credit {
		if !slices.Contains(old.Credit, id) {
			ch := change{kind: CreditRecordAdded}
			for _, f := range creditFields {
				if v := r.credit[id][f]; v != "" {
					ch.fields = append(ch.fields, field{"CreditRecord." + f, v})
				}
			}
			out = append(out, ch)
		}
	}
	for _, id := range old.Credit {
		if !slices.Contains(r.state.Credit, id) {
			out = append(out, change{kind: CreditRecordRemoved, fields: []field{{"CreditRecord.id", id}}})
		}
	}
	if old.Status != "" && r.state.Status != "" && old.Status != r.state.Status {
		out = append(out, change{kind: StatusChanged, fields: []field{{"Enterprise.status", r.state.Status}}})
	}
	for _, t := range slices.Sorted(maps.Keys(r.state.Insurance)) {
		was, had := old.Insurance[t]
		if had && was == r.state.Insurance[t] {
			continue
		}
		kind := InsuranceStarted
		if had {
			kind = InsuranceChanged
		}
		rec := r.insured[t]
		ch := change{kind: kind}
		for _, f := range []string{"insuranceType", "status", "employer", "since", "lastPaidMonth"} {
			if v := rec[f]; v != "" {
				ch.fields = append(ch.fields, field{"SocialInsurance." + f, v})
			}
		}
		out = append(out, ch)
	}
	for _, t := range slices.Sorted(maps.Keys(old.Insurance)) {
		if _, still := r.state.Insurance[t]; !still && r.state.Insurance != nil {
			out = append(out, change{kind: InsuranceEnded, fields: []field{{"SocialInsurance.insuranceType", t}}})
		}
	}
	return out
}

// watcherCaller is the watcher as its configuration describes it: the caller the
// policy decides for, as if it had read the subject itself.
func (s *Service) watcherCaller(consumer string) *gateway.Caller {
	c := s.o.Consumer(consumer)
	if c == nil || !c.Watch {
		return nil
	}
	return &gateway.Caller{Subject: "watch-list", Consumer: c.Name, Purpose: c.Purpose, Dept: c.Dept, Roles: c.Roles}
}

// value decides one value for the watcher as a query's answer would (policy.Datum: a
// copy as its source, every read of a person's datum audited whatever its class) and
// returns it with its audit event when one is due, or nil when the catalogue does not
// govern it.
func (s *Service) value(c *gateway.Caller, subject string, f field, now time.Time, noticeID string) (*Value, *gateway.AuditEvent) {
	entry := s.o.Catalog.ByField(f.coord)
	if entry == nil {
		return nil, nil
	}
	subj := policy.Subject{ID: subject}
	if idcode.ValidateIDNumber(subject) == nil {
		subj.Person = subject
	}
	if entry.Copy != nil && entry.Copy.Via != "" {
		// A copy about whom a relation leads to: the notice does not follow relations,
		// so it cannot decide the value as its source and leaves it out.
		return nil, nil
	}
	dt := s.o.Catalog.Datum(entry, subj)
	d := dt.Decide(c, s.grants(), now)
	v := &Value{Code: entry.Code, Field: entry.Field, Access: string(d.Outcome)}
	switch d.Outcome {
	case gateway.Allow:
		x := f.value
		v.Value = &x
	case gateway.Masked:
		x := policy.MaskValue(dt.Entry.Mask, f.value)
		v.Value = &x
	}
	if !dt.AuditDue(c, d) {
		return v, nil
	}
	return v, &gateway.AuditEvent{At: now, Consumer: c.Consumer, EndUser: c.Subject, Purpose: c.Purpose, RequestID: noticeID,
		Code: dt.Entry.Code, Owner: dt.Entry.Owner, Subject: dt.Subject.ID, Decision: d.Outcome, GrantID: d.GrantID}
}

// mayLearn reports whether the caller may learn now of a change of kind in subject: the
// datum it reports is not denied to it and, for records found by a datum of the subject,
// it sees that datum unmasked.
func (s *Service) mayLearn(c *gateway.Caller, subject, kind string, now time.Time) bool {
	key, join := keyOf(kind)
	if join != "" {
		if j, _ := s.value(c, subject, field{coord: join}, now, ""); j == nil || j.Access != string(gateway.Allow) {
			return false
		}
	}
	k, _ := s.value(c, subject, field{coord: key}, now, "")
	return k != nil && k.Access != string(gateway.Deny)
}

// asNow shows a queued notice to the caller reading it (by a poll, or the watcher when
// the webhook is called) as the policy decides now: a notice waits, and a grant it was
// decided under may have been revoked or expired since, or the reader's token may carry
// another purpose than the grant's. A value is never shown more openly than when it was
// decided (its audit event says so); false means the notice is not to be shown at all.
func (s *Service) asNow(c *gateway.Caller, b *Body, now time.Time) bool {
	if c == nil || !s.mayLearn(c, b.Subject, b.Change, now) {
		return false
	}
	subj := policy.Subject{ID: b.Subject}
	if idcode.ValidateIDNumber(b.Subject) == nil {
		subj.Person = b.Subject
	}
	for i := range b.Values {
		v := &b.Values[i]
		entry := s.o.Catalog.ByCode(v.Code)
		if entry == nil {
			v.Access, v.Value = string(gateway.Deny), nil
			continue
		}
		dt := s.o.Catalog.Datum(entry, subj)
		switch dt.Decide(c, s.grants(), now).Outcome {
		case gateway.Deny:
			v.Access, v.Value = string(gateway.Deny), nil
		case gateway.Masked:
			if v.Access == string(gateway.Allow) && v.Value != nil {
				x := policy.MaskValue(dt.Entry.Mask, *v.Value)
				v.Access, v.Value = string(gateway.Masked), &x
			}
		}
	}
	b.Subject = s.shown(c, b.Subject, now)
	return true
}
