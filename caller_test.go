package gateway_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCallerComesFromTheContext: the verified caller lives in the request context
// (gateway.WithCaller, gateway.CallerFrom), so no package takes a function that finds it.
// enforce/enforce.go still accepts one in its Options while it is being rewritten.
func TestCallerComesFromTheContext(t *testing.T) {
	injected := regexp.MustCompile(`func\((context\.Context|\*http\.Request)\) \*gateway\.Caller`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "graph") {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(path) != ".go" || path == filepath.Join("enforce", "enforce.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if loc := injected.FindIndex(b); loc != nil {
			t.Errorf("%s:%d: takes a function for the caller; read gateway.CallerFrom(ctx) instead",
				path, strings.Count(string(b[:loc[0]]), "\n")+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
