package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/server"
	"pudong.gov.cn/gateway/store"
)

// exampleFolders are the folders of examples/, in the order the test runs them against
// one gateway (later folders decide on the requests earlier ones file), and the consumer
// whose token each folder's operations are sent with unless a file's header names
// another.
var exampleFolders = []struct{ dir, consumer string }{
	{"citizen-portal", "ipudong-portal"},
	{"online-hall", "online-hall"},
	{"supervision-platform", "supervision-platform"},
	{"department-console", "psb-console"},
	{"cio-office", "cio-console"},
}

// exampleHeader is what the leading comment of an example file declares:
//
//	# consumer: hrss-console                       the token's consumer
//	# citizen: 310115199001010029                  the token's citizen_id (self-service)
//	# expect: FORBIDDEN_FIELD at citizen.phone     an error the example shows on purpose
//	# uses: $id from 01-x.graphql at a.0.id        a variable taken from an earlier answer
//	# seal: true                                   asks for a sealed answer (X-Gateway-Seal)
type exampleHeader struct {
	consumer, citizen string
	seal              bool
	expect            []expectedError
	uses              []use
	prose             bool // the header also says, in words, why
}

type expectedError struct{ code, path string }

type use struct{ variable, file, path string }

var (
	headerExpect = regexp.MustCompile(`^# expect: ([A-Z_]+) at (\S+)$`)
	headerUses   = regexp.MustCompile(`^# uses: \$(\w+) from (\S+\.graphql) at (\S+)$`)
	headerKey    = regexp.MustCompile(`^# (consumer|citizen|seal): (\S+)$`)
	headerOther  = regexp.MustCompile(`^# ([a-z]+): `)
)

func parseExampleHeader(t *testing.T, text string) exampleHeader {
	t.Helper()
	var h exampleHeader
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "#") {
			break // the header is the leading comment
		}
		if m := headerKey.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "consumer":
				h.consumer = m[2]
			case "seal":
				h.seal = m[2] == "true"
			default:
				h.citizen = m[2]
			}
		} else if m := headerExpect.FindStringSubmatch(line); m != nil {
			h.expect = append(h.expect, expectedError{m[1], m[2]})
		} else if m := headerUses.FindStringSubmatch(line); m != nil {
			h.uses = append(h.uses, use{m[1], m[2], m[3]})
		} else if m := headerOther.FindStringSubmatch(line); m != nil {
			t.Errorf("header line %q: %s is not one of consumer, citizen, seal, expect, uses (or its form is wrong)", line, m[1])
		} else if len(line) > 20 {
			h.prose = true
		}
	}
	return h
}

// Every example operation runs against a real gateway over the simulators, with the
// token of the consumer it is written for, and answers what its header says: HTTP 200,
// data, and no errors but the ones it declares. The citizen portal runs in allowlist
// mode with the manifest `gateway allowlist register examples/citizen-portal` writes,
// as the production configuration has it.
func TestExamples(t *testing.T) {
	manifest := filepath.Join(t.TempDir(), "allowlist.json")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"allowlist", "register", "--out", manifest, filepath.Join(examplesDir, "citizen-portal")}, os.Getenv, &out); err != nil {
		t.Fatalf("allowlist register examples/citizen-portal: %v\n%s", err, out.String())
	}
	g := e2e.Start(t, func(c *config.Config) {
		c.Allowlist = manifest
		c.Consumer("ipudong-portal").AllowlistOnly = true
	})

	for _, folder := range exampleFolders {
		files, vars := readExampleFolder(t, folder.dir)
		if folder.dir == "cio-office" {
			fileOverdueRequest(t, g)
		}
		answers := map[string]e2e.Resp{}
		for _, file := range files {
			name := filepath.Base(file)
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			query := string(b)
			h := parseExampleHeader(t, query)
			t.Run(folder.dir+"/"+name, func(t *testing.T) {
				tok := exampleToken(t, g, folder.dir, folder.consumer, h)
				v := exampleVariables(t, folder.dir, vars[name], h, answers)
				checkVariablesDeclared(t, query, v)
				var r e2e.Resp
				if h.seal {
					r = postSealed(g, tok, query, v)
				} else {
					r = g.Post(tok, query, v)
				}
				answers[name] = r
				if os.Getenv("GATEWAY_EXAMPLES_SHOW") != "" { // to see the answers: GATEWAY_EXAMPLES_SHOW=1 go test -run TestExamples -v
					t.Logf("variables %v\n%s", v, r.Raw)
				}
				checkExampleAnswer(t, r, h)
			})
		}
	}
}

