package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// docs/schema.md is what the generator prints for the SDL in schema/: a schema change
// without a regenerated reference fails here.
func TestReferenceIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := Generate(&b, "../../schema"); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatalf("%v; generate it from the repository root: %s", err, Command)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Errorf("docs/schema.md is stale; regenerate it from the repository root: %s", Command)
	}
}

// Every governed field appears with its catalogue code, every type and every argument
// is documented, and the command to regenerate is at the top.
func TestReferenceContents(t *testing.T) {
	var b bytes.Buffer
	if err := Generate(&b, "../../schema"); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		Command,
		"### Citizen",
		"| `phone` | `String` | `310115-PSB-RK01-007` |",
		"| `insuredEmployees` | `Int` | `310115-HRSS-SB02-001` |",
		"`enterprises(legalRepresentative: ID, first: Int = 20, after: String)`",
		"*union* = [Citizen](#citizen) | [Enterprise](#enterprise)",
		"`@share(code: String!)` on FIELD_DEFINITION",
		"[Grant](#grant)`!`",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
	sdl, err := os.ReadFile("../../schema/citizen.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	if n, m := strings.Count(string(sdl), "@share("), strings.Count(doc, "| `310115-PSB-"); n != m {
		t.Errorf("citizen.graphqls governs %d fields, the reference shows %d PSB codes", n, m)
	}
	if strings.Contains(doc, "| ``") || strings.Contains(doc, "``[") || strings.Contains(doc, ")``") {
		t.Errorf("empty code span in the reference")
	}
}
