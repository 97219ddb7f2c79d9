package federation

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// Federation is the set of departments and which lookup each serves.
type Federation struct {
	depts map[string]*Department
	order []*Department
	src   config.Sources
	wait  time.Duration
}

// New checks that every lookup names a bound department and operation, or is declared
// not offered.
func New(depts []*Department, src config.Sources, batchWait time.Duration) (*Federation, error) {
	f := &Federation{depts: map[string]*Department{}, order: depts, src: src, wait: batchWait}
	for _, d := range depts {
		if _, dup := f.depts[d.ID]; dup {
			return nil, fmt.Errorf("department %q is bound twice", d.ID)
		}
		f.depts[d.ID] = d
	}
	for name, r := range src.Each() {
		if r.None {
			continue
		}
		d, ok := f.depts[r.Department]
		if !ok {
			return nil, fmt.Errorf("sources.%s: department %q is not bound", name, r.Department)
		}
		if !d.HasOperation(r.Operation) {
			return nil, fmt.Errorf("sources.%s: department %q has no operation %q", name, r.Department, r.Operation)
		}
	}
	return f, nil
}

// Department returns a bound department by id, or nil.
func (f *Federation) Department(id string) *Department { return f.depts[id] }

// Departments returns the bound departments in configuration order.
func (f *Federation) Departments() []*Department { return f.order }

// Sources returns which department serves which lookup.
func (f *Federation) Sources() config.Sources { return f.src }

// Loaders batch and memoise one request's lookups: every Load of the same kind made
// while the request's resolvers run concurrently becomes one department call (or one
// per batch-size chunk), and a key is looked up once per request.
//
// Lookups are merged in two places only: within a request, here (dataloadgen, which
// also serves a list's lookahead, PrefetchCredit), and across requests, in the
// department's cache (concurrent misses of a key share one load). A fresh cached record
// is read directly, without the batching window (Department.cached).
type Loaders struct {
	f          *Federation
	fresh      freshness
	person     lazyLoader
	enterprise lazyLoader
	byRep      lazyLoader
	credit     lazyLoader
	insurance  lazyLoader
	employees  lazyLoader

	// primed holds enterprises read from a list in this request before its enterprise
	// loader was made (PrimeEnterprise), so that the request does not ask for them
	// again; once the loader exists, they are primed into it.
	primedMu sync.Mutex
	primed   map[string]adapters.Record
}

// lazyLoader is a loader made on its first use: a warm request reads everything from
// the departments' caches and never needs one, and making six per request was a
// measurable share of a warm request's allocations (docs/PERFORMANCE.md, "Warm and cold
// paths: profile and fixes").
type lazyLoader struct {
	mu sync.Mutex
	ld *dataloadgen.Loader[string, []adapters.Record]
}

func (z *lazyLoader) get(f *Federation, r config.Ref) *dataloadgen.Loader[string, []adapters.Record] {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.ld == nil {
		z.ld = f.loader(r)
	}
	return z.ld
}

// made returns the loader if it has been made, else nil.
func (z *lazyLoader) made() *dataloadgen.Loader[string, []adapters.Record] {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.ld
}

// NewLoaders returns fresh loaders for one request.
func (f *Federation) NewLoaders() *Loaders {
	return &Loaders{f: f}
}

func (f *Federation) loader(r config.Ref) *dataloadgen.Loader[string, []adapters.Record] {
	if r.None {
		return nil // load answers NotOfferedError before it would be asked
	}
	d := f.depts[r.Department]
	fetch := func(ctx context.Context, keys []string) ([][]adapters.Record, []error) {
		got, err := d.Fetch(ctx, r.Operation, keys)
		out := make([][]adapters.Record, len(keys))
		var errs []error
		if err != nil {
			// What could still be served (from the cache) stands; the other keys fail.
			errs = make([]error, len(keys))
		}
		for i, k := range keys {
			recs, ok := got[k]
			out[i] = recs
			if err != nil && !ok {
				errs[i] = err
			}
		}
		return out, errs
	}
	return dataloadgen.NewLoader(fetch, dataloadgen.WithWait(f.wait), dataloadgen.WithBatchCapacity(1000))
}

// load returns key's records: straight from the department's cache when it holds them
// fresh (a warm request never waits for a batching window), else through the loader.
// lookup names r in sources, for the error when it is not offered.
func (l *Loaders) load(ctx context.Context, lookup string, r config.Ref, ld *lazyLoader, key string) ([]adapters.Record, error) {
	if r.None {
		return nil, &NotOfferedError{Lookup: lookup}
	}
	if recs, ok := l.f.depts[r.Department].cached(ctx, r.Operation, key); ok {
		return recs, nil
	}
	if ld == &l.enterprise {
		if rec, ok := l.primedEnterprise(key); ok {
			return []adapters.Record{rec}, nil
		}
	}
	return ld.get(l.f, r).Load(ctx, key)
}

