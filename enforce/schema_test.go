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
