// Command schemadoc writes the schema reference, docs/schema.md, from the SDL in schema/:
// every type with its description, every field with its type, arguments and description,
// and the catalogue code of each governed field (its @share directive).
//
//	go run ./internal/schemadoc > docs/schema.md
//
// Run it from the repository root after changing the SDL; a test fails while
// docs/schema.md differs from what this prints.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Command is the line that regenerates the reference, printed at its top.
const Command = "go run ./internal/schemadoc > docs/schema.md"

func main() {
	dir := flag.String("schema", "schema", "directory of the .graphqls files")
	flag.Parse()
	if err := Generate(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "schemadoc:", err)
		os.Exit(1)
	}
}

// Generate reads every .graphqls file in dir and writes the reference to w.
func Generate(w io.Writer, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.graphqls"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .graphqls files in %s", dir)
	}
	// The entry points first, then the domains in alphabetical order.
	sort.Slice(files, func(i, j int) bool {
		qi, qj := filepath.Base(files[i]) == "query.graphqls", filepath.Base(files[j]) == "query.graphqls"
		if qi != qj {
			return qi
		}
		return files[i] < files[j]
	})
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		// Named as in the repository, whatever directory the command runs in.
		sources = append(sources, &ast.Source{Name: "schema/" + filepath.Base(f), Input: string(b)})
	}
	schema, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		return gerr
	}
	_, err = io.WriteString(w, Render(schema, sources))
	return err
}

// Render writes the reference of schema, grouped by source file in the given order.
func Render(schema *ast.Schema, sources []*ast.Source) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	renderIntro(p)
	byFile, directives := group(schema)
	renderContents(p, sources, byFile, directives)
	for _, src := range sources {
		defs := byFile[src.Name]
		if len(defs) == 0 {
			continue
		}
		p("## %s\n\n", src.Name)
		for _, d := range defs {
			renderDefinition(p, d)
		}
	}
	renderDirectives(p, directives)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func renderIntro(p func(string, ...any)) {
	p("<!-- Generated from schema/*.graphqls by `%s`. Do not edit: change the SDL and regenerate. -->\n\n", Command)
	p("# Schema reference\n\n")
	p("The unified GraphQL schema of the Pudong data-sharing gateway, generated from the SDL in\n")
	p("`schema/` (one file per domain). Regenerate after any schema change, from the repository root:\n\n")
	p("```sh\n%s\n```\n\n", Command)
	p("A test (`go test ./internal/schemadoc`) fails while this file is stale.\n\n")
	p("**Catalogue code.** A field with a code is one catalogued data item (`@share`): the owning\n")
	p("department's sharing policy decides, per caller, whether its value is returned, masked\n")
	p("or denied (null, with a `FORBIDDEN_FIELD` error). The department is the code's second part\n")
	p("(`310115-PSB-…` is the Public Security Bureau). Ask `catalog` for each item's class, mask\n")
	p("and your own access. Fields without a code are not data items of their own: what they\n")
	p("lead to is governed field by field.\n\n")
}

// group sorts the schema's own definitions by source file, in source order, and its own
// directives by name.
func group(schema *ast.Schema) (map[string][]*ast.Definition, []*ast.DirectiveDefinition) {
	byFile := map[string][]*ast.Definition{}
	for _, d := range schema.Types {
		if d.Position == nil || d.Position.Src == nil || d.Position.Src.BuiltIn {
			continue
		}
		byFile[d.Position.Src.Name] = append(byFile[d.Position.Src.Name], d)
	}
	for _, defs := range byFile {
		sort.Slice(defs, func(i, j int) bool { return defs[i].Position.Start < defs[j].Position.Start })
	}
	var directives []*ast.DirectiveDefinition
	for _, d := range schema.Directives {
		if d.Position != nil && d.Position.Src != nil && !d.Position.Src.BuiltIn {
			directives = append(directives, d)
		}
	}
	sort.Slice(directives, func(i, j int) bool { return directives[i].Name < directives[j].Name })
	return byFile, directives
}

// renderContents lists the files in order, their types in source order, and the directives.
func renderContents(p func(string, ...any), sources []*ast.Source, byFile map[string][]*ast.Definition, directives []*ast.DirectiveDefinition) {
	p("## Contents\n\n")
	for _, src := range sources {
		defs := byFile[src.Name]
		if len(defs) == 0 {
			continue
		}
		names := make([]string, len(defs))
		for i, d := range defs {
			names[i] = fmt.Sprintf("[%s](#%s)", d.Name, strings.ToLower(d.Name))
		}
		p("* `%s`: %s\n", src.Name, strings.Join(names, ", "))
	}
	if len(directives) > 0 {
		p("* Directives: ")
		for i, d := range directives {
			if i > 0 {
				p(", ")
			}
			p("[@%s](#%s)", d.Name, d.Name)
		}
		p("\n")
	}
	p("\n")
}

