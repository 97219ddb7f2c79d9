package enforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/policy"
)

// loadSchema reads the repository's SDL plus extra, as the gateway would serve it.
func loadSchema(t *testing.T, extra string) *ast.Schema {
	t.Helper()
	files, _ := filepath.Glob("../schema/*.graphqls")
	var srcs []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, &ast.Source{Name: f, Input: string(b)})
	}
	if extra != "" {
		srcs = append(srcs, &ast.Source{Name: "extra.graphqls", Input: extra})
	}
	s, err := gqlparser.LoadSchema(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func demoCatalog(t *testing.T, s *ast.Schema) *policy.Catalog {
	t.Helper()
	cfg, err := config.Demo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var entries []gateway.CatalogEntry
	for name, b := range cfg.CatalogData {
		es, err := policy.ParseCatalog(b, name)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, es...)
	}
	cat, err := policy.NewCatalog(entries, Governed(s))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestCheckSchemaAcceptsTheGatewaysSchema(t *testing.T) {
	s := loadSchema(t, "")
	if err := CheckSchema(s, demoCatalog(t, s), federation.Entities()); err != nil {
		t.Fatal(err)
	}
}

// Fail closed: whatever could carry department data ungoverned stops the server, named.
func TestCheckSchemaRefusesUngovernedShapes(t *testing.T) {
	for _, tc := range []struct{ name, extra, want string }{
		{"a field without @share", `extend type Citizen { nickname: String }`, "Citizen.nickname can carry department data"},
		{"an entity without an audit subject", `type Vehicle { plate: String @relation } extend type Query { vehicle(plate: ID! @lookup(code: "310115-AMR-QY01-001", key: true)): Vehicle @relation }`, "type Vehicle carries department data but has no audit subject"},
		{"a mutation without @role", `extend type Mutation { forget(id: ID!): Boolean }`, "mutation forget has no @role"},
		{"a root without a relation or role", `extend type Query { phoneOf(id: ID!): String }`, "Query.phoneOf is neither a relation"},
		{"an argument that filters ungoverned", `extend type Enterprise { branches(city: String): [Enterprise!] @relation }`, "argument city of Enterprise.branches is neither @lookup"},
		{"a lookup by an unknown code", `extend type Query { person(id: ID! @lookup(code: "310115-PSB-RK01-999", key: true)): Citizen @relation }`, "looks up by a code the catalogue does not list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadSchema(t, tc.extra)
			err := CheckSchema(s, demoCatalog(t, s), federation.Entities())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// A copy via a relation needs that relation, and a Go type that can say whom it leads to.
func TestCheckSchemaChecksCopiesRelations(t *testing.T) {
	s := loadSchema(t, "")
	cat := demoCatalog(t, s)
	entities := federation.Entities()
	entities["Enterprise"] = struct{ Entity }{&federation.Enterprise{}} // no RelatedSubject
	if err := CheckSchema(s, cat, entities); err == nil || !strings.Contains(err.Error(), "cannot tell whom that relation leads to") {
		t.Errorf("error %v", err)
	}
}

// Every argument of the schema, and how it is governed. A new argument fails this test
// until it is added here with its rule (and, on a relation, carries @lookup or @page,
// which CheckSchema enforces).
var argumentRules = map[string]string{
	"Query.citizen(idNumber)":                   "@lookup key: 310115-PSB-RK01-001, masked access at least; budget; audited",
	"Query.enterprise(creditCode)":              "@lookup key: 310115-AMR-QY01-001 (unconditional)",
	"Query.enterprises(legalRepresentative)":    "@lookup filter: 310115-PSB-RK01-001 unmasked; counts and page info come only with it",
	"Query.enterprises(first)":                  "@page: bounded by limits.pageSize",
	"Query.enterprises(after)":                  "@page: an opaque offset",
	"Query.creditRecords(subject)":              "@lookup filter: 310115-CREDIT-XY01-003, per value a copy of 310115-PSB-RK01-001 for persons",
	"Query.creditRecords(kinds)":                "@lookup filter: 310115-CREDIT-XY01-002 (unconditional)",
	"Citizen.creditRecords(kinds)":              "@lookup filter: 310115-CREDIT-XY01-002, under the @join on the ID number",
	"Enterprise.creditRecords(kinds)":           "@lookup filter: 310115-CREDIT-XY01-002",
	"Query.catalog(department)":                 "the gateway's own record: the catalogue is public to every caller",
	"Query.sharingRequests(status)":             "scope: own requests (own person for self-service), own department's, all for the CIO office",
	"Query.auditEvents(code)":                   "@role auditor/approver; scope: the caller's own department's codes",
	"Query.auditEvents(subject)":                "@role auditor/approver; scope: the caller's own department's codes",
	"Query.auditEvents(from)":                   "@role auditor/approver",
	"Query.auditEvents(to)":                     "@role auditor/approver",
	"Query.auditEvents(first)":                  "@role auditor/approver; page",
	"Query.auditEvents(after)":                  "@role auditor/approver; page",
	"Query.myDataAccess(first)":                 "scope: the calling citizen's own tracker (self-service token); page",
	"Query.myDataAccess(after)":                 "scope: the calling citizen's own tracker; page",
	"Query.myDataAccess(from)":                  "scope: the calling citizen's own tracker; a time window",
	"Query.myDataAccess(to)":                    "scope: the calling citizen's own tracker; a time window",
	"Query.withheldDataAccess(from)":            "@role cio/auditor; a time window",
	"Query.withheldDataAccess(to)":              "@role cio/auditor; a time window",
	"Query.withheldDataAccess(first)":           "@role cio/auditor; page",
	"Mutation.requestSharing(input)":            "@role any; no self-service caller; codes checked against the catalogue",
	"Mutation.decideSharingRequest(id)":         "@role approver; the owning department only",
	"Mutation.decideSharingRequest(approve)":    "@role approver",
	"Mutation.decideSharingRequest(validUntil)": "@role approver",
	"Mutation.decideSharingRequest(reason)":     "@role approver",
	"Mutation.revokeGrant(id)":                  "@role approver; the owning department only",
	"Mutation.purgeCache(department)":           "@role approver/auditor; the caller's own department only",
	"Mutation.purgeCache(keys)":                 "@role approver/auditor; the caller's own department only",
	"Query.dataIssues(status)":                  "scope: issues about the caller's own department's items and those it filed (a citizen: their own), all for the CIO office; values as the viewer's policy shows them",
	"Query.dataIssues(kind)":                    "scope: as dataIssues(status)",
	"Query.notices(status)":                     "scope: the caller's own notices",
	"Query.notices(after)":                      "scope: the caller's own notices; a cursor, refused unless it is one of them",
	"Query.notices(first)":                      "scope: the caller's own notices; page, bounded",
	"Mutation.reportDataIssue(input)":           "@role any; code checked against the catalogue; the subject must be one whose item the filer may see (a citizen: themselves); values stored as the filer's policy shows them",
	"Mutation.resolveDataIssue(id)":             "@role approver; the owning department only",
	"Mutation.resolveDataIssue(outcome)":        "@role approver",
	"Mutation.resolveDataIssue(note)":           "@role approver",
	"Mutation.watch(subjects)":                  "@role any; the consumer's watch grant; a person needs at least masked access to the ID number",
	"Mutation.unwatch(subjects)":                "@role any; the caller's own watch list only",
}

func TestEveryArgumentIsGoverned(t *testing.T) {
	s := loadSchema(t, "")
	seen := map[string]bool{}
	for name, def := range s.Types {
		if strings.HasPrefix(name, "__") || def.Kind != ast.Object {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			for _, a := range f.Arguments {
				key := name + "." + f.Name + "(" + a.Name + ")"
				seen[key] = true
				rule, ok := argumentRules[key]
				if !ok {
					t.Errorf("argument %s is new: say how it is governed in argumentRules (and in the schema: @lookup, @page or @role)", key)
					continue
				}
				if strings.HasPrefix(rule, "@lookup") && a.Directives.ForName("lookup") == nil {
					t.Errorf("%s: the rule says @lookup, the schema has none", key)
				}
				if strings.HasPrefix(rule, "@page") && a.Directives.ForName("page") == nil {
					t.Errorf("%s: the rule says @page, the schema has none", key)
				}
				if strings.HasPrefix(rule, "@role") && f.Directives.ForName("role") == nil {
					t.Errorf("%s: the rule says @role, the schema has none", key)
				}
			}
		}
	}
	for key := range argumentRules {
		if !seen[key] {
			t.Errorf("argumentRules lists %s, which the schema no longer has", key)
		}
	}
}