func first(recs []adapters.Record, err error) (adapters.Record, error) {
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

// Person returns a person's registry record, nil when the registry has none.
func (l *Loaders) Person(ctx context.Context, id string) (adapters.Record, error) {
	return first(l.load(ctx, "person", l.f.src.Person, &l.person, id))
}

// Enterprise returns an enterprise's registry record, nil when the registry has none.
func (l *Loaders) Enterprise(ctx context.Context, code string) (adapters.Record, error) {
	return first(l.load(ctx, "enterprise", l.f.src.Enterprise, &l.enterprise, code))
}

// PrimeEnterprise records an enterprise already read (from a list) so that this request
// does not ask for it again.
func (l *Loaders) PrimeEnterprise(rec adapters.Record) {
	code := rec["creditCode"]
	if code == "" || l.f.src.Enterprise.None {
		return
	}
	if ld := l.enterprise.made(); ld != nil {
		ld.Prime(code, []adapters.Record{rec}) // a record it already holds stands
		return
	}
	l.primedMu.Lock()
	defer l.primedMu.Unlock()
	if _, ok := l.primed[code]; ok {
		return // the first record read stands, as a loader's Prime keeps it
	}
	if l.primed == nil {
		l.primed = map[string]adapters.Record{}
	}
	l.primed[code] = rec
}

func (l *Loaders) primedEnterprise(code string) (adapters.Record, bool) {
	l.primedMu.Lock()
	defer l.primedMu.Unlock()
	rec, ok := l.primed[code]
	return rec, ok
}

// EnterprisesByLegalRep returns the enterprises whose legal representative is the person.
func (l *Loaders) EnterprisesByLegalRep(ctx context.Context, id string) ([]adapters.Record, error) {
	return l.load(ctx, "enterprisesByLegalRep", l.f.src.EnterprisesByRep, &l.byRep, id)
}

// CreditRecords returns the credit records about a subject.
func (l *Loaders) CreditRecords(ctx context.Context, subject string) ([]adapters.Record, error) {
	return l.load(ctx, "creditBySubject", l.f.src.CreditBySubject, &l.credit, subject)
}

// PrefetchCredit puts all subjects a list will need into the credit loader's current
// batch, so that the list's elements, resolved concurrently, share its query however
// their goroutines are scheduled: their CreditRecords find the keys already batched (a
// batch that closes while the keys are still being added, on a very slow run, splits
// them over two queries). It does not wait. Subjects the cache holds fresh are left out; their reads
// take the cache's fast path.
func (l *Loaders) PrefetchCredit(ctx context.Context, subjects []string) {
	if l.f.src.CreditBySubject.None {
		return // CreditRecords answers that the lookup is not offered
	}
	d := l.f.depts[l.f.src.CreditBySubject.Department]
	keys := make([]string, 0, len(subjects))
	for _, s := range subjects {
		if s == "" {
			continue
		}
		if d.cache == nil || !d.cache.Fresh(l.f.src.CreditBySubject.Operation, s) {
			keys = append(keys, s)
		}
	}
	if len(keys) > 0 {
		l.credit.get(l.f, l.f.src.CreditBySubject).LoadAllThunk(ctx, keys)
	}
}

// Insurance returns a person's social-insurance records.
func (l *Loaders) Insurance(ctx context.Context, id string) ([]adapters.Record, error) {
	return l.load(ctx, "insuranceByCitizen", l.f.src.InsuranceByCitizen, &l.insurance, id)
}

// InsuredEmployees counts the distinct people actively insured through an employer.
func (l *Loaders) InsuredEmployees(ctx context.Context, code string) (int, error) {
	recs, err := l.load(ctx, "insuranceByEmployer", l.f.src.InsuranceByEmployer, &l.employees, code)
	if err != nil {
		return 0, err
	}
	people := map[string]bool{}
	for _, r := range recs {
		if r["status"] == "ACTIVE" {
			people[r["idNumber"]] = true
		}
	}
	return len(people), nil
}

// ListEnterprises pages through all enterprises, or a legal representative's.
func (l *Loaders) ListEnterprises(ctx context.Context, legalRep string, offset, limit int) (adapters.Page, error) {
	r, lookup := l.f.src.EnterpriseList, "enterpriseList"
	if legalRep != "" {
		r, lookup = l.f.src.EnterprisesByRep, "enterprisesByLegalRep"
	}
	if r.None {
		return adapters.Page{}, &NotOfferedError{Lookup: lookup}
	}
	page, err := l.f.depts[r.Department].Page(ctx, r.Operation, legalRep, offset, limit)
	if err == nil {
		for _, rec := range page.Records {
			l.PrimeEnterprise(rec)
		}
	}
	return page, err
}

type loadersKey struct{}

// WithLoaders puts a request's loaders in its context.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// LoadersFrom returns the request's loaders. It panics when the server forgot to install
// them: that is a wiring bug, not a runtime condition.
func LoadersFrom(ctx context.Context) *Loaders {
	l, ok := ctx.Value(loadersKey{}).(*Loaders)
	if !ok {
		panic("federation: no loaders in context")
	}
	return l
}
