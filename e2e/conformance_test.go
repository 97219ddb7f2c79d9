package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/store"
)

// The policy conformance walk (docs/SECURITY.md, "one datum, one policy"). From the
// schema alone it builds one query that reaches every governed field by every root
// lookup and every relation (to a depth), runs it through a gateway whose catalogue
// shares everything (the raw truth, from the same simulated departments) and through the
// real demo gateway as every demo consumer, and checks every value the consumer got
// against a reference decision written here from the catalogue and the consumers' grants:
// allowed values equal the truth, masked ones its mask, denied ones are null with an
// error; lookups and joins by a datum the consumer may not read unmasked are refused; and
// the audit holds an event for every decision that is due one. A new field, relation or
// root lookup is walked without editing this test; a new entity type needs its key field
// below, and a new lookup code its fixture values.

// walkKeys is each entity type's key field: whom its data is about.
var walkKeys = map[string]string{"Citizen": "idNumber", "Enterprise": "creditCode", "CreditRecord": "subjectId"}

// walkFixtures are the values a root lookup is tried with, by the code it looks up by.
var walkFixtures = map[string][]string{
	"310115-PSB-RK01-001":    {dataset.ZhangWei, dataset.WangQiang, dataset.LiuYang},
	"310115-AMR-QY01-001":    {dataset.E1, dataset.E2, dataset.E5},
	"310115-CREDIT-XY01-003": {dataset.WangQiang, dataset.E2},
}

const walkDepth = 3 // relations followed below a root

type walker struct {
	schema *ast.Schema
	cat    *policy.Catalog
	b      strings.Builder
	roots  []walkRoot
}

type walkRoot struct {
	alias, field string
	args         map[string]string // argument → value looked up
	lookups      map[string]string // argument → code
	keys         map[string]bool   // argument → key lookup
}

func (w *walker) query(t *testing.T) string {
	w.b.WriteString("{\n")
	for _, f := range w.schema.Query.Fields {
		if f.Directives.ForName("relation") == nil || strings.HasPrefix(f.Name, "__") {
			continue
		}
		var variants []map[string]string
		variants = append(variants, map[string]string{})
		lookups, keys := map[string]string{}, map[string]bool{}
		for _, a := range f.Arguments {
			lk := a.Directives.ForName("lookup")
			if lk == nil {
				continue
			}
			code := lk.Arguments.ForName("code").Value.Raw
			if k := lk.Arguments.ForName("key"); k != nil && k.Value.Raw == "true" {
				keys[a.Name] = true
			}
			vals, ok := walkFixtures[code]
			if !ok {
				if a.Type.NonNull {
					t.Fatalf("root %s looks up by %s: add its fixture values to walkFixtures", f.Name, code)
				}
				continue
			}
			lookups[a.Name] = code
			var next []map[string]string
			for _, v := range variants {
				for _, val := range vals {
					m := map[string]string{a.Name: val}
					for k, x := range v {
						m[k] = x
					}
					next = append(next, m)
				}
				if !a.Type.NonNull && len(v) == 0 {
					next = append(next, v) // also without the optional filter
				}
			}
			variants = next
		}
		for _, args := range variants {
			r := walkRoot{alias: fmt.Sprintf("r%d", len(w.roots)), field: f.Name, args: args, lookups: lookups, keys: keys}
			w.roots = append(w.roots, r)
			fmt.Fprintf(&w.b, "  %s: %s", r.alias, f.Name)
			var parts []string
			for _, a := range f.Arguments {
				if v, ok := args[a.Name]; ok {
					parts = append(parts, fmt.Sprintf("%s: %q", a.Name, v))
				} else if a.Name == "first" {
					parts = append(parts, "first: 3")
				}
			}
			if len(parts) > 0 {
				fmt.Fprintf(&w.b, "(%s)", strings.Join(parts, ", "))
			}
			w.selection(f.Type.Name(), walkDepth)
			w.b.WriteString("\n")
		}
	}
	w.b.WriteString("}")
	return w.b.String()
}

