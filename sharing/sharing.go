// Package sharing is the gateway's own side of the data-sharing loop: the catalogue as a
// live directory, the caller's identity, sharing requests from "you may not see this
// field" to "the owner approved", the grants in force (kept in memory and refreshed on
// every change, from any replica), the owners' audit trail and the CIO office's
// statistics. It implements resolvers.Admin.
package sharing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/cache"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/store"
)

// Purger drops cached department records.
type Purger interface {
	Purge(ctx context.Context, dept string, keys []string) (int, error)
}

// Service implements the sharing loop over a store.
type Service struct {
	store        store.Store
	catalog      *policy.Catalog
	static       []gateway.Grant
	deadlineDays int
	purger       Purger
	now          func() time.Time
	log          *slog.Logger

	grants atomic.Pointer[grantSet]

	// For the data tracker: consumers by name, the purposes it may show, and whether any
	// purpose is confidential.
	consumers       map[string]config.Consumer
	purposes        map[string]config.Purpose
	anyConfidential bool
}

type grantSet struct {
	index *policy.GrantIndex
	byID  map[string]gateway.Grant
}

// Options configure a Service.
type Options struct {
	Store        store.Store
	Catalog      *policy.Catalog
	Consumers    []config.Consumer // their static grants are always in force
	Purposes     []config.Purpose  // described and confidential purposes, for the data tracker
	DeadlineDays int               // working days an owner has to answer
	Purger       Purger
	Now          func() time.Time
	Log          *slog.Logger
}

// New loads the grants in force and returns the service. Static grants must name known,
// conditional codes.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DeadlineDays <= 0 {
		o.DeadlineDays = config.DefaultDeadlineWorkingDays
	}
	s := &Service{store: o.Store, catalog: o.Catalog, deadlineDays: o.DeadlineDays, purger: o.Purger,
		now: o.Now, log: o.Log}
	s.trackerConfig(o.Consumers, o.Purposes)
	if problems := StaticGrantProblems(o.Catalog, o.Consumers); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Message
		}
		return nil, fmt.Errorf("static grants: %s", strings.Join(msgs, "; "))
	}
	for _, c := range o.Consumers {
		for i, g := range c.Grants {
			s.static = append(s.static, gateway.Grant{
				ID: fmt.Sprintf("CFG-%s-%d", c.Name, i+1), Consumer: c.Name, Purpose: g.Purpose,
				Codes: g.Codes, ValidUntil: g.ValidUntil, GrantedBy: "configuration",
			})
		}
	}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// StaticGrantProblem is a static grant that names a code it cannot grant.
type StaticGrantProblem struct {
	Path    string // the setting, as config.Config.At takes it: consumers[2].grants[0].codes[3]
	Message string
}

// StaticGrantProblems checks the consumers' static grants against the catalogue: each code
// must be known and conditional (open items need no grant, not-shared ones cannot have
// one). New refuses to start on any; `gateway config check` reports them with their lines.
func StaticGrantProblems(cat *policy.Catalog, consumers []config.Consumer) []StaticGrantProblem {
	var out []StaticGrantProblem
	for ci, c := range consumers {
		for i, g := range c.Grants {
			for k, code := range g.Codes {
				path := fmt.Sprintf("consumers[%d].grants[%d].codes[%d]", ci, i, k)
				e := cat.ByCode(code)
				switch {
				case e == nil:
					out = append(out, StaticGrantProblem{path, fmt.Sprintf("consumer %s grant %d: code %s is not in the catalogue", c.Name, i, code)})
				case e.Class != gateway.Conditional:
					out = append(out, StaticGrantProblem{path, fmt.Sprintf("consumer %s grant %d: code %s is %s; only conditional items are granted", c.Name, i, code, e.Class)})
				}
			}
		}
	}
	return out
}

// Refresh reloads the grants from the store and swaps the new set in.
func (s *Service) Refresh(ctx context.Context) error {
	stored, err := s.store.ListGrants(ctx)
	if err != nil {
		return fmt.Errorf("loading grants: %w", err)
	}
	all := append(append([]gateway.Grant(nil), s.static...), stored...)
	set := &grantSet{index: policy.NewGrantIndex(all), byID: make(map[string]gateway.Grant, len(all))}
	for _, g := range all {
		set.byID[g.ID] = g
	}
	s.grants.Store(set)
	return nil
}

