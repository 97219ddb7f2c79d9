package sharing

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/store"
)

// CodeCitizenOnly is the error of a data tracker asked for with a token that is not a
// citizen's own (no citizen_id).
const CodeCitizenOnly = errcode.CitizenOnly

// The bounds of reading the audit trail for the tracker: events are read in pages of
// trackerPage, and at most trackerMaxEvents per question, beyond which the caller is
// asked for a narrower window.
const (
	trackerPage      = 1000
	trackerMaxEvents = 50000
)

var errTooManyEvents = errors.New("too many audit events")

// eachAuditEvent calls fn for every event f selects on each owner's codes, paging
// through the store.
func (s *Service) eachAuditEvent(ctx context.Context, owners []string, f store.AuditFilter, fn func(gateway.AuditEvent)) error {
	read := 0
	for _, owner := range owners {
		f.Owner, f.AfterChain, f.AfterSeq, f.Limit = owner, "", 0, trackerPage
		for {
			evs, err := s.store.ListAudit(ctx, f)
			if err != nil {
				return err
			}
			for _, e := range evs {
				fn(e)
			}
			if read += len(evs); read > trackerMaxEvents {
				return errTooManyEvents
			}
			if len(evs) < f.Limit {
				break
			}
			// The cursor is a (chain, seq) pair: a person's events lie on every
			// replica's chain.
			f.AfterChain, f.AfterSeq = evs[len(evs)-1].Chain, evs[len(evs)-1].Seq
		}
	}
	return nil
}

// ownAccess reports whether e is the citizen's own reading of their own data. The event
// does not name the rule that decided, but only the self-service rule lets a
// self-service app see a conditional or not-shared item in full without a grant
// (docs/guide-citizen-portal.md); an unconditional item is open to any citizen, so its
// reading is someone else's unless proven otherwise.
func (s *Service) ownAccess(e gateway.AuditEvent) bool {
	c, ok := s.consumers[e.Consumer]
	if !ok || !c.SelfService || e.Decision != gateway.Allow || e.GrantID != "" {
		return false
	}
	entry := s.catalog.ByCode(e.Code)
	return entry != nil && entry.Class != gateway.Unconditional
}

// withheld reports whether an access is kept from the tracker at now, and when it will
// be disclosed (nil: no disclosure set): only an access by a consumer its confidential
// purpose names (config.Purpose.WithholdsFor).
func (s *Service) withheld(e gateway.AuditEvent, now time.Time) (bool, *time.Time) {
	p, ok := s.purposes[e.Purpose]
	if !ok || !p.WithholdsFor(e.Consumer) {
		return false, nil
	}
	at, set := p.DisclosedAt(e.At)
	if !set {
		return true, nil
	}
	return now.Before(at), &at
}

// window reads the from/to arguments.
func window(ctx context.Context, op string, from, to *time.Time) (store.AuditFilter, error) {
	var f store.AuditFilter
	if from != nil {
		f.From = *from
	}
	if to != nil {
		f.To = *to
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, gqlErr(ctx, errcode.BadUserInput, "%s: argument to must be after from", op)
	}
	return f, nil
}

func (s *Service) trackerErr(ctx context.Context, op string, err error) error {
	if errors.Is(err, errTooManyEvents) {
		return gqlErr(ctx, errcode.BadUserInput, "%s: more than %d audit events in the window; narrow it with from and to", op, trackerMaxEvents)
	}
	return s.storeErr(ctx, op, err)
}

// pageSize reads a first argument.
func pageSize(ctx context.Context, first *int, def, max int) (int, error) {
	if first == nil {
		return def, nil
	}
	if *first < 1 || *first > max {
		return 0, gqlErr(ctx, errcode.BadUserInput, "argument first: between 1 and %d", max)
	}
	return *first, nil
}

// access is one request's events about one citizen, being grouped.
type access struct {
	key  string
	node *model.DataAccess
	seen map[string]bool
}

