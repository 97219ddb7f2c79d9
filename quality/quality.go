// Package quality closes the district's data-quality loop: "who produces a datum answers
// for its accuracy". A consumer who finds a wrong value files an objection with the
// item's owning department, which answers within the sharing requests' working-day
// deadline; and the gateway itself records a finding for the owner of a copy whenever
// two departments it has at hand disagree about the same subject (the legal
// representative the population registry does not know, say). Both live in their own
// table (db.go), on SQLite or PostgreSQL.
package quality

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/sharing"
	"pudong.gov.cn/gateway/store"
)

// Kind is an objection (filed by a consumer) or a finding (recorded by the gateway).
type Kind string

// The kinds of issue.
const (
	Objection Kind = "OBJECTION"
	Finding   Kind = "FINDING"
)

// Status is the state of an issue as stored; OVERDUE is derived from OPEN and the
// deadline.
type Status string

// The stored states.
const (
	StatusOpen      Status = "OPEN"
	StatusCorrected Status = "CORRECTED"
	StatusRejected  Status = "REJECTED"
	StatusDuplicate Status = "DUPLICATE"
	StatusOverdue   Status = "OVERDUE"
)

// Issue is one objection or finding about one item of one subject.
type Issue struct {
	ID             string
	Kind           Kind
	Code           string // catalogue code of the item
	Department     string // its owner, who must answer
	Subject        string // as the filer may see it
	Description    string
	SuggestedValue string // as the filer may see it
	FiledBy        string // consumer; "gateway" for findings
	FiledByUser    string // the token's sub
	Citizen        string // self-service: the filing citizen's ID number
	Status         Status
	CreatedAt      time.Time
	Deadline       time.Time // objections only
	ResolvedAt     time.Time
	ResolvedBy     string
	Note           string
}

// StatusAt is the issue's status at t: an open objection past its deadline is overdue.
func (is *Issue) StatusAt(t time.Time) Status {
	if is.Status == StatusOpen && !is.Deadline.IsZero() && t.After(is.Deadline) {
		return StatusOverdue
	}
	return is.Status
}

// Options configure a Service.
type Options struct {
	DB           *DB
	Catalog      *policy.Catalog
	Grants       func() policy.Grants // the grants in force now
	DeadlineDays int                  // working days an owner has to answer an objection
	Now          func() time.Time
	Log          *slog.Logger
	// QueueSize bounds the findings waiting to be stored (default 1024); findings
	// beyond it are dropped and counted, never waited for.
	QueueSize int
	// Timeout bounds each call a request makes into the table, as store.timeout bounds
	// the store's (docs/operators.md): a stalled database fails the request with
	// STORE_UNAVAILABLE after this long. Zero: no bound but the request's own.
	Timeout time.Duration
}

// Service serves objections and findings. Create it with New; Close stops its
// findings writer.
type Service struct {
	o        Options
	queue    chan queued
	stop     chan struct{}
	done     chan struct{}
	closed   atomic.Bool
	seenMu   sync.Mutex
	seen     map[string]struct{}
	dropped  atomic.Uint64
	recorded atomic.Uint64
}

// maxSeen bounds the in-memory set of findings already noted; when it is full it starts
// again, and the table's unique key still keeps each finding once.
const maxSeen = 100_000

// New returns a Service and starts its findings writer.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DeadlineDays <= 0 {
		o.DeadlineDays = 5
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	s := &Service{o: o, queue: make(chan queued, o.QueueSize), stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]struct{}{}}
	go s.writeFindings()
	return s
}

func gqlErr(ctx context.Context, code, format string, args ...any) error {
	return errcode.At(ctx, code, fmt.Sprintf(format, args...))
}

func (s *Service) dbErr(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return gqlErr(ctx, errcode.NotFound, "%s: no such data issue", op)
	case errors.Is(err, ErrAlreadyResolved):
		return gqlErr(ctx, errcode.AlreadyResolved, "%s: the issue has already been answered; an answer is final", op)
	}
	s.o.Log.Error("data issue store failure", "op", op, "request_id", gateway.RequestID(ctx), "err", err)
	return gqlErr(ctx, errcode.StoreUnavailable, "%s: the gateway's store is unavailable; try again later", op)
}

// list lists issues within Options.Timeout.
func (s *Service) list(ctx context.Context, f Filter) ([]Issue, error) {
	return store.Within(ctx, s.o.Timeout, func(ctx context.Context) ([]Issue, error) { return s.o.DB.List(ctx, f) })
}

func (s *Service) caller(ctx context.Context) *gateway.Caller {
	if c := gateway.CallerFrom(ctx); c != nil {
		return c
	}
	return &gateway.Caller{}
}