// Grants returns the grants in force now, for the policy.
func (s *Service) Grants() policy.Grants { return s.grants.Load().index }

// Watch keeps the grants current until ctx ends: at once when the store signals a change
// (from this or another replica), and every interval as a safety net.
func (s *Service) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.store.Changes():
		case <-t.C:
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("grant refresh failed; the previous grants stay in force", "err", err)
		}
	}
}

func gqlErr(ctx context.Context, code, format string, args ...any) error {
	return errcode.At(ctx, code, fmt.Sprintf(format, args...))
}

func (s *Service) storeErr(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return gqlErr(ctx, errcode.NotFound, "%s: no such record", op)
	case errors.Is(err, store.ErrAlreadyDecided):
		return gqlErr(ctx, errcode.AlreadyDecided, "%s: the request has already been decided; a decision is final", op)
	case errors.Is(err, store.ErrAlreadyRevoked):
		return gqlErr(ctx, errcode.AlreadyRevoked, "%s: the grant has already been revoked", op)
	}
	s.log.ErrorContext(ctx, "store failure", "op", op, "request_id", gateway.RequestID(ctx), "err", err)
	return gqlErr(ctx, errcode.StoreUnavailable, "%s: the gateway's store is unavailable; try again later", op)
}

// caller is the verified caller of the request (gateway.CallerFrom), or a caller with
// no consumer, department or role, who may do nothing here.
func (s *Service) caller(ctx context.Context) *gateway.Caller {
	if c := gateway.CallerFrom(ctx); c != nil {
		return c
	}
	return &gateway.Caller{}
}

// Catalog lists catalogue entries with the caller's access.
func (s *Service) Catalog(ctx context.Context, department *string) ([]*model.CatalogEntry, error) {
	dept := ""
	if department != nil {
		dept = *department
		if !slices.Contains(s.catalog.Departments(), dept) {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument department: %q is not a department of the catalogue (%s)", dept, strings.Join(s.catalog.Departments(), ", "))
		}
	}
	c, now, grants := s.caller(ctx), s.now(), s.Grants()
	entries := s.catalog.Entries(dept)
	out := make([]*model.CatalogEntry, len(entries))
	for i := range entries {
		e := &entries[i]
		access, opens := s.access(c, e, grants, now)
		m := &model.CatalogEntry{Code: e.Code, Field: e.Field, Owner: e.Owner, Class: model.SharingClass(e.Class),
			TTL: int(e.TTL / time.Second), Access: model.Access(access), Requestable: opens}
		if e.Mask != gateway.MaskNone {
			mask := string(e.Mask)
			m.Mask = &mask
		}
		if e.Description != "" {
			d := e.Description
			m.Description = &d
		}
		if e.Copy != nil {
			m.CopyOf = &e.Copy.Of
		}
		if e.LegalBasis != "" {
			m.LegalBasis = &e.LegalBasis
		}
		out[i] = m
	}
	return out, nil
}

// access is the caller's access to an item in general, and whether a sharing request
// for its code could open it. A copy is decided as its source (policy.Catalog.Datum), so
// it shows its source's access (the stricter of the two for a copy of persons' data
// only, which is decided per value), and a request for the copy's own code opens
// nothing: the source's entry says whether one for the source's could.
func (s *Service) access(c *gateway.Caller, e *gateway.CatalogEntry, grants policy.Grants, now time.Time) (gateway.Outcome, bool) {
	access, opens := policy.Access(c, e, grants, now)
	src := s.catalog.Source(e)
	if src == nil || e.LegalBasis != "" {
		return access, opens
	}
	asSource := policy.Datum{Entry: src, Holder: e.Owner}.Decide(c, grants, now).Outcome
	if !e.Copy.PersonOnly {
		return asSource, false
	}
	if strictness(asSource) > strictness(access) {
		access = asSource
	}
	return access, opens
}

func strictness(o gateway.Outcome) int {
	switch o {
	case gateway.Allow:
		return 0
	case gateway.Masked:
		return 1
	}
	return 2
}