// selection writes the selection of a type: every governed field, every relation while
// depth lasts, the copies' relations' keys, and __typename.
func (w *walker) selection(typeName string, depth int) {
	def := w.schema.Types[typeName]
	w.b.WriteString(" { __typename")
	switch def.Kind {
	case ast.Union:
		for _, m := range def.Types {
			fmt.Fprintf(&w.b, " ... on %s", m)
			w.selection(m, depth)
		}
		w.b.WriteString(" }")
		return
	}
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		target := w.schema.Types[f.Type.Name()]
		leaf := target.Kind == ast.Scalar || target.Kind == ast.Enum
		relation := f.Directives.ForName("relation") != nil || f.Directives.ForName("join") != nil
		record := def.Directives.ForName("gatewayRecord") != nil
		switch {
		case leaf && (f.Directives.ForName("share") != nil || record):
			w.b.WriteString(" " + f.Name)
		case leaf:
			continue
		case depth > 0 && (relation || record || f.Directives.ForName("share") != nil):
			w.b.WriteString(" " + f.Name)
			w.selection(target.Name, depth-1)
		case relation || f.Directives.ForName("share") != nil:
			// Out of depth: still the key, so copies via this relation know their subject.
			if key, ok := walkKeys[target.Name]; ok {
				fmt.Fprintf(&w.b, " %s { __typename %s }", f.Name, key)
			}
		}
	}
	w.b.WriteString(" }")
}

// rawCatalog shares every item unconditionally, unmasked and uncopied: the truth.
func rawCatalog(c *config.Config) {
	strip := regexp.MustCompile(`(?m)^\s*(mask|copyOf):.*\n`)
	for name, b := range c.CatalogData {
		s := strip.ReplaceAllString(string(b), "")
		s = regexp.MustCompile(`class: (CONDITIONAL|NONE)`).ReplaceAllString(s, "class: UNCONDITIONAL")
		c.CatalogData[name] = []byte(s)
	}
	for i := range c.Consumers {
		c.Consumers[i].Grants = nil // nothing left to grant
	}
}

func walkLimits(c *config.Config) {
	c.Limits.Depth, c.Limits.Complexity, c.Limits.Fields, c.Limits.Selections = 100, 1_000_000, 1_000_000, 100_000
	c.Limits.Aliases = 1000
	c.Limits.RateLimitsOff = true
}

// walkCaller is one demo consumer's token claims, for the reference decision.
type walkCaller struct {
	name, purpose, dept, citizen string
	grants                       []string
}

// refDecide is the district's rule, written independently of the gateway's code.
func refDecide(c walkCaller, e *gateway.CatalogEntry, person, holder string) gateway.Outcome {
	switch {
	case holder != "" && c.dept == holder, c.dept != "" && c.dept == e.Owner:
		return gateway.Allow
	case c.citizen != "" && person == c.citizen:
		return gateway.Allow
	case e.Class == gateway.Unconditional:
		return gateway.Allow
	case e.Class == gateway.Conditional && c.citizen == "" && slices.Contains(c.grants, e.Code):
		return gateway.Allow
	case e.Class == gateway.Conditional && e.Mask != gateway.MaskNone:
		return gateway.Masked
	}
	return gateway.Deny
}

// refTarget resolves a copy to its source: the entry that decides, and who holds the copy.
func refTarget(cat *policy.Catalog, e *gateway.CatalogEntry, person string) (*gateway.CatalogEntry, string) {
	if e.Copy == nil || e.LegalBasis != "" || (e.Copy.PersonOnly && person == "") {
		return e, ""
	}
	return cat.ByCode(e.Copy.Of), e.Owner
}

type auditKey struct {
	code, subject string
	decision      gateway.Outcome
}

type walkCheck struct {
	t      *testing.T
	w      *walker
	c      walkCaller
	got    Resp
	due    map[auditKey]bool
	checks int
}

func personOf(key string) string {
	if idcode.ValidateIDNumber(key) == nil {
		return key
	}
	return ""
}

// allDenied reports whether every governed field of a type is denied to the caller for a
// subject: a relation to such objects is refused whole, so not even their number shows.
func (wc *walkCheck) allDenied(typeName, subject string) bool {
	def := wc.w.schema.Types[typeName]
	if def == nil || def.Kind != ast.Object {
		return false
	}
	n := 0
	for _, f := range def.Fields {
		if f.Directives.ForName("share") == nil {
			continue
		}
		n++
		e := wc.w.cat.ByField(def.Name + "." + f.Name)
		eff, holder := refTarget(wc.w.cat, e, personOf(subject))
		if refDecide(wc.c, eff, personOf(subject), holder) != gateway.Deny {
			return false
		}
	}
	return n > 0
}