// ReportDataIssue files an objection with the item's owner.
func (s *Service) ReportDataIssue(ctx context.Context, in model.DataIssueInput) (*model.DataIssue, error) {
	c := s.caller(ctx)
	entry := s.o.Catalog.ByCode(in.Code)
	if entry == nil {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument input.code: %q is not in the catalogue", in.Code)
	}
	subj, err := subjectOf(in.Subject)
	if err != nil {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument input.subject: %v", err)
	}
	desc := strings.TrimSpace(in.Description)
	if desc == "" || len(desc) > 4000 {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument input.description: say what is wrong, in at most 4000 bytes")
	}
	suggested := ""
	if in.SuggestedValue != nil {
		suggested = strings.TrimSpace(*in.SuggestedValue)
		if len(suggested) > 1000 {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument input.suggestedValue: at most 1000 bytes")
		}
	}
	if person := strings.HasPrefix(entry.Field, "Citizen.") || strings.HasPrefix(entry.Field, "SocialInsurance."); person && subj.Person == "" ||
		strings.HasPrefix(entry.Field, "Enterprise.") && subj.Person != "" {
		return nil, gqlErr(ctx, errcode.BadUserInput, "argument input.subject: %s is about %s; give the subject it belongs to (an ID number for a person, a credit code for an enterprise)", entry.Code, entry.Field)
	}
	if c.CitizenID != "" && subj.Person != c.CitizenID {
		return nil, gqlErr(ctx, errcode.Forbidden, "reportDataIssue: a citizen may object only to their own data")
	}
	now := store.Micro(s.o.Now())
	grants := s.o.Grants()
	// What the filer may see of the item and of the subject is all that is stored. A copy
	// is decided as its source (policy.Catalog.Datum), as in a query's answer.
	dt := s.o.Catalog.Datum(entry, subj)
	d := dt.Decide(c, grants, now)
	if d.Outcome == gateway.Deny {
		return nil, gqlErr(ctx, errcode.Forbidden, "reportDataIssue: %s (%s) of this subject is not shared with %s; object only to values you can see", entry.Field, entry.Code, c.Consumer)
	}
	if d.Outcome == gateway.Masked && suggested != "" {
		suggested = policy.MaskValue(dt.Entry.Mask, suggested)
	}
	shown, ok := s.visibleSubject(c, subj, grants, now)
	if !ok {
		return nil, gqlErr(ctx, errcode.Forbidden, "reportDataIssue: this subject's ID number is not shared with %s", c.Consumer)
	}
	is := Issue{
		Kind: Objection, Code: entry.Code, Department: entry.Owner, Subject: shown, Description: desc, SuggestedValue: suggested,
		FiledBy: c.Consumer, FiledByUser: c.Subject, Citizen: c.CitizenID, Status: StatusOpen,
		CreatedAt: now, Deadline: sharing.AddWorkingDays(now, s.o.DeadlineDays),
	}
	if _, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) (bool, error) { return s.o.DB.Insert(ctx, &is, "") }); err != nil {
		return nil, s.dbErr(ctx, "reportDataIssue", err)
	}
	s.o.Log.Info("data issue reported", "request_id", gateway.RequestID(ctx), "issue", is.ID, "consumer", c.Consumer, "department", is.Department, "code", is.Code)
	return s.toModel(&is, now), nil
}

// subjectOf checks a subject and says whether it is a person.
func subjectOf(id string) (policy.Subject, error) {
	switch {
	case idcode.ValidateIDNumber(id) == nil:
		return policy.Subject{ID: id, Person: id}, nil
	case idcode.ValidateCreditCode(id) == nil:
		return policy.Subject{ID: id}, nil
	}
	return policy.Subject{}, errors.New("a subject is a citizen ID number (GB 11643) or a unified social credit code (GB 32100)")
}

// visibleSubject is a person's ID number as the caller's policy shows it (an
// enterprise's credit code is public); false when the caller may not see it at all.
func (s *Service) visibleSubject(c *gateway.Caller, subj policy.Subject, grants policy.Grants, now time.Time) (string, bool) {
	if subj.Person == "" {
		return subj.ID, true
	}
	idEntry := s.o.Catalog.ByField("Citizen.idNumber")
	if idEntry == nil {
		return policy.MaskIDNumber(subj.ID), true
	}
	switch policy.Decide(c, idEntry, subj, grants, now).Outcome {
	case gateway.Allow:
		return subj.ID, true
	case gateway.Masked:
		return policy.MaskValue(idEntry.Mask, subj.ID), true
	}
	return "", false
}

// ResolveDataIssue records the owning department's answer.
func (s *Service) ResolveDataIssue(ctx context.Context, id string, outcome model.DataIssueOutcome, note *string) (*model.DataIssue, error) {
	c := s.caller(ctx) // an approver: the schema's @role
	is, err := store.Within(ctx, s.o.Timeout, func(ctx context.Context) (*Issue, error) { return s.o.DB.Get(ctx, id) })
	if err != nil {
		return nil, s.dbErr(ctx, "resolveDataIssue", err)
	}
	if is.Department != c.Dept {
		return nil, gqlErr(ctx, errcode.Forbidden, "resolveDataIssue: %s is addressed to %s; only its approvers may answer", id, is.Department)
	}
	n := ""
	if note != nil {
		n = strings.TrimSpace(*note)
	}
	now := store.Micro(s.o.Now())
	is, err = store.Within(ctx, s.o.Timeout, func(ctx context.Context) (*Issue, error) {
		return s.o.DB.Resolve(ctx, id, Status(outcome), c.Consumer+"/"+c.Subject, n, now)
	})
	if err != nil {
		return nil, s.dbErr(ctx, "resolveDataIssue", err)
	}
	s.o.Log.Info("data issue resolved", "request_id", gateway.RequestID(ctx), "issue", id, "outcome", outcome, "by", c.Consumer)
	return s.toModel(is, now), nil
}