// Me describes the caller.
func (s *Service) Me(ctx context.Context) (*model.Consumer, error) {
	c := s.caller(ctx)
	m := &model.Consumer{Consumer: c.Consumer, Subject: c.Subject, Roles: append([]string{}, c.Roles...), Grants: []*model.Grant{}}
	if c.Dept != "" {
		m.Department = &c.Dept
	}
	if c.Purpose != "" {
		m.Purpose = &c.Purpose
	}
	if c.CitizenID != "" {
		m.Citizen = &federation.Citizen{IDNumber: c.CitizenID}
	}
	now := s.now()
	for _, g := range s.grants.Load().index.ForConsumer(c.Consumer, now) {
		if g.Purpose == c.Purpose {
			m.Grants = append(m.Grants, toGrant(g, now))
		}
	}
	return m, nil
}

// RequestSharing files one pending request per owning department.
func (s *Service) RequestSharing(ctx context.Context, in model.SharingRequestInput) ([]*model.SharingRequest, error) {
	c := s.caller(ctx)
	if c.CitizenID != "" {
		// A citizen sees their own data in full already; a grant to their app would open
		// other citizens' data to every user of it (docs/guide-citizen-portal.md).
		return nil, gqlErr(ctx, errcode.Forbidden, "requestSharing: a citizen's self-service session cannot file sharing requests; "+
			"your own data is shown to you in full, and a grant to %s would open other people's data to all its users", c.Consumer)
	}
	purpose := c.Purpose
	if in.Purpose != nil && strings.TrimSpace(*in.Purpose) != "" {
		purpose = strings.TrimSpace(*in.Purpose)
	}
	var problems []string
	if len(in.Codes) == 0 {
		problems = append(problems, "codes: name at least one catalogue code")
	}
	if strings.TrimSpace(in.Justification) == "" {
		problems = append(problems, "justification: say why the data is needed")
	}
	if purpose == "" {
		problems = append(problems, "purpose: the token carries none, so name one")
	}
	byOwner := map[string][]string{}
	for _, code := range in.Codes {
		e := s.catalog.ByCode(code)
		switch {
		case e == nil:
			problems = append(problems, fmt.Sprintf("codes: %q is not in the catalogue", code))
		case e.Class == gateway.NotShared:
			problems = append(problems, fmt.Sprintf("codes: %s (%s) is not shared by %s and cannot be requested", code, e.Field, e.Owner))
		case e.Class == gateway.Unconditional:
			problems = append(problems, fmt.Sprintf("codes: %s (%s) is shared unconditionally; no request is needed", code, e.Field))
		case e.Owner == c.Dept:
			problems = append(problems, fmt.Sprintf("codes: %s belongs to your own department", code))
		case e.Copy != nil && !e.Copy.PersonOnly && e.LegalBasis == "":
			// Decided as its source: a grant on the copy's code would open nothing.
			problems = append(problems, fmt.Sprintf("codes: %s (%s) is %s's copy of %s and is shared as that datum; request %s from its owner instead", code, e.Field, e.Owner, e.Copy.Of, e.Copy.Of))
		case !slices.Contains(byOwner[e.Owner], code):
			byOwner[e.Owner] = append(byOwner[e.Owner], code)
		}
	}
	if len(problems) > 0 {
		return nil, &gqlerror.Error{Path: graphql.GetPath(ctx), Message: "requestSharing: " + strings.Join(problems, "; "),
			Extensions: map[string]any{"code": errcode.BadUserInput, "problems": problems}}
	}
	now := store.Micro(s.now())
	owners := make([]string, 0, len(byOwner))
	for o := range byOwner {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	reqs := make([]gateway.SharingRequest, len(owners))
	for i, o := range owners {
		reqs[i] = gateway.SharingRequest{
			Requester: c.Consumer, RequestedBy: c.Subject, Department: o, Codes: byOwner[o],
			Purpose: purpose, Justification: strings.TrimSpace(in.Justification),
			Status: gateway.Pending, CreatedAt: now, Deadline: AddWorkingDays(now, s.deadlineDays),
		}
	}
	created, err := s.store.CreateRequests(ctx, reqs)
	if err != nil {
		return nil, s.storeErr(ctx, "requestSharing", err)
	}
	s.log.InfoContext(ctx, "sharing requested", "request_id", gateway.RequestID(ctx), "consumer", c.Consumer, "departments", owners)
	out := make([]*model.SharingRequest, len(created))
	for i := range created {
		out[i] = s.toRequest(&created[i], now)
	}
	return out, nil
}

// DecideSharingRequest records the owning department's final answer.
func (s *Service) DecideSharingRequest(ctx context.Context, id string, approve bool, validUntil *time.Time, reason *string) (*model.SharingRequest, error) {
	c := s.caller(ctx)
	if c.Dept == "" || !c.HasRole(gateway.RoleApprover) {
		return nil, gqlErr(ctx, errcode.Forbidden, "decideSharingRequest: only an approver of the owning department may decide")
	}
	req, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return nil, s.storeErr(ctx, "decideSharingRequest", err)
	}
	if req.Department != c.Dept {
		return nil, gqlErr(ctx, errcode.Forbidden, "decideSharingRequest: request %s is addressed to %s; only its approvers may decide", id, req.Department)
	}
	now := store.Micro(s.now())
	d := store.Decision{Approve: approve, By: c.Consumer + "/" + c.Subject, At: now}
	if reason != nil {
		d.Reason = strings.TrimSpace(*reason)
	}
	if validUntil != nil {
		if !approve {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument validUntil: only an approval has an expiry")
		}
		if !validUntil.After(now) {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument validUntil: must be in the future")
		}
		d.ValidUntil = store.Micro(*validUntil)
	}
	decided, _, err := s.store.DecideRequest(ctx, id, d)
	if err != nil {
		return nil, s.storeErr(ctx, "decideSharingRequest", err)
	}
	// In force here at once; other replicas learn of it through the store.
	if err := s.Refresh(ctx); err != nil {
		s.log.WarnContext(ctx, "grant refresh after a decision failed", "err", err)
	}
	s.log.InfoContext(ctx, "sharing request decided", "request_id", gateway.RequestID(ctx), "sharing_request", id, "approved", approve, "by", d.By)
	return s.toRequest(decided, now), nil
}