// readExampleFolder returns the example files of an examples folder, in
// order, and their variables by file name (from variables.json, which may
// name only examples that exist).
func readExampleFolder(t *testing.T, folder string) (files []string, vars map[string]map[string]any) {
	t.Helper()
	dir := filepath.Join(examplesDir, folder)
	files, err := filepath.Glob(filepath.Join(dir, "*.graphql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no examples (%v)", dir, err)
	}
	sort.Strings(files)
	vars = map[string]map[string]any{}
	if b, err := os.ReadFile(filepath.Join(dir, "variables.json")); err == nil {
		if err := json.Unmarshal(b, &vars); err != nil {
			t.Fatalf("%s/variables.json: %v", folder, err)
		}
	}
	for name := range vars {
		if !slices.Contains(files, filepath.Join(dir, name)) {
			t.Errorf("%s/variables.json names %s, which is not an example", folder, name)
		}
	}
	return files, vars
}

// exampleToken is the token an example is sent with: its folder's consumer (a
// department console example may name another console), signed in as the
// citizen the header names for a self-service consumer.
func exampleToken(t *testing.T, g *e2e.Gateway, folder, folderConsumer string, h exampleHeader) string {
	t.Helper()
	consumer := folderConsumer
	switch {
	case h.consumer == "":
	case folder == "department-console" && strings.HasSuffix(h.consumer, "-console"):
		consumer = h.consumer
	case h.consumer != folderConsumer:
		t.Fatalf("header says consumer %s, but %s examples are sent by %s", h.consumer, folder, folderConsumer)
	}
	if !h.prose {
		t.Errorf("the leading comment must say why %s sends this", consumer)
	}
	if !g.Cfg.Consumer(consumer).SelfService {
		return g.Token(consumer)
	}
	if h.citizen == "" {
		t.Fatalf("a self-service example names its signed-in citizen (# citizen: ID)")
	}
	return g.Token(consumer, h.citizen)
}

// exampleVariables are an example's variables from variables.json, plus those
// its header takes from the answers of examples run before it.
func exampleVariables(t *testing.T, folder string, fixed map[string]any, h exampleHeader, answers map[string]e2e.Resp) map[string]any {
	t.Helper()
	v := map[string]any{}
	for k, val := range fixed {
		v[k] = val
	}
	for _, u := range h.uses {
		prev, ok := answers[u.file]
		if !ok {
			t.Fatalf("uses %s, which has not run before it in %s", u.file, folder)
		}
		val := prev.Get(u.path)
		if val == nil {
			t.Fatalf("%s has nothing at %s: %s", u.file, u.path, prev.Raw)
		}
		v[u.variable] = val
	}
	return v
}

// checkExampleAnswer checks that an example answered what its header says:
// HTTP 200, data in every field, and exactly the errors it declares.
func checkExampleAnswer(t *testing.T, r e2e.Resp, h exampleHeader) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
	for _, e := range r.Errors {
		path := pathString(e.Path)
		if !slices.Contains(h.expect, expectedError{fmt.Sprint(e.Extensions["code"]), path}) {
			t.Errorf("unexpected error %v at %s: %s", e.Extensions["code"], path, e.Message)
		}
	}
	for _, x := range h.expect {
		if e := r.ErrorAt(x.path); e == nil || e.Extensions["code"] != x.code {
			t.Errorf("the header expects %s at %s: %s", x.code, x.path, r.Raw)
		}
	}
	if len(r.Data) == 0 {
		t.Fatalf("no data: %s", r.Raw)
	}
	for field, val := range r.Data {
		if !nonEmpty(val) {
			t.Errorf("%s is empty: %s", field, r.Raw)
		}
	}
}

