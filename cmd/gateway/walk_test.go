package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
)

// TestOperatorsWalk runs docs/operators.md, "From the simulators to two replicas", as
// written: every command of its sh blocks, in order. The simulators and the replicas run
// in-process through run, as the binary would run them; curl becomes an HTTP request.
// Only the directory, the PostgreSQL DSN (a schema of its own), the Redis prefix and the
// replicas' ports are substituted, so that the walk cannot collide with anything else
// on the machine.
func TestOperatorsWalk(t *testing.T) {
	redisAddr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if redisAddr == "" {
		t.Skip("GATEWAY_TEST_REDIS_ADDR is not set; set it (e.g. 127.0.0.1:6379) to run the operators' walk")
	}
	dsn := pgtest.FreshSchema(t)
	commands := walkCommands(t)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	w := &opsWalk{
		ctx: ctx,
		dir: dir,
		subst: strings.NewReplacer(
			"/tmp/gw-walk", dir,
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", dsn,
			"redisAddr: 127.0.0.1:6379", "redisAddr: "+redisAddr,
			`redisPrefix: "walk:"`, `redisPrefix: "gwtest-walk:`+rand.Text()[:10]+`:"`,
		),
		addrs: map[string]string{},
		vars:  map[string]string{},
	}
	t.Cleanup(func() {
		cancel()
		for _, done := range w.background {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("a command of the walk did not stop within 30s of the end")
			}
		}
	})
	for _, c := range commands {
		line := w.expand(c.line)
		t.Logf("$ %s", c.line)
		switch {
		case c.heredoc != "":
			w.appendHeredoc(t, line, c.heredoc)
		case strings.HasPrefix(line, "go run ./cmd/gateway sim "):
			w.startSimulators(t, line)
		case strings.HasPrefix(line, "go run ./cmd/gateway --config "):
			w.startReplica(t, line)
		case strings.HasPrefix(line, "go run ./cmd/gateway "):
			var out strings.Builder
			if err := run(ctx, args(line), os.Getenv, &out); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out.String())
			}
			if strings.Contains(line, " config check ") && !strings.Contains(out.String(), ": OK (") {
				t.Fatalf("%s: %s", line, out.String())
			}
		case strings.HasPrefix(line, "TOKEN=$(go run ./cmd/gateway "):
			var out strings.Builder
			cmd := strings.TrimSuffix(strings.TrimPrefix(line, "TOKEN=$("), ")")
			if err := run(ctx, args(cmd), os.Getenv, &out); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			w.vars["TOKEN"] = strings.TrimSpace(out.String())
		case strings.HasPrefix(line, "curl "):
			checkWalkCurl(t, line)
		default:
			t.Fatalf("the walk has a command this test does not know how to run: %s", line)
		}
	}
	if len(w.addrs) != 2 {
		t.Errorf("the walk started %d replicas, want 2", len(w.addrs))
	}
}

// opsWalk is the state of the operators' walk: what it substitutes in the
// commands, and what the commands started.
type opsWalk struct {
	ctx        context.Context
	dir        string
	subst      *strings.Replacer
	addrs      map[string]string // the documented address → the replica's real one
	vars       map[string]string // shell variables set by the walk
	background []chan error      // the commands still running
}

// expand substitutes the test's own directory, DSN, Redis address and prefix,
// the replicas' real addresses and the walk's variables in a command.
func (w *opsWalk) expand(line string) string {
	line = w.subst.Replace(line)
	for doc, real := range w.addrs {
		line = strings.ReplaceAll(line, doc, real)
	}
	for k, v := range w.vars {
		line = strings.ReplaceAll(line, "$"+k, v)
	}
	return line
}

// appendHeredoc runs cat >> FILE <<'END': it appends the heredoc to FILE.
func (w *opsWalk) appendHeredoc(t *testing.T, line, heredoc string) {
	path := strings.TrimSpace(strings.TrimPrefix(line[:strings.Index(line, "<<")], "cat >>"))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(w.subst.Replace(heredoc))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
}