// RevokeGrant ends a grant of the caller's department.
func (s *Service) RevokeGrant(ctx context.Context, id string) (*model.Grant, error) {
	c := s.caller(ctx)
	if c.Dept == "" || !c.HasRole(gateway.RoleApprover) {
		return nil, gqlErr(ctx, errcode.Forbidden, "revokeGrant: only an approver of the granting department may revoke")
	}
	if g, ok := s.grants.Load().byID[id]; ok && g.RequestID == "" {
		return nil, gqlErr(ctx, errcode.Forbidden, "revokeGrant: %s is a configured grant; it ends when the configuration changes", id)
	}
	g, err := s.store.GetGrant(ctx, id)
	if err != nil {
		return nil, s.storeErr(ctx, "revokeGrant", err)
	}
	if g.Department != c.Dept {
		return nil, gqlErr(ctx, errcode.Forbidden, "revokeGrant: grant %s was given by %s; only its approvers may revoke it", id, g.Department)
	}
	now := store.Micro(s.now())
	g, err = s.store.RevokeGrant(ctx, id, c.Consumer+"/"+c.Subject, now)
	if err != nil {
		return nil, s.storeErr(ctx, "revokeGrant", err)
	}
	if err := s.Refresh(ctx); err != nil {
		s.log.WarnContext(ctx, "grant refresh after a revocation failed", "err", err)
	}
	s.log.InfoContext(ctx, "grant revoked", "request_id", gateway.RequestID(ctx), "grant", id, "by", c.Consumer)
	return toGrant(*g, now), nil
}

// SharingRequests lists what the caller may see: the CIO office all; others their own
// and those addressed to their department.
func (s *Service) SharingRequests(ctx context.Context, status *model.SharingRequestStatus) ([]*model.SharingRequest, error) {
	c := s.caller(ctx)
	f := store.RequestFilter{}
	if !c.HasRole(gateway.RoleCIO) {
		f.Requester, f.Department = c.Consumer, c.Dept
	}
	want := ""
	if status != nil {
		want = string(*status)
		if *status == model.SharingRequestStatusOverdue {
			f.Status = gateway.Pending
		} else {
			f.Status = gateway.RequestStatus(*status)
		}
	}
	reqs, err := s.store.ListRequests(ctx, f)
	if err != nil {
		return nil, s.storeErr(ctx, "sharingRequests", err)
	}
	now := s.now()
	out := make([]*model.SharingRequest, 0, len(reqs))
	for i := range reqs {
		if want != "" && string(reqs[i].StatusAt(now)) != want {
			continue
		}
		if c.CitizenID != "" && reqs[i].RequestedBy != c.Subject {
			continue // self-service: a citizen sees only what they filed, never another's
		}
		out = append(out, s.toRequest(&reqs[i], now))
	}
	return out, nil
}