func renderDirectives(p func(string, ...any), directives []*ast.DirectiveDefinition) {
	if len(directives) == 0 {
		return
	}
	p("## Directives\n\n")
	for _, d := range directives {
		p("### %s\n\n", d.Name)
		args := make([]string, len(d.Arguments))
		for i, a := range d.Arguments {
			args[i] = a.Name + ": " + a.Type.String()
		}
		locs := make([]string, len(d.Locations))
		for i, l := range d.Locations {
			locs[i] = string(l)
		}
		p("`@%s(%s)` on %s\n\n", d.Name, strings.Join(args, ", "), strings.Join(locs, ", "))
		if d.Description != "" {
			p("%s\n\n", paragraph(d.Description))
		}
	}
}

func renderDefinition(p func(string, ...any), d *ast.Definition) {
	kind := map[ast.DefinitionKind]string{
		ast.Object: "type", ast.Interface: "interface", ast.Union: "union", ast.Enum: "enum",
		ast.Scalar: "scalar", ast.InputObject: "input",
	}[d.Kind]
	p("### %s\n\n", d.Name)
	p("*%s*", kind)
	if d.Kind == ast.Union {
		members := make([]string, len(d.Types))
		for i, t := range d.Types {
			members[i] = fmt.Sprintf("[%s](#%s)", t, strings.ToLower(t))
		}
		p(" = %s", strings.Join(members, " | "))
	}
	p("\n\n")
	if d.Description != "" {
		p("%s\n\n", paragraph(d.Description))
	}
	switch d.Kind {
	case ast.Object, ast.Interface, ast.InputObject:
		governed := slices.ContainsFunc(d.Fields, func(f *ast.FieldDefinition) bool { return shareCode(f) != "" })
		if governed {
			p("| Field | Type | Catalogue code | Description |\n|---|---|---|---|\n")
		} else {
			p("| Field | Type | Description |\n|---|---|---|\n")
		}
		for _, f := range d.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			desc := cell(f.Description)
			var args []string
			for _, a := range f.Arguments {
				s := a.Name + ": " + a.Type.String()
				if a.DefaultValue != nil {
					s += " = " + a.DefaultValue.String()
				}
				args = append(args, s)
				if a.Description != "" {
					desc = strings.TrimSpace(desc + " `" + a.Name + "`: " + cell(a.Description))
				}
			}
			name := f.Name
			if len(args) > 0 {
				name += "(" + strings.Join(args, ", ") + ")"
			}
			if f.DefaultValue != nil {
				name += " = " + f.DefaultValue.String()
			}
			typ := typeLink(f.Type)
			if governed {
				code := shareCode(f)
				if code != "" {
					code = "`" + code + "`"
				}
				p("| `%s` | %s | %s | %s |\n", name, typ, code, desc)
			} else {
				p("| `%s` | %s | %s |\n", name, typ, desc)
			}
		}
		p("\n")
	case ast.Enum:
		hasDesc := slices.ContainsFunc(d.EnumValues, func(v *ast.EnumValueDefinition) bool { return v.Description != "" })
		if hasDesc {
			p("| Value | Description |\n|---|---|\n")
			for _, v := range d.EnumValues {
				p("| `%s` | %s |\n", v.Name, cell(v.Description))
			}
			p("\n")
		} else {
			vals := make([]string, len(d.EnumValues))
			for i, v := range d.EnumValues {
				vals[i] = "`" + v.Name + "`"
			}
			p("Values: %s\n\n", strings.Join(vals, ", "))
		}
	}
}

// shareCode is the catalogue code of a governed field, or "".
func shareCode(f *ast.FieldDefinition) string {
	if d := f.Directives.ForName("share"); d != nil {
		if a := d.Arguments.ForName("code"); a != nil && a.Value != nil {
			return a.Value.Raw
		}
	}
	return ""
}

// typeLink writes a type as in the SDL, with the named type linked to its section when it
// is defined in the schema files.
func typeLink(t *ast.Type) string {
	name := t.Name()
	s := t.String()
	if builtin[name] {
		return "`" + s + "`"
	}
	i := strings.Index(s, name)
	code := func(x string) string {
		if x == "" {
			return ""
		}
		return "`" + x + "`"
	}
	return code(s[:i]) + "[" + name + "](#" + strings.ToLower(name) + ")" + code(s[i+len(name):])
}

var builtin = map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}

// paragraph keeps a description's line breaks as one Markdown paragraph.
func paragraph(s string) string {
	return strings.Join(strings.Fields(strings.TrimSpace(s)), " ")
}

// cell makes a description fit a table cell.
func cell(s string) string {
	return strings.ReplaceAll(paragraph(s), "|", `\|`)
}