// object compares one object of the truth with what the caller got at path.
func (wc *walkCheck) object(path string, raw map[string]any, subject string) {
	typeName, _ := raw["__typename"].(string)
	def := wc.w.schema.Types[typeName]
	if key, ok := walkKeys[typeName]; ok {
		if v, _ := raw[key].(string); v != "" {
			subject = v
		}
	}
	for name, rv := range raw {
		if name == "__typename" {
			continue
		}
		f := def.Fields.ForName(name)
		p := path + "." + name
		gv := wc.got.Get(p)
		if share := f.Directives.ForName("share"); share != nil {
			wc.governed(p, raw, def, f, rv, gv, subject)
			continue
		}
		if j := f.Directives.ForName("join"); j != nil {
			e := wc.w.cat.ByCode(j.Arguments.ForName("code").Value.Raw)
			person := personOf(subject)
			eff, holder := refTarget(wc.w.cat, e, person)
			if refDecide(wc.c, eff, person, holder) != gateway.Allow {
				wc.refused(p, gv, "FORBIDDEN_FIELD")
				continue
			}
		}
		if _, list := rv.([]any); list && len(rv.([]any)) > 0 && wc.allDenied(f.Type.Name(), subject) {
			wc.refused(p, gv, "FORBIDDEN_FIELD")
			continue
		}
		wc.value(p, rv, gv, subject)
	}
}

func (wc *walkCheck) value(p string, rv, gv any, subject string) {
	wc.checks++
	switch r := rv.(type) {
	case map[string]any:
		if gv == nil {
			wc.t.Errorf("%s %s: want an object, got null: %v", wc.c.name, p, wc.got.ErrorAt(p))
			return
		}
		wc.object(p, r, subject)
	case []any:
		gl, _ := gv.([]any)
		if len(gl) != len(r) {
			wc.t.Errorf("%s %s: want %d elements, got %v (%v)", wc.c.name, p, len(r), gv, wc.got.ErrorAt(p))
			return
		}
		for i := range r {
			wc.value(fmt.Sprintf("%s.%d", p, i), r[i], gl[i], subject)
		}
	default:
		if fmt.Sprint(rv) != fmt.Sprint(gv) {
			wc.t.Errorf("%s %s = %v, want %v", wc.c.name, p, gv, rv)
		}
	}
}

func (wc *walkCheck) refused(p string, gv any, code string) {
	wc.checks++
	if gv != nil {
		wc.t.Errorf("%s %s: want refused with %s, got %v", wc.c.name, p, code, gv)
		return
	}
	if e := wc.got.ErrorAt(p); e == nil || e.Extensions["code"] != code {
		wc.t.Errorf("%s %s: want %s, got %+v", wc.c.name, p, code, e)
	}
}

func (wc *walkCheck) governed(p string, raw map[string]any, def *ast.Definition, f *ast.FieldDefinition, rv, gv any, subject string) {
	e := wc.w.cat.ByField(def.Name + "." + f.Name)
	person := personOf(subject)
	if e.Copy != nil && e.Copy.Via != "" {
		if rel, _ := raw[e.Copy.Via].(map[string]any); rel != nil {
			if k, _ := rel[walkKeys["Citizen"]].(string); k != "" {
				person, subject = personOf(k), k
			}
		}
	}
	eff, holder := refTarget(wc.w.cat, e, person)
	d := refDecide(wc.c, eff, person, holder)
	due := eff.Class != gateway.Unconditional ||
		(person != "" && d != gateway.Deny && !(wc.c.citizen != "" && person == wc.c.citizen) && wc.c.dept != eff.Owner)
	if due && rv != nil {
		wc.due[auditKey{eff.Code, subject, d}] = true
	}
	switch {
	case rv == nil:
		wc.checks++
		if gv != nil {
			wc.t.Errorf("%s %s = %v, want null (the department has none)", wc.c.name, p, gv)
		}
	case d == gateway.Deny:
		wc.refused(p, gv, "FORBIDDEN_FIELD")
	case d == gateway.Masked:
		wc.checks++
		if want := policy.MaskValue(eff.Mask, fmt.Sprint(rv)); gv != want {
			wc.t.Errorf("%s %s = %v, want masked %q (%s)", wc.c.name, p, gv, want, eff.Code)
		}
	default:
		wc.value(p, rv, gv, subject)
	}
}

func TestPolicyConformanceWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance walk runs the whole schema through every demo consumer")
	}
	truth := Start(t, rawCatalog, walkLimits)
	g := Start(t, walkLimits)
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	w := &walker{schema: schema, cat: g.Parts.Catalog}
	q := w.query(t)
	raw := truth.Post(truth.Token("psb-console"), q, nil)
	if len(raw.Errors) > 0 {
		t.Fatalf("the truth has errors: %.2000s", raw.Raw)
	}
	total := 0
	for _, c := range walkCallers(g.Cfg) {
		var tok string
		if c.citizen != "" {
			tok = g.Token(c.name, c.citizen)
		} else {
			tok = g.Token(c.name)
		}
		got := g.Post(tok, q, nil)
		wc := &walkCheck{t: t, w: w, c: c, got: got, due: map[auditKey]bool{}}
		wc.roots(raw)
		// Every due decision is in the audit trail under this request's id.
		wc.dueAudited(g)
		t.Logf("%s: %d values checked, %d audit events due", c.name, wc.checks, len(wc.due))
		total += wc.checks
	}
	if total < 1000 {
		t.Errorf("the walk checked only %d values; the query reaches too little", total)
	}
}

// walkCallers are the configuration's consumers with the codes granted for
// their own purpose; a self-service consumer is signed in as 张伟.
func walkCallers(cfg *config.Config) []walkCaller {
	var callers []walkCaller
	for _, c := range cfg.Consumers {
		wcl := walkCaller{name: c.Name, purpose: c.Purpose, dept: c.Dept}
		for _, gr := range c.Grants {
			if gr.Purpose == c.Purpose {
				wcl.grants = append(wcl.grants, gr.Codes...)
			}
		}
		if c.SelfService {
			wcl.citizen = dataset.ZhangWei
		}
		callers = append(callers, wcl)
	}
	return callers
}

// roots checks each root field of the walk's answer: refused when an argument
// is a lookup the caller may not make, else the value the truth answered, as
// the caller's policy shows it.
func (wc *walkCheck) roots(raw Resp) {
	w, c, got := wc.w, wc.c, wc.got
	for _, r := range w.roots {
		refused := false
		for arg, code := range r.lookups {
			v, ok := r.args[arg]
			if !ok {
				continue
			}
			e := w.cat.ByCode(code)
			eff, holder := refTarget(w.cat, e, personOf(v))
			switch refDecide(c, eff, personOf(v), holder) {
			case gateway.Deny:
				refused = true
			case gateway.Masked:
				refused = refused || !r.keys[arg]
			}
		}
		if refused {
			wc.refused(r.alias, got.Get(r.alias), "FORBIDDEN_ARGUMENT")
			continue
		}
		wc.value(r.alias, raw.Get(r.alias), got.Get(r.alias), "")
	}
}

// dueAudited checks that every decision due for the walk's request is in the
// audit trail under the request's id.
func (wc *walkCheck) dueAudited(g *Gateway) {
	t, w, c := wc.t, wc.w, wc.c
	id := wc.got.Header.Get("X-Request-Id")
	have := map[auditKey]bool{}
	for _, owner := range w.cat.Departments() {
		events, err := g.Parts.Store.ListAudit(context.Background(), store.AuditFilter{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.RequestID == id {
				have[auditKey{e.Code, e.Subject, e.Decision}] = true
			}
		}
	}
	var missing []string
	for k := range wc.due {
		if !have[k] {
			missing = append(missing, fmt.Sprintf("%s %s %s", k.code, k.subject, k.decision))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s: %d due audit events missing, e.g. %v", c.name, len(missing), missing[:min(5, len(missing))])
	}
}