// SharingStats summarises every department's sharing, for the CIO office.
func (s *Service) SharingStats(ctx context.Context) ([]*model.DepartmentSharingStats, error) {
	c := s.caller(ctx)
	if !c.HasRole(gateway.RoleCIO) {
		return nil, gqlErr(ctx, errcode.Forbidden, "sharingStats: for the CIO office only")
	}
	reqs, err := s.store.ListRequests(ctx, store.RequestFilter{})
	if err != nil {
		return nil, s.storeErr(ctx, "sharingStats", err)
	}
	now := s.now()
	byDept := map[string]*model.DepartmentSharingStats{}
	var order []string
	get := func(d string) *model.DepartmentSharingStats {
		st, ok := byDept[d]
		if !ok {
			st = &model.DepartmentSharingStats{Department: d}
			byDept[d] = st
			order = append(order, d)
		}
		return st
	}
	for _, d := range s.catalog.Departments() {
		st := get(d)
		for _, e := range s.catalog.Entries(d) {
			switch e.Class {
			case gateway.Unconditional:
				st.Unconditional++
			case gateway.Conditional:
				st.Conditional++
			case gateway.NotShared:
				st.NotShared++
			}
		}
	}
	for _, r := range reqs {
		st := get(r.Department)
		st.RequestsReceived++
		switch r.StatusAt(now) {
		case gateway.Approved:
			st.Approved++
		case gateway.Rejected:
			st.Rejected++
		case gateway.Pending:
			st.Pending++
		case gateway.Overdue:
			st.Overdue++
		}
		if r.DecidedAt != nil && !r.DecidedAt.After(r.Deadline) {
			st.AnsweredOnTime++
		}
	}
	out := make([]*model.DepartmentSharingStats, len(order))
	for i, d := range order {
		out[i] = byDept[d]
	}
	return out, nil
}

// AuditEvents pages through the audit trail of the caller's own department's codes.
func (s *Service) AuditEvents(ctx context.Context, code, subject *string, from, to *time.Time, first *int, after *string) (*model.AuditEventConnection, error) {
	c := s.caller(ctx)
	if c.Dept == "" || !(c.HasRole(gateway.RoleAuditor) || c.HasRole(gateway.RoleApprover)) {
		return nil, gqlErr(ctx, errcode.Forbidden, "auditEvents: only the owning department's auditors see the accesses to its data")
	}
	f := store.AuditFilter{Owner: c.Dept, Limit: 50}
	if first != nil {
		if *first < 1 || *first > 500 {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument first: between 1 and 500")
		}
		f.Limit = *first
	}
	if code != nil {
		e := s.catalog.ByCode(*code)
		if e == nil {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument code: %q is not in the catalogue", *code)
		}
		if e.Owner != c.Dept {
			return nil, gqlErr(ctx, errcode.Forbidden, "auditEvents: %s belongs to %s; you see your own department's codes only", *code, e.Owner)
		}
		f.Code = *code
	}
	if subject != nil {
		f.Subject = *subject
	}
	if from != nil {
		f.From = *from
	}
	if to != nil {
		f.To = *to
	}
	if after != nil && *after != "" {
		seq, chain, ok := parseAuditCursor(*after)
		if !ok {
			return nil, gqlErr(ctx, errcode.BadUserInput, "argument after: not a cursor this list gave out")
		}
		f.AfterSeq, f.AfterChain = seq, chain
	}
	total, err := s.store.CountAudit(ctx, store.AuditFilter{Owner: f.Owner, Code: f.Code, Subject: f.Subject, From: f.From, To: f.To})
	if err != nil {
		return nil, s.storeErr(ctx, "auditEvents", err)
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	evs, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, s.storeErr(ctx, "auditEvents", err)
	}
	conn := &model.AuditEventConnection{Edges: []*model.AuditEventEdge{}, PageInfo: &model.PageInfo{}, TotalCount: total}
	if len(evs) > limit {
		evs = evs[:limit]
		conn.PageInfo.HasNextPage = true
	}
	for _, e := range evs {
		cursor := auditCursor(e)
		n := &model.AuditEvent{Seq: int(e.Seq), At: e.At, Consumer: e.Consumer, EndUser: e.EndUser, Purpose: e.Purpose,
			RequestID: e.RequestID, Code: e.Code, Subject: e.Subject, Decision: model.Access(e.Decision), Hash: e.Hash}
		if e.GrantID != "" {
			g := e.GrantID
			n.GrantID = &g
		}
		conn.Edges = append(conn.Edges, &model.AuditEventEdge{Cursor: cursor, Node: n})
		conn.PageInfo.EndCursor = &cursor
	}
	return conn, nil
}