// DataIssues lists what the caller may see: the CIO office all; a department the issues
// about its items; a consumer the objections it filed (a citizen: their own).
func (s *Service) DataIssues(ctx context.Context, status *model.DataIssueStatus, kind *model.DataIssueKind) ([]*model.DataIssue, error) {
	c := s.caller(ctx)
	f := Filter{}
	if !c.HasRole(gateway.RoleCIO) {
		f.Department, f.FiledBy, f.Citizen = c.Dept, c.Consumer, c.CitizenID
		if f.FiledBy == "" {
			f.FiledBy = "\x00nobody"
		}
	}
	if kind != nil {
		f.Kind = Kind(*kind)
	}
	list, err := s.list(ctx, f)
	if err != nil {
		return nil, s.dbErr(ctx, "dataIssues", err)
	}
	now := s.o.Now()
	grants := s.o.Grants()
	out := make([]*model.DataIssue, 0, len(list))
	for i := range list {
		if status != nil && string(list[i].StatusAt(now)) != string(*status) {
			continue
		}
		s.forViewer(c, &list[i], grants, now)
		out = append(out, s.toModel(&list[i], now))
	}
	return out, nil
}

// forViewer shows an issue to anyone but its owner (the CIO office, and the filing
// consumer's tokens too) as that caller's own policy shows the subject and the suggested
// value now. The filing consumer is decided like any reader: its grants are bound to a
// purpose, so its token for another purpose, or after the grant ended, sees no more than
// a query would show it (docs/SECURITY.md, T1 "Grants are bound to consumer and purpose").
// What is stored is what the filer saw, so the view is never more open than that.
func (s *Service) forViewer(c *gateway.Caller, is *Issue, grants policy.Grants, now time.Time) {
	if c.Dept != "" && c.Dept == is.Department {
		return
	}
	subj, err := subjectOf(is.Subject)
	if err != nil {
		// The ID number was masked when it was filed: the subject is a person the
		// gateway no longer knows, so the suggested value is decided for a person who is
		// nobody's self, never left as the filer saw it.
		subj = policy.Subject{ID: is.Subject, Person: is.Subject}
	} else {
		shown, ok := s.visibleSubject(c, subj, grants, now)
		if !ok {
			shown = policy.MaskIDNumber(is.Subject)
		}
		is.Subject = shown
	}
	if entry := s.o.Catalog.ByCode(is.Code); entry != nil && is.SuggestedValue != "" {
		dt := s.o.Catalog.Datum(entry, subj)
		switch dt.Decide(c, grants, now).Outcome {
		case gateway.Masked:
			is.SuggestedValue = policy.MaskValue(dt.Entry.Mask, is.SuggestedValue)
		case gateway.Deny:
			is.SuggestedValue = ""
		}
	}
}

func (s *Service) toModel(is *Issue, now time.Time) *model.DataIssue {
	m := &model.DataIssue{ID: is.ID, Kind: model.DataIssueKind(is.Kind), Code: is.Code, Department: is.Department, Subject: is.Subject,
		Description: is.Description, FiledBy: is.FiledBy, Status: model.DataIssueStatus(is.StatusAt(now)), CreatedAt: is.CreatedAt}
	if e := s.o.Catalog.ByCode(is.Code); e != nil {
		m.Field = e.Field
	}
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	m.SuggestedValue, m.ResolvedBy, m.Note = opt(is.SuggestedValue), opt(is.ResolvedBy), opt(is.Note)
	if !is.Deadline.IsZero() {
		d := is.Deadline
		m.Deadline = &d
	}
	if !is.ResolvedAt.IsZero() {
		r := is.ResolvedAt
		m.ResolvedAt = &r
	}
	return m
}

// DataQuality counts one department's objections and findings, for the CIO office's
// statistics (the schema's @role admits the CIO office only).
func (s *Service) DataQuality(ctx context.Context, department string) (*model.DepartmentDataQuality, error) {
	list, err := s.list(ctx, Filter{Department: department})
	if err != nil {
		return nil, s.dbErr(ctx, "dataQuality", err)
	}
	now := s.o.Now()
	q := &model.DepartmentDataQuality{}
	for i := range list {
		is := &list[i]
		switch {
		case is.Kind == Finding && is.Status == StatusOpen:
			q.FindingsOpen++
		case is.Kind == Finding:
			q.FindingsClosed++
		default:
			q.ObjectionsReceived++
			if is.StatusAt(now) == StatusOverdue {
				q.ObjectionsOverdue++
			}
			if !is.ResolvedAt.IsZero() && !is.ResolvedAt.After(is.Deadline) {
				q.ObjectionsAnsweredOnTime++
			}
			if is.Status == StatusCorrected {
				q.ObjectionsCorrected++
			}
		}
	}
	return q, nil
}
