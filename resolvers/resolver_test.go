package resolvers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/graph/model"
)

// Fixtures with valid check digits (docs/architecture.md, Demo data).
const (
	zhangWei   = "310115198503120012"
	unknownID  = "310115199912310073"
	badCheckID = "310115198503120013"
	e1         = "91310115MA1FL0AB0P"
	e2         = "91310115607223817N"
)

// dept is one fake department system: records by operation and key, every call counted.
type dept struct {
	mu    sync.Mutex
	data  map[string]map[string][]adapters.Record // op → key → records
	calls []string
	fail  error
}

func (d *dept) Fetch(_ context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, op+" "+strings.Join(keys, ","))
	if d.fail != nil {
		return nil, d.fail
	}
	out := map[string][]adapters.Record{}
	for _, k := range keys {
		if r, ok := d.data[op][k]; ok {
			out[k] = r
		}
	}
	return out, nil
}

func (d *dept) Page(_ context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("page %s %q %d %d", op, key, offset, limit))
	var keys []string
	for k := range d.data["enterprise"] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := adapters.Page{Total: len(keys)}
	for _, k := range keys[min(offset, len(keys)):min(offset+limit, len(keys))] {
		p.Records = append(p.Records, d.data["enterprise"][k]...)
	}
	return p, nil
}

func (d *dept) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// planner answers NeedsDepartment from a set of departments the caller may read.
type planner struct{ denied map[string]bool }

var errAllDenied = errors.New("every selected field is denied")

func (p planner) NeedsDepartment(_ context.Context, dept, _, _ string) bool { return !p.denied[dept] }
func (p planner) Denied(context.Context, string, string) error              { return errAllDenied }

// world is a Resolver over four fake departments, and a request context with loaders.
type world struct {
	r     *Resolver
	ctx   context.Context
	depts map[string]*dept
}

func newWorld(t *testing.T, denied ...string) *world {
	t.Helper()
	w := &world{depts: map[string]*dept{}}
	var ds []*federation.Department
	for _, id := range []string{"psb", "amr", "credit", "hrss"} {
		d := &dept{data: map[string]map[string][]adapters.Record{}}
		w.depts[id] = d
		b := config.Department{ID: id, Timeout: time.Second, Retries: -1, Operations: map[string]config.Operation{}}
		for _, ref := range config.DefaultSources.Each() {
			if ref.Department == id {
				b.Operations[ref.Operation] = config.Operation{Batch: 100}
			}
		}
		ds = append(ds, federation.NewDepartment(b, d, federation.Options{}))
	}
	// A batching window wider than production's, so that a loaded machine descheduling
	// a goroutine between two keys of one look-ahead cannot split the batch the tests
	// count calls of.
	fed, err := federation.New(ds, config.DefaultSources, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	p := planner{denied: map[string]bool{}}
	for _, d := range denied {
		p.denied[d] = true
	}
	w.r = &Resolver{Fed: fed, Planner: p, Admin: &admin{}}
	w.ctx = federation.WithLoaders(context.Background(), fed.NewLoaders())
	return w
}

func (w *world) put(dept, op, key string, recs ...adapters.Record) {
	d := w.depts[dept]
	if d.data[op] == nil {
		d.data[op] = map[string][]adapters.Record{}
	}
	d.data[op][key] = recs
}

func (w *world) calls() int {
	n := 0
	for _, d := range w.depts {
		n += d.callCount()
	}
	return n
}

// passThrough is every schema directive letting the value through: the policy the
// directives apply is enforce's, tested there; these tests are the resolvers'. Filled by
// reflection, so a directive added to the schema needs no change here.
func passThrough() graph.DirectiveRoot {
	var d graph.DirectiveRoot
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		f.Set(reflect.MakeFunc(f.Type(), func(args []reflect.Value) []reflect.Value {
			res, err := args[2].Interface().(graphql.Resolver)(args[0].Interface().(context.Context))
			out := []reflect.Value{reflect.New(f.Type().Out(0)).Elem(), reflect.New(f.Type().Out(1)).Elem()}
			if res != nil {
				out[0].Set(reflect.ValueOf(res))
			}
			if err != nil {
				out[1].Set(reflect.ValueOf(err))
			}
			return out
		}))
	}
	return d
}