// startSimulators starts the simulators in the background and waits for the
// gateway configuration they write.
func (w *opsWalk) startSimulators(t *testing.T, line string) {
	out := &e2e.SyncBuffer{}
	w.background = append(w.background, start(w.ctx, args(line), out))
	e2e.WaitUntil(t, "the simulators' configuration", 60*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(w.dir, "sim", "gateway.yaml"))
		return err == nil && strings.Contains(out.String(), "A gateway for these simulators")
	})
}

// startReplica starts a replica on a free port instead of the documented one,
// and waits until it listens.
func (w *opsWalk) startReplica(t *testing.T, line string) {
	a := args(line)
	documented := a[len(a)-1]
	a[len(a)-1] = "127.0.0.1:0"
	out := &e2e.SyncBuffer{}
	w.background = append(w.background, start(w.ctx, a, out))
	listening := regexp.MustCompile(`gateway listening.* addr=(127\.0\.0\.1:\d+)`)
	e2e.WaitUntil(t, "replica "+documented+" listening", 60*time.Second, func() bool {
		m := listening.FindStringSubmatch(out.String())
		if m != nil {
			w.addrs[documented] = m[1]
		}
		return m != nil
	})
}

// checkWalkCurl sends a curl command of the walk and checks its answer: a ready
// replica, or 张伟's name.
func checkWalkCurl(t *testing.T, line string) {
	body := curl(t, line)
	switch {
	case strings.HasSuffix(line, "/readyz"):
		var h struct {
			OK         bool              `json:"ok"`
			Components map[string]string `json:"components"`
		}
		if err := json.Unmarshal(body, &h); err != nil || !h.OK || h.Components["store"] != "up" {
			t.Errorf("%s: %s", line, body)
		}
	case strings.HasSuffix(line, "/graphql"):
		if !strings.Contains(string(body), `{"data":{"citizen":{"name":"张伟"}}`) {
			t.Errorf("%s: %s", line, body)
		}
	}
}

// walkCommand is one command of the walk; heredoc is the text a cat >> FILE <<'END' appends.
type walkCommand struct {
	line, heredoc string
}

// walkCommands reads the commands of the walk's sh blocks from docs/operators.md.
func walkCommands(t *testing.T) []walkCommand {
	t.Helper()
	doc, err := os.ReadFile("../../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## From the simulators to two replicas\n")
	if !ok {
		t.Fatal("docs/operators.md has no section \"From the simulators to two replicas\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var out []walkCommand
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```sh":
			inBlock = true
		case line == "```":
			inBlock = false
		case !inBlock || strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.Contains(line, "<<'END'"):
			var body strings.Builder
			for sc.Scan() && sc.Text() != "END" {
				body.WriteString(sc.Text() + "\n")
			}
			out = append(out, walkCommand{line: line, heredoc: body.String()})
		default:
			out = append(out, walkCommand{line: line})
		}
	}
	if len(out) < 8 {
		t.Fatalf("the walk has %d commands; the section's sh blocks were not found", len(out))
	}
	return out
}

// args splits "go run ./cmd/gateway a b c" into the arguments run takes.
func args(line string) []string {
	return strings.Fields(strings.TrimPrefix(line, "go run ./cmd/gateway"))
}

// start runs a long-running command until ctx ends; the channel receives its result.
func start(ctx context.Context, a []string, out io.Writer) chan error {
	done := make(chan error, 1)
	go func() { done <- run(ctx, a, os.Getenv, out) }()
	return done
}

// curl makes the request a curl -s [-H 'K: V']… [-d 'BODY'] URL line describes.
func curl(t *testing.T, line string) []byte {
	t.Helper()
	quoted := regexp.MustCompile(`(-H|-d) (?:"([^"]*)"|'([^']*)')`)
	var body string
	headers := http.Header{}
	for _, m := range quoted.FindAllStringSubmatch(line, -1) {
		v := m[2] + m[3]
		if m[1] == "-d" {
			body = v
		} else if k, val, ok := strings.Cut(v, ": "); ok {
			headers.Set(k, val)
		}
	}
	url := line[strings.LastIndex(line, " ")+1:]
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = headers
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