// MyDataAccess is the calling citizen's data tracker: every access to data about them
// by anyone else, one per request, newest first. It shows what the owner's audit trail
// holds about the citizen and nothing about anyone else: no end user, no request id, no
// purpose the configuration does not list, no other subject.
func (s *Service) MyDataAccess(ctx context.Context, first *int, after *string, from, to *time.Time) (*model.DataAccessConnection, error) {
	const op = "myDataAccess"
	c := s.caller(ctx)
	if c.CitizenID == "" {
		return nil, gqlErr(ctx, CodeCitizenOnly, "%s: only a citizen reads their own data tracker, with the self-service token that carries their citizen_id", op)
	}
	limit, err := pageSize(ctx, first, 20, 100)
	if err != nil {
		return nil, err
	}
	f, err := window(ctx, op, from, to)
	if err != nil {
		return nil, err
	}
	cursor, err := trackerCursor(ctx, after)
	if err != nil {
		return nil, err
	}
	f.Subject = c.CitizenID
	now := s.now()
	byKey := map[string]*access{}
	err = s.eachAuditEvent(ctx, s.catalog.Departments(), f, func(e gateway.AuditEvent) {
		if s.ownAccess(e) {
			return
		}
		if hide, _ := s.withheld(e, now); hide {
			return
		}
		key := e.RequestID + "\x00" + e.Consumer + "\x00" + e.Purpose
		a := byKey[key]
		if a == nil {
			a = s.newAccess(e)
			byKey[key] = a
		}
		s.addToAccess(a, e)
	})
	if err != nil {
		return nil, s.trackerErr(ctx, op, err)
	}
	return accessPage(newestAccessesFirst(byKey), cursor, limit), nil
}

// trackerCursor decodes an after argument of the data tracker ("" for none).
func trackerCursor(ctx context.Context, after *string) (string, error) {
	if after == nil || *after == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*after)
	if err != nil || !strings.Contains(string(b), "|") {
		return "", gqlErr(ctx, errcode.BadUserInput, "argument after: not a cursor this list gave out")
	}
	return string(b), nil
}

// newAccess starts the tracker's entry for e's request, described with what
// the configuration says of its consumer and purpose (an unlisted purpose is
// not shown).
func (s *Service) newAccess(e gateway.AuditEvent) *access {
	a := &access{node: &model.DataAccess{At: e.At, Consumer: e.Consumer, Items: []*model.DataAccessItem{}}, seen: map[string]bool{}}
	if cc, ok := s.consumers[e.Consumer]; ok && cc.Description != "" {
		d := cc.Description
		a.node.ConsumerDescription = &d
	}
	if p, ok := s.purposes[e.Purpose]; ok {
		name := e.Purpose
		a.node.Purpose = &name
		if p.Description != "" {
			d := p.Description
			a.node.PurposeDescription = &d
		}
	}
	return a
}

// addToAccess adds e's field to its request's entry, once per code, decision
// and grant, and dates the entry by its earliest event.
func (s *Service) addToAccess(a *access, e gateway.AuditEvent) {
	if e.At.Before(a.node.At) {
		a.node.At = e.At
	}
	item := e.Code + "\x00" + string(e.Decision) + "\x00" + e.GrantID
	if a.seen[item] {
		return
	}
	a.seen[item] = true
	it := &model.DataAccessItem{Code: e.Code, Owner: e.Owner, Decision: model.Access(e.Decision)}
	if entry := s.catalog.ByCode(e.Code); entry != nil {
		it.Field = entry.Field
	}
	if e.GrantID != "" {
		g := e.GrantID
		it.GrantID = &g
		if gr, ok := s.grants.Load().byID[g]; ok && gr.RequestID != "" {
			r := gr.RequestID
			it.SharingRequestID = &r
		}
	}
	a.node.Items = append(a.node.Items, it)
}

// newestAccessesFirst gives each access its cursor key and returns them newest
// first, each with its items in code order.
func newestAccessesFirst(byKey map[string]*access) []*access {
	all := make([]*access, 0, len(byKey))
	for key, a := range byKey {
		// The cursor carries a digest of the grouping key, never the request id or
		// purpose themselves.
		sum := sha256.Sum256([]byte(key))
		a.key = strconv.FormatInt(a.node.At.UnixNano(), 10) + "|" + hex.EncodeToString(sum[:16])
		sort.Slice(a.node.Items, func(i, j int) bool { return a.node.Items[i].Code < a.node.Items[j].Code })
		all = append(all, a)
	}
	// Newest first; the key breaks ties so that pages never overlap.
	sort.Slice(all, func(i, j int) bool { return newer(all[i], all[j]) })
	return all
}