// query runs one operation through the executable schema, with every directive letting
// the value through, and returns its data.
func (w *world) query(t *testing.T, q string, vars map[string]any) map[string]any {
	t.Helper()
	es := graph.NewExecutableSchema(graph.Config{Resolvers: w.r, Directives: passThrough()})
	h := handler.New(es)
	h.AddTransport(transport.POST{})
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req := httptest.NewRequestWithContext(w.ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("%s: %s", q, rec.Body)
	}
	return resp.Data
}

// wantBadInput checks err is BAD_USER_INPUT naming arg.
func wantBadInput(t *testing.T, err error, arg string) {
	t.Helper()
	var g *gqlerror.Error
	if !errors.As(err, &g) || g.Extensions["code"] != errcode.BadUserInput || g.Extensions["argument"] != arg {
		t.Errorf("want BAD_USER_INPUT on argument %s, got %v", arg, err)
	}
}

// Arguments are checked before any department is called (docs/errors.md, BAD_USER_INPUT).
func TestArgumentsAreCheckedFirst(t *testing.T) {
	w := newWorld(t)
	q := w.r.Query()
	ctx := w.ctx
	first := func(n int) *int { return &n }
	str := func(s string) *string { return &s }

	_, err := q.Citizen(ctx, badCheckID)
	wantBadInput(t, err, "idNumber")
	_, err = q.Enterprise(ctx, "91310115MA1FL0AB0X")
	wantBadInput(t, err, "creditCode")
	_, err = q.Enterprises(ctx, str(badCheckID), nil, nil)
	wantBadInput(t, err, "legalRepresentative")
	_, err = q.Enterprises(ctx, nil, first(config.DefaultPageSize+1), nil)
	wantBadInput(t, err, "first")
	_, err = q.Enterprises(ctx, nil, first(-1), nil)
	wantBadInput(t, err, "first")
	_, err = q.Enterprises(ctx, nil, nil, str("not-a-cursor"))
	wantBadInput(t, err, "after")
	_, err = q.CreditRecords(ctx, "hello", nil)
	wantBadInput(t, err, "subject")
	if n := w.calls(); n != 0 {
		t.Errorf("bad arguments reached the departments: %d calls", n)
	}
	// A subject shaped like an ID number is told the ID number's rule, not the generic one.
	_, err = q.CreditRecords(ctx, badCheckID, nil)
	if err == nil || !strings.Contains(err.Error(), "GB 11643") {
		t.Errorf("an ID-shaped subject with a wrong check digit: %v", err)
	}
	_, err = q.CreditRecords(ctx, "12345", nil)
	if err == nil || !strings.Contains(err.Error(), errSubject.Error()) {
		t.Errorf("a subject of neither kind: %v", err)
	}
}

