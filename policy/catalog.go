package policy

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway"
)

// CatalogError is one mistake in a catalogue file, located by line so that the department
// maintaining the file can find and fix it. ParseCatalog reports all of them at once,
// joined with errors.Join.
type CatalogError struct {
	Source string // the file name, as given to ParseCatalog
	Line   int
	Msg    string // what was wrong and what was expected
}

// Error reads "source:line: message", the form editors and CI logs link to the line.
func (e *CatalogError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Msg) }

// codePattern is the catalogue code of docs/architecture.md (The sharing policy):
// district, department, resource, item.
var codePattern = regexp.MustCompile(`^310115-([A-Z]+)-[A-Z]+[0-9]+-[0-9]{3}$`)

// fieldPattern is a schema coordinate: an object type and one of its fields.
var fieldPattern = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*\.[a-z][A-Za-z0-9]*$`)

// deptPattern is a department id as used in tokens and configuration: psb, amr, …
var deptPattern = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// ParseCatalog reads a catalogue file: a YAML list of departments, each with its entries
// (code, field, class, mask, ttl, description). It reports every mistake in one error,
// each as "source:line: what was wrong; what was expected", because the file is edited
// by departments that should not have to fix it one restart at a time. The entries come
// back in file order with Owner set from their department. config/demo/catalog.yaml is
// the full example; one entry reads:
//
//	# department by department
//	- department: psb
//	  entries:
//	    - code: 310115-PSB-RK01-002
//	      field: Citizen.name
//	      class: CONDITIONAL
//	      mask: name
//	      ttl: 1h
//	      description: 姓名
func ParseCatalog(data []byte, source string) ([]gateway.CatalogEntry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	p := &catalogParser{
		source: source,
		depts:  map[string]int{},
		codes:  map[string]int{},
		fields: map[string]int{},
	}
	p.document(&doc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return p.entries, nil
}

// catalogParser walks the YAML tree, collecting entries and every mistake it meets.
type catalogParser struct {
	source  string
	entries []gateway.CatalogEntry
	errs    []error
	depts   map[string]int // department id → line first listed
	codes   map[string]int // code → line first used
	fields  map[string]int // field → line first used
}

func (p *catalogParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &CatalogError{Source: p.source, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func (p *catalogParser) document(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errs = append(p.errs, &CatalogError{Source: p.source, Line: 1, Msg: "the catalogue is empty; expected a list of departments"})
		return
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		p.errorf(root, "expected a list of departments, found %s", kindName(root))
		return
	}
	if len(root.Content) == 0 {
		p.errorf(root, "the catalogue lists no departments")
	}
	for _, d := range root.Content {
		p.department(d)
	}
}

func (p *catalogParser) department(n *yaml.Node) {
	fields, ok := p.mapping(n, "a department", []string{"department", "entries"})
	if !ok {
		return
	}
	id := ""
	if v, ok := p.scalar(fields, n, "department", true); ok {
		switch first, dup := p.depts[v.Value]; {
		case !deptPattern.MatchString(v.Value):
			p.errorf(v, "department %q is not a department id; expected lower-case letters and digits, e.g. psb", v.Value)
		case dup:
			p.errorf(v, "department %s is already listed at line %d; list each department once", v.Value, first)
		default:
			p.depts[v.Value] = v.Line
			id = v.Value
		}
	}
	entries, present := fields["entries"]
	switch {
	case !present:
		p.errorf(n, `department lacks "entries"; expected its list of catalogue entries`)
	case entries.Kind != yaml.SequenceNode:
		p.errorf(entries, "expected a list of catalogue entries, found %s", kindName(entries))
	default:
		for _, e := range entries.Content {
			p.entry(e, id)
		}
	}
}

// entry parses one catalogue entry of department dept ("" when the department itself
// was wrong, in which case the code is not checked against it).
func (p *catalogParser) entry(n *yaml.Node, dept string) {
	fields, ok := p.mapping(n, "a catalogue entry", []string{"code", "field", "class", "mask", "ttl", "description", "copyOf", "legalBasis"})
	if !ok {
		return
	}
	e := gateway.CatalogEntry{Owner: dept}

	if v, ok := p.scalar(fields, n, "code", true); ok {
		m := codePattern.FindStringSubmatch(v.Value)
		first, dup := p.codes[v.Value]
		switch want := strings.ToUpper(dept); {
		case m == nil:
			p.errorf(v, "code %q does not match 310115-{DEPT}-{RESOURCE}-{ITEM}, e.g. 310115-PSB-RK01-002", v.Value)
		case dept != "" && m[1] != want:
			p.errorf(v, "code %s is listed under department %s; expected a code of the form 310115-%s-{RESOURCE}-{ITEM}", v.Value, dept, want)
		case dup:
			p.errorf(v, "code %s is already used at line %d; one datum, one code", v.Value, first)
		default:
			p.codes[v.Value] = v.Line
			e.Code = v.Value
		}
	}

	if v, ok := p.scalar(fields, n, "field", true); ok {
		first, dup := p.fields[v.Value]
		switch {
		case !fieldPattern.MatchString(v.Value):
			p.errorf(v, "field %q is not a schema coordinate; expected Type.field, e.g. Citizen.name", v.Value)
		case dup:
			p.errorf(v, "field %s already has an entry at line %d; a field carries one code", v.Value, first)
		default:
			p.fields[v.Value] = v.Line
			e.Field = v.Value
		}
	}

	if v, ok := p.scalar(fields, n, "class", true); ok {
		switch c := gateway.Class(v.Value); c {
		case gateway.Unconditional, gateway.Conditional, gateway.NotShared:
			e.Class = c
		default:
			p.errorf(v, "class %q is unknown; expected UNCONDITIONAL, CONDITIONAL or NONE", v.Value)
		}
	}

	if v, ok := p.scalar(fields, n, "mask", false); ok && v.Value != "" {
		switch m := gateway.Mask(v.Value); m {
		case gateway.MaskID, gateway.MaskName, gateway.MaskPhone, gateway.MaskYear, gateway.MaskDistrict:
			// An unknown class was reported already; the mask is judged only against a known one.
			if e.Class != "" && e.Class != gateway.Conditional {
				p.errorf(v, "mask %s on a %s item; only CONDITIONAL items are shown masked, so remove the mask or make the item CONDITIONAL", m, e.Class)
			}
			e.Mask = m
		default:
			p.errorf(v, "mask %q is unknown; expected id, name, phone, year or district", v.Value)
		}
	}

	if v, ok := p.scalar(fields, n, "ttl", true); ok {
		if d, err := time.ParseDuration(v.Value); err != nil || d <= 0 {
			p.errorf(v, "ttl %q is not a positive duration; expected the owner's update cycle as a Go duration, e.g. 10m, 1h or 24h", v.Value)
		} else {
			e.TTL = d
		}
	}

	if v, ok := p.scalar(fields, n, "description", false); ok {
		e.Description = v.Value
	}
	if v, ok := fields["copyOf"]; ok {
		e.Copy = p.copyOf(v)
	}
	if v, ok := p.scalar(fields, n, "legalBasis", false); ok && v.Value != "" {
		if e.Copy == nil {
			p.errorf(v, "legalBasis on an item that is no copy; a legal basis widens the sharing of a copy (copyOf) beyond its source")
		}
		e.LegalBasis = v.Value
	}
	p.entries = append(p.entries, e)
}

// copyOf parses the source of a copy: a code, or a mapping with the code, the relation
// that leads to whom the datum is about, and whether it is a copy only for persons.
func (p *catalogParser) copyOf(n *yaml.Node) *gateway.Copy {
	if n.Kind == yaml.ScalarNode {
		if !codePattern.MatchString(n.Value) {
			p.errorf(n, "copyOf %q is not a catalogue code; expected the source's code, e.g. 310115-PSB-RK01-002", n.Value)
			return nil
		}
		return &gateway.Copy{Of: n.Value}
	}
	fields, ok := p.mapping(n, "copyOf", []string{"code", "via", "when"})
	if !ok {
		return nil
	}
	c := &gateway.Copy{}
	if v, ok := p.scalar(fields, n, "code", true); ok {
		if !codePattern.MatchString(v.Value) {
			p.errorf(v, "copyOf code %q is not a catalogue code; expected the source's code, e.g. 310115-PSB-RK01-002", v.Value)
			return nil
		}
		c.Of = v.Value
	}
	if v, ok := p.scalar(fields, n, "via", false); ok {
		c.Via = v.Value
	}
	if v, ok := p.scalar(fields, n, "when", false); ok {
		switch v.Value {
		case "", "always":
		case "person":
			c.PersonOnly = true
		default:
			p.errorf(v, "copyOf when %q is unknown; expected always or person (a copy only when the subject is a person)", v.Value)
		}
	}
	if c.Of == "" {
		return nil
	}
	return c
}

// mapping checks that n is a mapping with only the allowed keys, each once, and returns
// its values by key.
func (p *catalogParser) mapping(n *yaml.Node, what string, allowed []string) (map[string]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "expected %s (a mapping with keys %s), found %s", what, strings.Join(allowed, ", "), kindName(n))
		return nil, false
	}
	fields := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch _, dup := fields[k.Value]; {
		case k.Kind != yaml.ScalarNode || !slices.Contains(allowed, k.Value):
			p.errorf(k, "unknown key %q in %s; expected %s", k.Value, what, strings.Join(allowed, ", "))
		case dup:
			p.errorf(k, "key %q appears twice in %s", k.Value, what)
		default:
			fields[k.Value] = v
		}
	}
	return fields, true
}

// scalar returns the string value under key; a missing required key, an empty required
// value or a non-scalar is reported against the enclosing mapping or the value.
func (p *catalogParser) scalar(fields map[string]*yaml.Node, parent *yaml.Node, key string, required bool) (*yaml.Node, bool) {
	v, ok := fields[key]
	if !ok {
		if required {
			p.errorf(parent, "%q is missing", key)
		}
		return nil, false
	}
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%q must be a single value, found %s", key, kindName(v))
		return nil, false
	}
	if v.Tag == "!!null" {
		v = &yaml.Node{Kind: yaml.ScalarNode, Line: v.Line, Column: v.Column}
	}
	if required && v.Value == "" {
		p.errorf(v, "%q is empty", key)
		return nil, false
	}
	return v, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias (anchors and aliases are not supported)"
	}
	return "nothing"
}

// Catalog is the live directory of data items, checked against the schema: every
// governed field has exactly one entry and every entry one field. It is immutable and
// safe for concurrent use; the entries it hands out by pointer must not be modified.
type Catalog struct {
	entries     []gateway.CatalogEntry // sorted by code
	byCode      map[string]int
	byField     map[string]int
	departments []string // sorted
}

// NewCatalog checks entries against governed, which maps each schema coordinate
// ("Citizen.name") to the code the schema's directive gives it, and refuses a catalogue
// and schema that disagree, naming every offender: a governed field without an entry,
// an entry no governed field carries, two fields sharing a code, or an entry whose field
// is not the coordinate carrying its code. The server must not start on such a pair,
// because a field without a known owner and class cannot be decided.
func NewCatalog(entries []gateway.CatalogEntry, governed map[string]string) (*Catalog, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("catalogue: "+format, args...)) }

	c := &Catalog{
		entries: slices.Clone(entries),
		byCode:  make(map[string]int, len(entries)),
		byField: make(map[string]int, len(entries)),
	}
	slices.SortStableFunc(c.entries, func(a, b gateway.CatalogEntry) int { return strings.Compare(a.Code, b.Code) })
	depts := map[string]bool{}
	for i, e := range c.entries {
		if _, dup := c.byCode[e.Code]; dup {
			fail("code %s has more than one entry", e.Code)
		}
		if j, dup := c.byField[e.Field]; dup {
			fail("field %s has two entries, %s and %s", e.Field, c.entries[j].Code, e.Code)
		}
		c.byCode[e.Code] = i
		c.byField[e.Field] = i
		depts[e.Owner] = true
	}
	c.departments = slices.Sorted(maps.Keys(depts))

	carriers := map[string][]string{} // code → the coordinates the schema gives it
	for _, coord := range slices.Sorted(maps.Keys(governed)) {
		code := governed[coord]
		carriers[code] = append(carriers[code], coord)
		i, ok := c.byCode[code]
		switch {
		case !ok:
			if j, has := c.byField[coord]; has {
				fail("the schema gives %s code %s, but its catalogue entry has code %s", coord, code, c.entries[j].Code)
			} else {
				fail("%s (code %s) has no catalogue entry", coord, code)
			}
		case c.entries[i].Field != coord:
			fail("code %s is on %s in the schema, but its catalogue entry names %s", code, coord, c.entries[i].Field)
		}
	}
	for _, code := range slices.Sorted(maps.Keys(carriers)) {
		if coords := carriers[code]; len(coords) > 1 {
			fail("fields %s share code %s; one datum, one code", strings.Join(coords, ", "), code)
		}
	}
	for _, e := range c.entries {
		if err := c.checkCopy(&e); err != nil {
			errs = append(errs, err)
		}
	}
	for _, e := range c.entries {
		if _, carried := carriers[e.Code]; carried {
			continue
		}
		if _, governs := governed[e.Field]; !governs {
			fail("entry %s names %s, which no schema field governed by the catalogue carries", e.Code, e.Field)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// strictness orders classes from the widest to the narrowest sharing.
var strictness = map[gateway.Class]int{gateway.Unconditional: 0, gateway.Conditional: 1, gateway.NotShared: 2}

// checkCopy refuses a copy whose source is unknown or itself a copy, and one that its
// catalogue entry declares looser than its source without a published legal basis: the
// gateway would decide it as its source anyway, and a catalogue that says otherwise
// misleads every consumer that reads it (docs/SECURITY.md, "one datum, one code").
func (c *Catalog) checkCopy(e *gateway.CatalogEntry) error {
	if e.Copy == nil {
		return nil
	}
	src := c.ByCode(e.Copy.Of)
	switch {
	case src == nil:
		return fmt.Errorf("catalogue: %s (%s) is a copy of %s, which the catalogue does not list", e.Code, e.Field, e.Copy.Of)
	case src.Copy != nil:
		return fmt.Errorf("catalogue: %s is a copy of %s, which is itself a copy of %s; name the original datum", e.Code, src.Code, src.Copy.Of)
	case src.Code == e.Code:
		return fmt.Errorf("catalogue: %s is a copy of itself", e.Code)
	case e.LegalBasis != "" || e.Copy.PersonOnly:
		// A legal basis widens the copy on purpose; a per-value copy's class is the one
		// it has when its subject is no person.
		return nil
	case strictness[e.Class] < strictness[src.Class]:
		return fmt.Errorf("catalogue: %s (%s) is a copy of %s but is %s where its source is %s; make it as strict as its source or record the published legalBasis for sharing it more widely", e.Code, e.Field, src.Code, e.Class, src.Class)
	case e.Class == gateway.Conditional && src.Class == gateway.Conditional && e.Mask != src.Mask:
		return fmt.Errorf("catalogue: %s (%s) is a copy of %s but masks as %q where its source masks as %q; use the source's mask", e.Code, e.Field, src.Code, e.Mask, src.Mask)
	}
	return nil
}

// Source returns the entry a copy holds the datum of, or nil for an item that is no copy.
func (c *Catalog) Source(e *gateway.CatalogEntry) *gateway.CatalogEntry {
	if e == nil || e.Copy == nil {
		return nil
	}
	return c.ByCode(e.Copy.Of)
}

// ByCode returns the entry with code, or nil.
func (c *Catalog) ByCode(code string) *gateway.CatalogEntry {
	if i, ok := c.byCode[code]; ok {
		return &c.entries[i]
	}
	return nil
}

// ByField returns the entry governing a schema coordinate such as "Citizen.name", or nil
// when the field is not governed.
func (c *Catalog) ByField(coord string) *gateway.CatalogEntry {
	if i, ok := c.byField[coord]; ok {
		return &c.entries[i]
	}
	return nil
}

// Entries lists the entries owned by department, sorted by code; "" lists them all. The
// slice is the caller's to keep.
func (c *Catalog) Entries(department string) []gateway.CatalogEntry {
	if department == "" {
		return slices.Clone(c.entries)
	}
	var out []gateway.CatalogEntry
	for _, e := range c.entries {
		if e.Owner == department {
			out = append(out, e)
		}
	}
	return out
}

// Departments lists the departments that own at least one entry, sorted.
func (c *Catalog) Departments() []string { return slices.Clone(c.departments) }
