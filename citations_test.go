package gateway_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCommentsCiteTheRepository: a comment may cite only what the repository contains.
// Every docs/*.md a Go or YAML file names must exist, and nothing cites a design
// document by section number, which the repository does not have.
func TestCommentsCiteTheRepository(t *testing.T) {
	doc := regexp.MustCompile(`docs/[A-Za-z0-9_-]+\.md`)
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
		if ext := filepath.Ext(path); ext != ".go" && ext != ".yaml" && ext != ".graphqls" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(b)
		if strings.Contains(text, "DESIGN "+"§") {
			t.Errorf("%s cites a design document the repository does not have; cite docs/", path)
		}
		for _, cited := range doc.FindAllString(text, -1) {
			if _, err := os.Stat(cited); err != nil {
				t.Errorf("%s cites %s, which does not exist", path, cited)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