// auditCursor is the paging cursor after e: "seq:N" on the default chain, as before
// there were chains, and "seq:N:CHAIN" on a replica's (store.AuditFilter's order).
func auditCursor(e gateway.AuditEvent) string {
	if e.Chain == "" {
		return "seq:" + strconv.FormatInt(e.Seq, 10)
	}
	return "seq:" + strconv.FormatInt(e.Seq, 10) + ":" + e.Chain
}

func parseAuditCursor(c string) (seq int64, chain string, ok bool) {
	rest, ok := strings.CutPrefix(c, "seq:")
	if !ok {
		return 0, "", false
	}
	n, chain, _ := strings.Cut(rest, ":")
	seq, err := strconv.ParseInt(n, 10, 64)
	return seq, chain, err == nil && seq >= 0
}

// PurgeCache drops the caller's own department's cached records.
func (s *Service) PurgeCache(ctx context.Context, department string, keys []string) (int, error) {
	c := s.caller(ctx)
	if c.Dept == "" || c.Dept != department {
		return 0, gqlErr(ctx, errcode.Forbidden, "purgeCache: only %s's own console may purge its records", department)
	}
	if s.purger == nil {
		return 0, nil
	}
	n, err := s.purger.Purge(ctx, department, keys)
	var partial *cache.SharedPurgeError
	switch {
	case errors.As(err, &partial):
		// The cause (a dial error, say) is the operator's, not the caller's.
		s.log.ErrorContext(ctx, "cache purge reached only this replica", "request_id", gateway.RequestID(ctx), "department", department, "keys", len(keys), "records", partial.Local, "err", err)
		return 0, gqlErr(ctx, errcode.PurgeIncomplete, "purgeCache: %d records were dropped on this gateway replica, but the shared cache did not answer, so other replicas keep theirs until they expire; try the purge again later", partial.Local)
	case err != nil:
		return 0, gqlErr(ctx, errcode.BadUserInput, "purgeCache: %v", err)
	}
	s.log.InfoContext(ctx, "cache purged", "request_id", gateway.RequestID(ctx), "department", department, "keys", len(keys), "records", n)
	return n, nil
}

func (s *Service) toRequest(r *gateway.SharingRequest, now time.Time) *model.SharingRequest {
	m := &model.SharingRequest{ID: r.ID, Requester: r.Requester, Department: r.Department, Codes: r.Codes,
		Purpose: r.Purpose, Justification: r.Justification, Status: model.SharingRequestStatus(r.StatusAt(now)),
		CreatedAt: r.CreatedAt, Deadline: r.Deadline, DecidedAt: r.DecidedAt, ValidUntil: r.ValidUntil}
	if r.DecidedBy != "" {
		m.DecidedBy = &r.DecidedBy
	}
	if r.Reason != "" {
		m.Reason = &r.Reason
	}
	if r.GrantID != "" {
		if g, ok := s.grants.Load().byID[r.GrantID]; ok {
			m.Grant = toGrant(g, now)
		}
	}
	return m
}

func toGrant(g gateway.Grant, now time.Time) *model.Grant {
	m := &model.Grant{ID: g.ID, Consumer: g.Consumer, Purpose: g.Purpose, Codes: g.Codes, Department: g.Department,
		RevokedAt: g.RevokedAt, Active: g.ActiveAt(now)}
	if g.RequestID != "" {
		m.RequestID = &g.RequestID
	}
	if !g.ValidUntil.IsZero() {
		v := g.ValidUntil
		m.ValidUntil = &v
	}
	return m
}

// AddWorkingDays returns t plus n working days (Monday to Friday, in Shanghai time).
// Public holidays are not modelled: a deadline is never earlier than the rule allows.
func AddWorkingDays(t time.Time, n int) time.Time {
	cst := time.FixedZone("CST", 8*60*60)
	d := t.In(cst)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return d.UTC()
}