func TestValidSubject(t *testing.T) {
	for _, s := range []string{zhangWei, e1, e2} {
		if err := validSubject(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", badCheckID, "91310115MA1FL0AB0X", "ABCDEFGHIJKLMNOPQR", strings.Repeat("1", 19)} {
		if validSubject(s) == nil {
			t.Errorf("%q passed", s)
		}
	}
}

// The citizen query asks the registry only when the caller may see something of it, and
// a registry failure leaves the citizen standing with the error on its registry fields.
func TestCitizen(t *testing.T) {
	w := newWorld(t)
	w.put("psb", "person", zhangWei, adapters.Record{"idNumber": zhangWei, "name": "张伟", "phone": ""})
	q := w.r.Query()

	c, err := q.Citizen(w.ctx, zhangWei)
	if err != nil || c == nil || c.IDNumber != zhangWei {
		t.Fatalf("a known citizen: %+v %v", c, err)
	}
	cr := w.r.Citizen()
	if name, err := cr.Name(w.ctx, c); err != nil || name == nil || *name != "张伟" {
		t.Errorf("name: %v %v", name, err)
	}
	if phone, err := cr.Phone(w.ctx, c); err != nil || phone != nil {
		t.Errorf("an empty value is null: %v %v", phone, err)
	}
	if n := w.depts["psb"].callCount(); n != 1 {
		t.Errorf("one registry call serves the citizen and its fields: %d", n)
	}

	if c, err := q.Citizen(w.ctx, unknownID); c != nil || err != nil {
		t.Errorf("a valid ID the registry does not know is null without error: %+v %v", c, err)
	}

	denied := newWorld(t, "psb")
	if c, err := denied.r.Query().Citizen(denied.ctx, zhangWei); err != nil || c == nil {
		t.Errorf("a caller who may see nothing of the registry still gets the citizen: %+v %v", c, err)
	}
	if n := denied.calls(); n != 0 {
		t.Errorf("data minimisation: the registry was asked %d times for a caller it shares nothing with", n)
	}

	down := newWorld(t)
	down.depts["psb"].fail = fmt.Errorf("%w: connection refused", adapters.ErrUnavailable)
	c, err = down.r.Query().Citizen(down.ctx, zhangWei)
	if err != nil || c == nil {
		t.Fatalf("the citizen stands when the registry is down: %+v %v", c, err)
	}
	var se *federation.SourceError
	if _, err := down.r.Citizen().Name(down.ctx, c); !errors.As(err, &se) || se.Code != errcode.SourceUnavailable || se.Department != "psb" {
		t.Errorf("the registry's fields carry its failure: %v", err)
	}
}

// A relation whose every selected field is denied is not fetched; the planner's error
// names it.
func TestSocialInsuranceDenied(t *testing.T) {
	w := newWorld(t, "hrss")
	_, err := w.r.Citizen().SocialInsurance(w.ctx, &federation.Citizen{IDNumber: zhangWei})
	if !errors.Is(err, errAllDenied) {
		t.Errorf("want the planner's denial, got %v", err)
	}
	if n := w.calls(); n != 0 {
		t.Errorf("a denied relation was fetched: %d calls", n)
	}
	open := newWorld(t)
	open.put("hrss", "byCitizen", zhangWei, adapters.Record{"insuranceType": "PENSION"}, adapters.Record{"insuranceType": "MEDICAL"})
	si, err := open.r.Citizen().SocialInsurance(open.ctx, &federation.Citizen{IDNumber: zhangWei})
	if err != nil || len(si) != 2 || *si[1].InsuranceType() != "MEDICAL" {
		t.Errorf("insurance: %+v %v", si, err)
	}
}

func TestEnterprise(t *testing.T) {
	w := newWorld(t)
	w.put("amr", "enterprise", e1, adapters.Record{"creditCode": e1, "name": "上海浦江智联科技有限公司"})
	q := w.r.Query()
	e, err := q.Enterprise(w.ctx, e1)
	if err != nil || e == nil || e.Record["name"] != "上海浦江智联科技有限公司" {
		t.Errorf("a known enterprise: %+v %v", e, err)
	}
	if e, err := q.Enterprise(w.ctx, e2); e != nil || err != nil {
		t.Errorf("an unknown enterprise is null without error: %+v %v", e, err)
	}
	down := newWorld(t)
	down.depts["amr"].fail = fmt.Errorf("%w: bad json", adapters.ErrBadResponse)
	e, err = down.r.Query().Enterprise(down.ctx, e1)
	if err != nil || e == nil || e.Err == nil {
		t.Errorf("the enterprise stands with its registry's failure kept for its fields: %+v %v", e, err)
	}
}

// Paging: Relay cursors are opaque offsets; a page past the end is empty, never null.
func TestEnterprisesPaging(t *testing.T) {
	w := newWorld(t)
	for i := range 5 {
		code := fmt.Sprintf("k%d", i)
		w.put("amr", "enterprise", code, adapters.Record{"creditCode": code})
	}
	const page = `query($after: String) { enterprises(first: 2, after: $after) {
		totalCount edges { cursor node { creditCode } } pageInfo { hasNextPage endCursor } } }`
	var seen []string
	vars := map[string]any{}
	for range 10 {
		conn := w.query(t, page, vars)["enterprises"].(map[string]any)
		edges := conn["edges"].([]any)
		info := conn["pageInfo"].(map[string]any)
		if conn["totalCount"] != 5.0 || len(edges) > 2 {
			t.Fatalf("a page: %v", conn)
		}
		for _, e := range edges {
			seen = append(seen, e.(map[string]any)["node"].(map[string]any)["creditCode"].(string))
		}
		if info["hasNextPage"] != true {
			break
		}
		if last := edges[len(edges)-1].(map[string]any)["cursor"]; info["endCursor"] != last {
			t.Errorf("endCursor %v is not the last edge's cursor %v", info["endCursor"], last)
		}
		vars["after"] = info["endCursor"]
	}
	if !slices.Equal(seen, []string{"k0", "k1", "k2", "k3", "k4"}) {
		t.Errorf("walking the pages: %v", seen)
	}
	conn := w.query(t, page, map[string]any{"after": encodeCursor(5)})["enterprises"].(map[string]any)
	if edges, ok := conn["edges"].([]any); !ok || len(edges) != 0 || conn["pageInfo"].(map[string]any)["hasNextPage"] != false {
		t.Errorf("past the end: %v", conn)
	}
}

// A page of enterprises that selects their credit records and their legal
// representatives' loads the credit records of both levels in one department call.
func TestEnterprisesPrefetchCredit(t *testing.T) {
	w := newWorld(t)
	for i, rep := range []string{zhangWei, unknownID} {
		code := fmt.Sprintf("k%d", i)
		w.put("amr", "enterprise", code, adapters.Record{"creditCode": code, "legalRepresentativeId": rep})
		w.put("credit", "bySubject", code, adapters.Record{"id": code + "-1", "kind": "LICENSE"})
		w.put("credit", "bySubject", rep, adapters.Record{"id": rep + "-1", "kind": "COMMENDATION"})
	}
	data := w.query(t, `{ enterprises(first: 10) { edges { node { creditCode creditRecords { id }
		legalRepresentative { idNumber creditRecords { id } } } } } }`, nil)
	edges := data["enterprises"].(map[string]any)["edges"].([]any)
	if len(edges) != 2 {
		t.Fatalf("edges: %v", edges)
	}
	rep := edges[0].(map[string]any)["node"].(map[string]any)["legalRepresentative"].(map[string]any)
	if recs := rep["creditRecords"].([]any); len(recs) != 1 {
		t.Errorf("the representative's records: %v", rep)
	}
	if n := w.depts["credit"].callCount(); n != 1 {
		t.Errorf("credit records of two levels took %d calls: %v", n, w.depts["credit"].calls)
	}
}

func TestCursors(t *testing.T) {
	for _, n := range []int{0, 1, 99, 1 << 30} {
		if got, ok := decodeCursor(encodeCursor(n)); !ok || got != n {
			t.Errorf("%d: %d %v", n, got, ok)
		}
	}
	for _, s := range []string{"", "!!", encodeCursor(-1), "b2Zmc2V0Ong", encodeCursor(1<<30 + 1)} {
		if _, ok := decodeCursor(s); ok {
			t.Errorf("%q decoded", s)
		}
	}
	if limit, offset, err := pageArgs(nil, nil, 0); err != nil || limit != 20 || offset != 0 {
		t.Errorf("defaults: %d %d %v", limit, offset, err)
	}
	big := config.DefaultPageSize
	if _, _, err := pageArgs(&big, nil, 0); err != nil {
		t.Errorf("the default bound admits %d: %v", big, err)
	}
}

// Credit records are filtered by kind after the lookup: one lookup serves every filter.
func TestCreditRecordsByKind(t *testing.T) {
	w := newWorld(t)
	w.put("credit", "bySubject", e2, adapters.Record{"id": "1", "kind": "PENALTY"}, adapters.Record{"id": "2", "kind": "LICENSE"})
	q := w.r.Query()
	all, err := q.CreditRecords(w.ctx, e2, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("all: %+v %v", all, err)
	}
	some, err := q.CreditRecords(w.ctx, e2, []string{"PENALTY"})
	if err != nil || len(some) != 1 || *some[0].ID() != "1" {
		t.Errorf("penalties: %+v %v", some, err)
	}
	if n := w.depts["credit"].callCount(); n != 1 {
		t.Errorf("%d credit calls for one subject in one request", n)
	}
	none, err := w.r.Enterprise().CreditRecords(w.ctx, &federation.Enterprise{CreditCode: e1}, nil)
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("a subject without records has an empty list: %+v %v", none, err)
	}
}

