package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func parse(t *testing.T, q string) *ast.QueryDocument {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	// Link spreads to definitions, as validation does.
	var link func(ast.SelectionSet)
	link = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				link(s.SelectionSet)
			case *ast.InlineFragment:
				link(s.SelectionSet)
			case *ast.FragmentSpread:
				s.Definition = doc.Fragments.ForName(s.Name)
			}
		}
	}
	for _, op := range doc.Operations {
		link(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		link(f.SelectionSet)
	}
	return doc
}

func TestMeasure(t *testing.T) {
	tests := []struct {
		query           string
		depth           int
		aliases, fields int64
	}{
		{`{ a }`, 1, 0, 1},
		{`{ a { b { c } } }`, 3, 0, 3},
		{`{ x: a { y: b } z: a { b } }`, 2, 3, 4},
		{`{ a { ...F ...F } } fragment F on T { b { c } d: e }`, 3, 2, 7},
		{`{ a { ... on T { b { c } } } }`, 3, 0, 3},
	}
	for _, tt := range tests {
		doc := parse(t, tt.query)
		m := measurer{memo: map[string]shape{}, onPath: map[string]bool{}}
		got := m.set(doc.Operations[0].SelectionSet)
		if got.depth != tt.depth || got.aliases != tt.aliases || got.fields != tt.fields {
			t.Errorf("%s: got %+v, want depth %d aliases %d fields %d", tt.query, got, tt.depth, tt.aliases, tt.fields)
		}
	}
}

// A fragment bomb (each fragment spreading the next twice) is measured in linear time
// and its exponential expansion is counted, not enumerated.
func TestMeasureFragmentBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{ citizen { ...B0 } }`)
	const n = 60
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\nfragment B%d on Citizen { name ...B%d ...B%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "\nfragment B%d on Citizen { name }", n)
	doc := parse(t, b.String())
	start := time.Now()
	m := measurer{memo: map[string]shape{}, onPath: map[string]bool{}}
	got := m.set(doc.Operations[0].SelectionSet)
	if took := time.Since(start); took > time.Second {
		t.Errorf("measuring took %v", took)
	}
	if got.fields < 1<<40 {
		t.Errorf("the expansion must be counted (saturating): %d", got.fields)
	}
}