// accessPage returns the page of up to limit accesses after cursor.
func accessPage(all []*access, cursor string, limit int) *model.DataAccessConnection {
	start := 0
	if cursor != "" {
		start = sort.Search(len(all), func(i int) bool { return newer(&access{key: cursor}, all[i]) })
	}
	conn := &model.DataAccessConnection{Edges: []*model.DataAccessEdge{}, PageInfo: &model.PageInfo{}, TotalCount: len(all)}
	end := min(start+limit, len(all))
	for _, a := range all[start:end] {
		cur := base64.RawURLEncoding.EncodeToString([]byte(a.key))
		conn.Edges = append(conn.Edges, &model.DataAccessEdge{Cursor: cur, Node: a.node})
		conn.PageInfo.EndCursor = &cur
	}
	conn.PageInfo.HasNextPage = end < len(all)
	return conn
}

// newer orders accesses newest first by their keys (time, then request).
func newer(a, b *access) bool {
	at, ak, _ := strings.Cut(a.key, "|")
	bt, bk, _ := strings.Cut(b.key, "|")
	an, _ := strconv.ParseInt(at, 10, 64)
	bn, _ := strconv.ParseInt(bt, 10, 64)
	if an != bn {
		return an > bn
	}
	return ak > bk
}

// WithheldDataAccess lists the accesses the tracker withholds now: every one for the
// CIO office, those on its own codes for a department's auditor. Subjects are not shown:
// the point is that withholding is accountable, not that the case becomes visible.
func (s *Service) WithheldDataAccess(ctx context.Context, from, to *time.Time, first *int) (*model.WithheldDataAccessList, error) {
	const op = "withheldDataAccess"
	c := s.caller(ctx)
	var owners []string
	switch {
	case c.HasRole(gateway.RoleCIO):
		owners = s.catalog.Departments()
	case c.Dept != "" && c.HasRole(gateway.RoleAuditor):
		owners = []string{c.Dept}
	default:
		return nil, gqlErr(ctx, errcode.Forbidden, "%s: for the CIO office and department auditors only", op)
	}
	limit, err := pageSize(ctx, first, 50, 500)
	if err != nil {
		return nil, err
	}
	f, err := window(ctx, op, from, to)
	if err != nil {
		return nil, err
	}
	out := &model.WithheldDataAccessList{Items: []*model.WithheldDataAccess{}}
	if !s.anyConfidential {
		return out, nil
	}
	now := s.now()
	byKey := map[string]*model.WithheldDataAccess{}
	err = s.eachAuditEvent(ctx, owners, f, func(e gateway.AuditEvent) {
		hide, at := s.withheld(e, now)
		if !hide {
			return
		}
		key := e.RequestID + "\x00" + e.Subject + "\x00" + e.Consumer
		w := byKey[key]
		if w == nil {
			w = &model.WithheldDataAccess{At: e.At, Consumer: e.Consumer, Purpose: e.Purpose, Owners: []string{}, DisclosedAt: at}
			byKey[key] = w
		}
		if !slices.Contains(w.Owners, e.Owner) {
			w.Owners = append(w.Owners, e.Owner)
		}
	})
	if err != nil {
		return nil, s.trackerErr(ctx, op, err)
	}
	for _, w := range byKey {
		sort.Strings(w.Owners)
		out.Items = append(out.Items, w)
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].At.After(out.Items[j].At) })
	out.TotalCount = len(out.Items)
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
	}
	return out, nil
}

// trackerConfig keeps what the tracker shows of consumers and purposes.
func (s *Service) trackerConfig(consumers []config.Consumer, purposes []config.Purpose) {
	s.consumers = make(map[string]config.Consumer, len(consumers))
	s.purposes = map[string]config.Purpose{}
	// A purpose is shown only when the configuration names it: a consumer's own, one its
	// grants are bound to, or one of the purposes list (which may describe it).
	for _, c := range consumers {
		s.consumers[c.Name] = c
		s.purposes[c.Purpose] = config.Purpose{Name: c.Purpose}
		for _, g := range c.Grants {
			s.purposes[g.Purpose] = config.Purpose{Name: g.Purpose}
		}
	}
	for _, p := range purposes {
		s.purposes[p.Name] = p
		s.anyConfidential = s.anyConfidential || p.Confidential
	}
	delete(s.purposes, "")
}
