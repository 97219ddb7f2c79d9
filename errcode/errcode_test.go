package errcode

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	gqlast "github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// docsTable reads the "Codes at a glance" table of docs/errors.md: code → HTTP status.
func docsTable(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([A-Z][A-Z_]+)`")
	out := map[string]int{}
	inTable := false
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| `extensions.code` | HTTP |") {
			inTable = true
			continue
		}
		if !inTable || !strings.HasPrefix(line, "|") {
			if inTable && len(out) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		status, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil {
			t.Errorf("docs/errors.md:%d: the HTTP column %q is not one status", i+1, cells[2])
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			if _, dup := out[m[1]]; dup {
				t.Errorf("docs/errors.md:%d: %s is in the table twice", i+1, m[1])
			}
			out[m[1]] = status
		}
	}
	return out
}

// TestDocsAgree fails when docs/errors.md and the vocabulary disagree: a code sent but
// not documented, documented but not in the vocabulary, or with another status.
func TestDocsAgree(t *testing.T) {
	docs := docsTable(t)
	for _, c := range Codes() {
		status, ok := docs[c]
		switch {
		case !ok:
			t.Errorf("%s is in errcode but has no row in docs/errors.md", c)
		case status != Status(c):
			t.Errorf("%s: docs/errors.md says HTTP %d, errcode says %d", c, status, Status(c))
		}
	}
	for c := range docs {
		if _, ok := Lookup(c); !ok {
			t.Errorf("docs/errors.md documents %s, which the gateway never sends (not in errcode)", c)
		}
	}
}

// TestEveryConstantInTheVocabulary: a code declared without its row in the vocabulary
// would be presented as INTERNAL_SERVER_ERROR; this catches the forgotten row.
func TestEveryConstantInTheVocabulary(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errcode.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				code, _ := strconv.Unquote(lit.Value)
				n++
				if _, ok := Lookup(code); !ok {
					t.Errorf("%s is declared but has no row in the vocabulary", code)
				}
			}
		}
	}
	if n != len(Codes()) {
		t.Errorf("%d constants, %d codes in the vocabulary", n, len(Codes()))
	}
}

// TestNoCodeOutsideVocabulary fails when a package spells a code as a string literal
// instead of naming the constant here, which is how codes drifted into seven packages.
// The simulated departments (legacysim) speak their own protocols and are left out.
func TestNoCodeOutsideVocabulary(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case "errcode", "legacysim", "graph", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil {
				if _, known := Lookup(s); known {
					t.Errorf("%s: the code %s is spelled out; use errcode's constant", rel, s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fieldCtx is the context of resolving field name, declared with args arguments, whose
// arguments were read (readArgs) or not.
func fieldCtx(name string, args int, readArgs bool) context.Context {
	def := &gqlast.FieldDefinition{Name: name}
	for i := range args {
		def.Arguments = append(def.Arguments, &gqlast.ArgumentDefinition{Name: "a" + strconv.Itoa(i)})
	}
	fc := &graphql.FieldContext{Field: graphql.CollectedField{Field: &gqlast.Field{Name: name, Alias: name, Definition: def}}}
	if readArgs {
		fc.Args = map[string]any{}
	}
	return graphql.WithFieldContext(context.Background(), fc)
}

type extended struct{}

func (extended) Error() string { return "department psb is unavailable" }
func (extended) Extensions() map[string]any {
	return map[string]any{"code": SourceUnavailable, "department": "psb"}
}

func TestPresenter(t *testing.T) {
	present := Presenter(nil)
	coded := At(fieldCtx("citizen", 1, true), Forbidden, "no")
	coded.Extensions["reason"] = "x"
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		code    string
		message string
	}{
		{"a known code stays", fieldCtx("citizen", 1, true), coded, Forbidden, "no"},
		{"an unknown code is internal", fieldCtx("citizen", 1, true), Request("TYPO_CODE", "oops"), Internal, InternalMessage},
		{"a plain error is internal, its text hidden", fieldCtx("citizen", 1, true), errors.New("pq: relation grants does not exist"), Internal, InternalMessage},
		{"a wrapped plain error too", fieldCtx("name", 0, false), gqlerror.WrapPath(gqlast.Path{gqlast.PathName("name")}, errors.New("must not be null")), Internal, InternalMessage},
		{"an extended error brings its extensions", fieldCtx("name", 0, false), gqlerror.WrapPath(nil, extended{}), SourceUnavailable, "department psb is unavailable"},
		{"an argument gqlgen could not read", fieldCtx("decide", 2, false), gqlerror.WrapPath(nil, errors.New("time: cannot parse")), BadUserInput, "time: cannot parse"},
		{"introspection while off", fieldCtx("__schema", 0, false), errors.New("introspection disabled"), IntrospectionDisabled, "introspection disabled"},
		{"gqlgen's own request check", context.Background(), gqlerror.Errorf("unsupported APQ version"), BadRequest, "unsupported APQ version"},
		{"a recovered panic", context.Background(), Request(Internal, InternalMessage), Internal, InternalMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := present(tc.ctx, tc.err)
			if c := got.Extensions["code"]; c != tc.code || got.Message != tc.message {
				t.Errorf("got %v %q, want %s %q", c, got.Message, tc.code, tc.message)
			}
		})
	}
	if coded.Extensions["code"] != Forbidden || len(coded.Extensions) != 2 {
		t.Errorf("presenting changed the original error: %v", coded.Extensions)
	}
	if got := present(fieldCtx("name", 0, false), gqlerror.WrapPath(nil, extended{})); got.Extensions["department"] != "psb" {
		t.Errorf("the department was lost: %v", got.Extensions)
	}
}

func TestWriteHTTP(t *testing.T) {
	for _, c := range Codes() {
		rec := httptest.NewRecorder()
		WriteHTTP(rec, c, "m", map[string]any{"reason": "r"})
		if rec.Code != Status(c) {
			t.Errorf("%s: status %d", c, rec.Code)
		}
		want := `{"errors":[{"extensions":{"code":"` + c + `","reason":"r"},"message":"m"}]}` + "\n"
		if rec.Body.String() != want {
			t.Errorf("%s: body %s", c, rec.Body)
		}
	}
	if Status("NO_SUCH_CODE") != http.StatusInternalServerError {
		t.Error("a code outside the vocabulary must be a server error")
	}
	if !slices.IsSorted(Codes()) {
		t.Error("Codes is not sorted")
	}
}
