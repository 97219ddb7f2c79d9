package gateway_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCommentsCiteTheRepository: a comment may cite only what the repository contains.
// Every docs/*.md a Go or YAML file names must exist, and nothing cites a design
// document by section number, which the repository does not have.
func TestCommentsCiteTheRepository(t *testing.T) {
	doc := regexp.MustCompile(`docs/[A-Za-z0-9_-]+\.md`)
	eachFile(t, false, []string{".go", ".yaml", ".graphqls"}, func(path string, b []byte) {
		text := string(b)
		if strings.Contains(text, "DESIGN "+"§") {
			t.Errorf("%s cites a design document the repository does not have; cite docs/", path)
		}
		for _, cited := range doc.FindAllString(text, -1) {
			if _, err := os.Stat(cited); err != nil {
				t.Errorf("%s cites %s, which does not exist", path, cited)
			}
		}
	})
}
