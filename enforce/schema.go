package enforce

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"pudong.gov.cn/gateway/policy"
)

// CheckSchema refuses a schema that could serve department data ungoverned (fail closed,
// docs/architecture.md "adding a field"), naming every offender at once:
//
//   - every field of an entity type (an object type that is not @gatewayRecord) is
//     @share, governed by the catalogue, or @relation, carrying no datum of its own;
//   - every entity type has an audit subject: entities lists it with a Go value that
//     implements Entity, so no decision is audited with an empty subject;
//   - every root field is a @relation, carries @role, or returns the gateway's own
//     records; every mutation carries @role;
//   - every argument of a relation or governed field is @lookup (with a catalogued
//     code) or @page;
//   - every copy's relation (copyOf via) is a relation of its type that the Go type
//     answers.
func CheckSchema(s *ast.Schema, cat *policy.Catalog, entities map[string]any) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("schema: "+format, args...)) }
	roots := map[string]bool{}
	for _, r := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		if r != nil {
			roots[r.Name] = true
		}
	}
	names := make([]string, 0, len(s.Types))
	for name := range s.Types {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		def := s.Types[name]
		if def.Kind != ast.Object || strings.HasPrefix(name, "__") {
			continue
		}
		switch {
		case roots[name]:
			checkRoot(s, def, def == s.Mutation, fail)
		case def.Directives.ForName("gatewayRecord") != nil:
			continue
		default:
			checkEntity(def, entities, fail)
		}
		for _, f := range def.Fields {
			checkArguments(def, f, cat, fail)
		}
	}
	if cat != nil {
		for _, e := range cat.Entries("") {
			if e.Copy == nil || e.Copy.Via == "" {
				continue
			}
			typeName, _, _ := strings.Cut(e.Field, ".")
			def := s.Types[typeName]
			var rel *ast.FieldDefinition
			if def != nil {
				rel = def.Fields.ForName(e.Copy.Via)
			}
			if rel == nil || !isRelation(rel) {
				fail("catalogue entry %s is a copy via %s.%s, which is no @relation of the schema", e.Code, typeName, e.Copy.Via)
				continue
			}
			r, ok := entities[typeName].(relatedSubjects)
			if !ok {
				fail("catalogue entry %s is a copy via %s.%s, but the gateway cannot tell whom that relation leads to (no RelatedSubject)", e.Code, typeName, e.Copy.Via)
				continue
			}
			if _, known := r.RelatedSubject(e.Copy.Via); !known {
				fail("catalogue entry %s is a copy via %s.%s, which %s's RelatedSubject does not answer", e.Code, typeName, e.Copy.Via, typeName)
			}
		}
	}
	return errors.Join(errs...)
}

func checkEntity(def *ast.Definition, entities map[string]any, fail func(string, ...any)) {
	v, listed := entities[def.Name]
	if _, ok := v.(Entity); !listed || !ok {
		fail("type %s carries department data but has no audit subject; implement AuditSubject on its Go type and list it in federation.Entities, or mark the type @gatewayRecord if it holds no department data", def.Name)
	}
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		if f.Directives.ForName("share") == nil && !isRelation(f) {
			fail("%s.%s can carry department data but is neither governed (@share with its catalogue code) nor declared a relation (@relation)", def.Name, f.Name)
		}
	}
}

func checkRoot(s *ast.Schema, def *ast.Definition, mutation bool, fail func(string, ...any)) {
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		role := f.Directives.ForName("role") != nil
		if mutation {
			if !role {
				fail("mutation %s has no @role; every mutation says who may run it", f.Name)
			}
			continue
		}
		ret := s.Types[f.Type.Name()]
		record := ret != nil && ret.Directives.ForName("gatewayRecord") != nil
		if !role && !record && !isRelation(f) {
			fail("%s.%s is neither a relation to governed data (@relation), nor restricted by @role, nor an answer of the gateway's own records", def.Name, f.Name)
		}
	}
}

func checkArguments(def *ast.Definition, f *ast.FieldDefinition, cat *policy.Catalog, fail func(string, ...any)) {
	governed := f.Directives.ForName("share") != nil || isRelation(f)
	for _, a := range f.Arguments {
		lookup := a.Directives.ForName("lookup")
		if lookup != nil && cat != nil {
			if code := lookup.Arguments.ForName("code"); code == nil || cat.ByCode(code.Value.Raw) == nil {
				fail("argument %s of %s.%s looks up by a code the catalogue does not list", a.Name, def.Name, f.Name)
			}
		}
		if governed && lookup == nil && a.Directives.ForName("page") == nil {
			fail("argument %s of %s.%s is neither @lookup (filtering by a catalogued datum) nor @page", a.Name, def.Name, f.Name)
		}
	}
}

// isRelation reports whether a field is a relation: @relation, or @join (a relation found
// by a governed datum).
func isRelation(f *ast.FieldDefinition) bool {
	return f.Directives.ForName("relation") != nil || f.Directives.ForName("join") != nil
}