// fileOverdueRequest stores a request whose deadline passed a week ago, as if a
// department had left it unanswered, for the CIO office's examples.
func fileOverdueRequest(t *testing.T, g *e2e.Gateway) {
	t.Helper()
	now := store.Micro(time.Now())
	_, err := g.Parts.Store.CreateRequests(t.Context(), []gateway.SharingRequest{{
		Requester: "supervision-platform", RequestedBy: "inspector-0417", Department: "hrss",
		Codes: []string{"310115-HRSS-SB01-002"}, Purpose: "market-supervision",
		Justification: "Checking that enterprises under inspection pay their employees' insurance.",
		Status:        gateway.Pending, CreatedAt: now.AddDate(0, 0, -15), Deadline: now.AddDate(0, 0, -7),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// checkVariablesDeclared fails when the operation declares a non-null variable without
// default that the example does not give, or the example gives one it does not declare.
func checkVariablesDeclared(t *testing.T, query string, v map[string]any) {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(graph.NewExecutableSchema(graph.Config{}).Schema(), query)
	if len(errs) > 0 {
		t.Fatalf("does not validate against the schema: %v", errs)
	}
	if len(doc.Operations) != 1 {
		t.Fatalf("one operation per file, found %d", len(doc.Operations))
	}
	declared := map[string]bool{}
	for _, d := range doc.Operations[0].VariableDefinitions {
		declared[d.Variable] = true
		if _, ok := v[d.Variable]; !ok && d.Type.NonNull && d.DefaultValue == nil {
			t.Errorf("$%s is required but variables.json does not give it", d.Variable)
		}
	}
	for k := range v {
		if !declared[k] {
			t.Errorf("variables.json gives $%s, which the operation does not declare", k)
		}
	}
}

func pathString(p []any) string {
	parts := make([]string, len(p))
	for i, x := range p {
		parts[i] = strings.TrimSuffix(fmt.Sprint(x), ".0")
	}
	return strings.Join(parts, ".")
}

// nonEmpty is false for null, an empty list, and a connection without edges.
func nonEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		return len(x) > 0
	case map[string]any:
		if edges, ok := x["edges"]; ok {
			return nonEmpty(edges)
		}
		return len(x) > 0
	}
	return true
}

// The committed allowlist manifest of the citizen portal, named by
// examples/production.yaml, registers exactly the operations in examples/citizen-portal:
// regenerate it with the command in the configuration's comment when they change.
func TestCitizenPortalAllowlistIsCurrent(t *testing.T) {
	t.Setenv("CREDIT_DB_PASSWORD", "example-password")
	t.Setenv("AMR_API_KEY", "example-key")
	fresh := filepath.Join(t.TempDir(), "allowlist.json")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"allowlist", "register", "--out", fresh, filepath.Join(examplesDir, "citizen-portal")}, os.Getenv, &out); err != nil {
		t.Fatal(err)
	}
	want, err := server.LoadManifest(fresh)
	if err != nil {
		t.Fatal(err)
	}
	got, err := server.LoadManifest(filepath.Join(examplesDir, "citizen-portal.allowlist.json"))
	if err != nil {
		t.Fatalf("%v; regenerate: go run ./cmd/gateway allowlist register --out examples/citizen-portal.allowlist.json examples/citizen-portal", err)
	}
	for h, op := range want {
		if g, ok := got[h]; !ok || g.Name != op.Name {
			t.Errorf("%s (%s) is not registered as it is now; regenerate: go run ./cmd/gateway allowlist register --out examples/citizen-portal.allowlist.json examples/citizen-portal", op.File, op.Name)
		}
	}
	for h, op := range got {
		if _, ok := want[h]; !ok {
			t.Errorf("the manifest registers %s (%s), which is no longer an example; regenerate it", op.Name, op.File)
		}
	}
	cfg, err := config.Load(filepath.Join(examplesDir, "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(cfg.Allowlist) != "citizen-portal.allowlist.json" || !cfg.Consumer("ipudong-portal").AllowlistOnly {
		t.Errorf("production.yaml should put the portal in allowlist mode with this manifest: %q", cfg.Allowlist)
	}
}

// The guides link files that exist, and every example is linked from its guide.
func TestDocsLinkTheExamples(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	linked := map[string]bool{}
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || target == "PERFORMANCE.md" || target == "SECURITY.md" {
				continue // external, or written by others
			}
			p := filepath.Clean(filepath.Join(filepath.Dir(d), target))
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links %s, which does not exist", filepath.Base(d), target)
			}
			linked[p] = true
		}
	}
	for _, folder := range exampleFolders {
		files, _ := filepath.Glob(filepath.Join(examplesDir, folder.dir, "*.graphql"))
		for _, f := range files {
			if !linked[filepath.Clean(f)] {
				t.Errorf("docs/guide-%s.md does not link %s", folder.dir, filepath.Base(f))
			}
		}
	}
}