// admin records which of its operations the resolvers delegated to.
type admin struct{ called []string }

func (a *admin) Catalog(context.Context, *string) ([]*model.CatalogEntry, error) {
	a.called = append(a.called, "catalog")
	return nil, nil
}
func (a *admin) Me(context.Context) (*model.Consumer, error) {
	a.called = append(a.called, "me")
	return nil, nil
}
func (a *admin) SharingRequests(context.Context, *model.SharingRequestStatus) ([]*model.SharingRequest, error) {
	a.called = append(a.called, "sharingRequests")
	return nil, nil
}
func (a *admin) AuditEvents(context.Context, *string, *string, *time.Time, *time.Time, *int, *string) (*model.AuditEventConnection, error) {
	a.called = append(a.called, "auditEvents")
	return nil, nil
}
func (a *admin) SharingStats(context.Context) ([]*model.DepartmentSharingStats, error) {
	a.called = append(a.called, "sharingStats")
	return nil, nil
}
func (a *admin) RequestSharing(context.Context, model.SharingRequestInput) ([]*model.SharingRequest, error) {
	a.called = append(a.called, "requestSharing")
	return nil, nil
}
func (a *admin) DecideSharingRequest(context.Context, string, bool, *time.Time, *string) (*model.SharingRequest, error) {
	a.called = append(a.called, "decideSharingRequest")
	return nil, nil
}
func (a *admin) RevokeGrant(context.Context, string) (*model.Grant, error) {
	a.called = append(a.called, "revokeGrant")
	return nil, nil
}
func (a *admin) PurgeCache(context.Context, string, []string) (int, error) {
	a.called = append(a.called, "purgeCache")
	return 0, nil
}

