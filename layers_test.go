package gateway_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "pudong.gov.cn/gateway"

// below lists, for the packages at the bottom of docs/architecture.md's one-way flow,
// every package of the module they may import. Anything else would be an import "up".
var below = map[string][]string{
	".":          {},
	"idcode":     {},
	"config":     {"."},
	"errcode":    {"."},
	"policy":     {"."},
	"store":      {".", "internal/fsync"},
	"adapters":   {".", "config"},
	"resilience": {".", "config", "adapters"},
	"cache":      {".", "config", "adapters", "cache"},
	"audit":      {".", "store", "internal/keyfile", "internal/fsync"},
	// The one reader and writer of the gateway's private keys.
	"internal/keyfile": {"internal/fsync"},
	// Durable directory entries, for the journal, key files and exports.
	"internal/fsync": {},
	// The suite every store passes checks the audit chain it stores.
	"store/storetest": {".", "store", "audit"},
}

// TestRequestsFlowOneWay: the domain, the policy, the stores and the adapters import
// nothing above them, and only the command imports the application that wires them (and
// the end-to-end harness in e2e, which builds a gateway the way the command does).
func TestRequestsFlowOneWay(t *testing.T) {
	eachFile(t, true, []string{".go"}, func(path string, src []byte) {
		if strings.HasSuffix(path, "_test.go") {
			return
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			target := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
			if target == "" {
				target = "."
			}
			if !allowed(dir, target) {
				t.Errorf("%s imports %s, which is above it in the request's flow", path, p)
			}
		}
	})
}

// allowed reports whether a package in dir may import target.
func allowed(dir, target string) bool {
	if top(target) == "app" && !slices.Contains([]string{"cmd", "app", "e2e"}, top(dir)) {
		return false
	}
	rules, ok := below[dir]
	if !ok {
		rules, ok = below[top(dir)]
	}
	if !ok {
		return true
	}
	if top(target) == top(dir) && top(dir) != "." {
		return true // within its own tree: store/sqlite implements store
	}
	return slices.Contains(rules, target) || slices.Contains(rules, top(target))
}

// top is the first element of a package path: "adapters" for "adapters/soap".
func top(p string) string {
	first, _, _ := strings.Cut(p, "/")
	return first
}
