package gateway_test

import (
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
	eachFile(t, false, []string{".go"}, func(path string, b []byte) {
		if path == filepath.Join("enforce", "enforce.go") {
			return
		}
		if loc := injected.FindIndex(b); loc != nil {
			t.Errorf("%s:%d: takes a function for the caller; read gateway.CallerFrom(ctx) instead",
				path, strings.Count(string(b[:loc[0]]), "\n")+1)
		}
	})
}