// The gateway's own data is served by Admin; the resolvers add nothing and skip nothing.
func TestAdminOperationsAreDelegated(t *testing.T) {
	w := newWorld(t)
	a := w.r.Admin.(*admin)
	q, m, ctx := w.r.Query(), w.r.Mutation(), w.ctx
	q.Catalog(ctx, nil)
	q.Me(ctx)
	q.SharingRequests(ctx, nil)
	q.AuditEvents(ctx, nil, nil, nil, nil, nil, nil)
	q.SharingStats(ctx)
	m.RequestSharing(ctx, model.SharingRequestInput{})
	m.DecideSharingRequest(ctx, "r", true, nil, nil)
	m.RevokeGrant(ctx, "g")
	m.PurgeCache(ctx, "psb", nil)
	want := []string{"catalog", "me", "sharingRequests", "auditEvents", "sharingStats", "requestSharing", "decideSharingRequest", "revokeGrant", "purgeCache"}
	if !slices.Equal(a.called, want) {
		t.Errorf("delegated: %v", a.called)
	}
	if w.calls() != 0 {
		t.Error("admin operations called a department")
	}
}
func (a *admin) MyDataAccess(context.Context, *int, *string, *time.Time, *time.Time) (*model.DataAccessConnection, error) {
	a.called = append(a.called, "myDataAccess")
	return &model.DataAccessConnection{}, nil
}
func (a *admin) WithheldDataAccess(context.Context, *time.Time, *time.Time, *int) (*model.WithheldDataAccessList, error) {
	a.called = append(a.called, "withheldDataAccess")
	return &model.WithheldDataAccessList{}, nil
}
