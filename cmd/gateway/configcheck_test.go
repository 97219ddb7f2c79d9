package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
)

// examplesDir is the repository's examples/ folder, seen from this package.
const examplesDir = "../../examples"

// The example production configuration is valid as `gateway config check` sees it.
func TestProductionExampleConfigChecks(t *testing.T) {
	t.Setenv("CREDIT_DB_PASSWORD", "example-password")
	t.Setenv("AMR_API_KEY", "example-key")
	path := filepath.Join(examplesDir, "production.yaml")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"config", "check", path}, os.Getenv, &out); err != nil {
		t.Fatalf("config check %s: %v\n%s", path, err, out.String())
	}
	if !strings.Contains(out.String(), "OK (4 departments, 8 consumers, 4 catalogue files)") {
		t.Errorf("config check output: %q", out.String())
	}
}

// `config check` does not open the departments; this test does, with the adapters the
// gateway uses, so a binding param the adapter would refuse (a typo in a SOAP action, a
// REST paging param, an SQL key column) fails here and not on the production machine.
// Nothing is contacted: the adapters validate and open lazily.
func TestProductionExampleBindingsOpen(t *testing.T) {
	t.Setenv("CREDIT_DB_PASSWORD", "example-password")
	t.Setenv("AMR_API_KEY", "example-key")
	cfg, err := config.Load(filepath.Join(examplesDir, "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, d := range cfg.Departments {
		switch d.Protocol {
		case "sql":
			if !strings.Contains(d.DSN, ":example-password@") {
				t.Errorf("the credit DSN's password comes from the environment: %q", d.DSN)
			}
		case "csv":
			d.Dir = t.TempDir() // the mounted exchange share
		}
		src, closer, err := app.OpenSource(context.Background(), d, http.DefaultClient, log)
		if err != nil {
			t.Errorf("department %s: %v", d.ID, err)
			continue
		}
		if src == nil {
			t.Errorf("department %s: no source", d.ID)
		}
		if closer != nil {
			closer.Close()
		}
	}
	if _, err := app.LoadCatalog(cfg); err != nil {
		t.Errorf("catalogue: %v", err)
	}
}

// A broken copy of the example is reported with every mistake at once, each with its
// file and the line the mistake is on.
func TestBrokenConfigReportsEveryMistakeWithItsLine(t *testing.T) {
	t.Setenv("CREDIT_DB_PASSWORD", "example-password")
	orig, err := os.ReadFile(filepath.Join(examplesDir, "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := breakProductionExample(t, strings.Split(string(orig), "\n"))
	want := configMistakes(t, lines)

	t.Setenv("AMR_API_KEY", "example-key")
	broken, err := checkBroken(t, lines)
	problems := strings.Split(err.Error(), "\n")[1:]
	if len(problems) != len(want) {
		t.Errorf("want %d problems, one per mistake, got %d:\n%v", len(want), len(problems), err)
	}
	for _, m := range want {
		checkMistakeReported(t, m, problems, broken, err)
	}
}

// breakProductionExample makes five mistakes in the lines of the production
// example: an unknown role, a consumer without purpose, an unknown protocol,
// an unknown key and a missing endpoint.
func breakProductionExample(t *testing.T, lines []string) []string {
	t.Helper()
	// index returns the first line at or after from that equals want exactly.
	index := func(from int, want string) int {
		for i := from; i < len(lines); i++ {
			if lines[i] == want {
				return i
			}
		}
		t.Fatalf("the example has no line %q after line %d", want, from+1)
		return -1
	}
	psb := index(0, "  - id: psb")
	amr := index(0, "  - id: amr")
	supervision := index(0, "  - name: supervision-platform")
	hrssConsole := index(0, "  - name: hrss-console")

	// The mistakes, made from the bottom up so earlier line numbers stay valid.
	hrssRoles := index(hrssConsole, "    roles: [approver, auditor]")
	lines[hrssRoles] = "    roles: [approver, auditer]"
	lines = append(lines[:index(supervision, "    purpose: market-supervision")], lines[index(supervision, "    purpose: market-supervision")+1:]...)
	lines[index(amr, "    protocol: rest")] = "    protocol: http"
	retries := index(psb, "    retries: 1")
	lines = append(lines[:retries+1], append([]string{"    retry: 2"}, lines[retries+1:]...)...)
	lines = append(lines[:index(psb, "    endpoint: http://rkk.gaj.pudong.internal/PopulationService")], lines[index(psb, "    endpoint: http://rkk.gaj.pudong.internal/PopulationService")+1:]...)

	return lines
}

// configMistake is a mistake made in the example, the line (1-based) it is on
// in the broken file, and a part of the problem's text.
type configMistake struct {
	what    string
	line    int
	message string
}

// configMistakes are the mistakes breakProductionExample made, at the lines of
// the broken file.
func configMistakes(t *testing.T, lines []string) []configMistake {
	t.Helper()
	at := func(want string, from string) int {
		start := 0
		if from != "" {
			for i, l := range lines {
				if l == from {
					start = i
					break
				}
			}
		}
		for i := start; i < len(lines); i++ {
			if lines[i] == want {
				return i + 1
			}
		}
		t.Fatalf("broken file has no line %q", want)
		return 0
	}
	return []configMistake{
		{"unknown key", at("    retry: 2", ""), "field retry not found"},
		{"bad protocol", at("    protocol: http", ""), `departments[1].protocol: protocol "http"`},
		{"missing endpoint", at("  - id: psb", ""), "departments[0].endpoint: a soap department needs an endpoint URL"},
		{"consumer without purpose", at("  - name: supervision-platform", ""), "consumers[2].purpose: a consumer needs the purpose"},
		{"unknown role", at("    roles: [approver, auditer]", "  - name: hrss-console"), `consumers[6].roles: role "auditer"`},
	}
}

// checkMistakeReported checks that m is among the problems, reported as
// "FILE:LINE: …" with the broken file and the mistake's line; like every
// problem, from the YAML decoder or from validation.
func checkMistakeReported(t *testing.T, m configMistake, problems []string, broken string, err error) {
	t.Helper()
	where := regexp.MustCompile(`^\s*(.+?\.yaml):(\d+): `)
	found := false
	for _, p := range problems {
		if !strings.Contains(p, m.message) {
			continue
		}
		found = true
		w := where.FindStringSubmatch(p)
		if w == nil {
			t.Errorf("%s: the problem names no file and line: %q", m.what, p)
			continue
		}
		if w[1] != broken {
			t.Errorf("%s: file %q, want %q", m.what, w[1], broken)
		}
		if n, _ := strconv.Atoi(w[2]); n != m.line {
			t.Errorf("%s: reported at line %s, the mistake is on line %d: %q", m.what, w[2], m.line, p)
		}
	}
	if !found {
		t.Errorf("%s is not reported; problems:\n%v", m.what, err)
	}
}

// `config check` once said OK to files the server then refused, accepted out-of-range
// values, and reported missing environment variables one run at a time. Every one of
// these mistakes is now reported in one run, each on its own line of the file.
func TestConfigCheckRunsEveryStartupCheck(t *testing.T) {
	for _, v := range []string{"CREDIT_DB_PASSWORD", "AMR_API_KEY"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	mistakes := []struct{ from, to, message string }{
		{"          - 310115-PSB-RK01-001    # Citizen.idNumber", "          - 310115-PSB-RK01-999", "310115-PSB-RK01-999 is not in the catalogue"},
		{"          - 310115-PSB-RK01-002    # Citizen.name", "          - 310115-PSB-RK01-007", "310115-PSB-RK01-007 is NONE"},
		{"  redisAddr: redis.gateway.pudong.internal:6379", "  redisAddr: redis.gateway.pudong.internal", "redis address"},
		{"  dsn: postgres://gateway@pg.gateway.pudong.internal:5432/gateway?sslmode=verify-full&application_name=pudong-gateway",
			"  dsn: postgres://gateway@pg.gateway.pudong.internal:5432/gateway?sslmode=sometimes", "not a PostgreSQL connection string"},
		{"addr: 0.0.0.0:8080          # behind the load balancer; TLS ends there", "addr: 0.0.0.0:99999", "want a number from 0 to 65535"},
		{"metricsAddr: 10.0.8.5:9090  # /metrics on the operators' network only, for Prometheus", "metricsAddr: 10.0.8.5", `metricsAddr: "10.0.8.5" is not HOST:PORT`},
		{"  depth: 10", "  depth: -1", "limits.depth: must not be negative"},
		{"  maxRecords: 200000", "  maxRecords: -5", "cache.maxRecords: must not be negative"},
		{"  level: info", "  level: verbose", `log.level: level "verbose"`},
		{"    dsn: gw_readonly:${CREDIT_DB_PASSWORD}@tcp(xyk-db.xyzx.pudong.internal:3306)/credit?charset=utf8mb4&timeout=2s&readTimeout=3s", "", "${CREDIT_DB_PASSWORD} is not set"},
		{"      keyEnv: AMR_API_KEY", "", "AMR_API_KEY is not set"},
		{"introspection: false", "seal: {keyFile: keys/no-such-seal-key.pem}", "no-such-seal-key.pem"},
	}
	orig, err := os.ReadFile(filepath.Join(examplesDir, "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(orig), "\n")
	lineOf := map[string]int{}
	for _, m := range mistakes {
		i := slices.Index(lines, m.from)
		if i < 0 {
			t.Fatalf("the example has no line %q", m.from)
		}
		if m.to != "" {
			lines[i] = m.to
		}
		lineOf[m.message] = i + 1
	}
	path, err := checkBroken(t, lines)
	for msg, line := range lineOf {
		want := fmt.Sprintf("%s:%d: ", path, line)
		found := false
		for _, p := range strings.Split(err.Error(), "\n") {
			if strings.Contains(p, msg) {
				found = true
				if !strings.HasPrefix(strings.TrimSpace(p), want) {
					t.Errorf("%q is reported as %q, want it at %s", msg, strings.TrimSpace(p), want)
				}
			}
		}
		if !found {
			t.Errorf("%q is not reported", msg)
		}
	}
}

// checkBroken writes lines as broken.yaml beside a copy of what the example names, runs
// `config check` on it and returns its path and the error, which must not be nil.
func checkBroken(t *testing.T, lines []string) (string, error) {
	t.Helper()
	path := filepath.Join(copyExampleBeside(t), "broken.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"config", "check", path}, os.Getenv, &out)
	if err == nil {
		t.Fatalf("config check passed a broken file: %s", out.String())
	}
	t.Log(err) // shown with -v: what an operator sees
	return path, err
}

// copyExampleBeside copies what examples/production.yaml names (catalogue, keys,
// allowlist) into a new directory, for broken copies of the file to sit beside.
func copyExampleBeside(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"catalog", "keys"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(examplesDir, sub))); err != nil {
			t.Fatal(err)
		}
	}
	allowlist, err := os.ReadFile(filepath.Join(examplesDir, "citizen-portal.allowlist.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "citizen-portal.allowlist.json"), allowlist, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The command in the example's header works as written, in an environment without the
// secrets (it once failed unless both variables were set beforehand).
func TestProductionExampleHeaderCommand(t *testing.T) {
	for _, v := range []string{"CREDIT_DB_PASSWORD", "AMR_API_KEY"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	data, err := os.ReadFile(filepath.Join(examplesDir, "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var command string
	for _, line := range strings.Split(string(data), "\n") {
		if l := strings.TrimSpace(strings.TrimPrefix(line, "#")); strings.Contains(l, "gateway config check ") {
			command = l
			break
		}
	}
	fields := strings.Fields(command)
	i := slices.Index(fields, "gateway")
	if i < 0 || fields[i+1] != "config" {
		t.Fatalf("the header has no config check command: %q", command)
	}
	for _, assign := range fields[:i] {
		k, v, ok := strings.Cut(assign, "=")
		if !ok {
			t.Fatalf("%q in %q is not NAME=value", assign, command)
		}
		t.Setenv(k, v)
	}
	args := fields[i+1:]
	args[len(args)-1] = filepath.Join(examplesDir, "production.yaml") // run from the repository root
	var out bytes.Buffer
	if err := run(t.Context(), args, os.Getenv, &out); err != nil || !strings.Contains(out.String(), ": OK (") {
		t.Errorf("%s: %v\n%s", command, err, out.String())
	}
}

// What `gateway sim` writes (the demo issuer and key, introspection on) once started
// silently as mode=production. Now it needs allowUnsafe to say so; without it the demo
// issuer and key are refused, introspection is warned about, and so is a key file anyone
// may replace.
func TestProductionRefusesDemoKeysUnlessAllowed(t *testing.T) {
	g := e2e.Start(t)
	dataDir := t.TempDir()
	demo, err := config.Demo(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "sim"), 0o700); err != nil {
		t.Fatal(err)
	}
	path, err := writeSimConfig(dataDir, demo, g.Cfg.Departments)
	if err != nil {
		t.Fatal(err)
	}
	check := func() (string, error) {
		var out bytes.Buffer
		err := run(t.Context(), []string{"config", "check", path}, os.Getenv, &out)
		return out.String(), err
	}
	if out, err := check(); err != nil || strings.Contains(out, "warning") {
		t.Fatalf("what gateway sim writes, with its allowUnsafe: %v\n%s", err, out)
	}

	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stripped := regexp.MustCompile(`(?m)^allowUnsafe:\n(\s+- .*\n)+`).ReplaceAll(written, nil)
	if bytes.Equal(stripped, written) {
		t.Fatalf("no allowUnsafe in what gateway sim writes:\n%s", written)
	}
	if err := os.WriteFile(path, stripped, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := check()
	if err == nil || !strings.Contains(err.Error(), "auth.issuer: \"pudong-gateway-demo\" is the demo issuer") ||
		!strings.Contains(err.Error(), "is the demo signing key") {
		t.Errorf("the demo issuer and key without allowUnsafe: %v", err)
	}
	if !strings.Contains(out, "warning: ") || !strings.Contains(out, "introspection is on in production") {
		t.Errorf("introspection on in production is not warned about: %q", out)
	}
	// The server refuses it the same way, before it listens.
	if err := run(t.Context(), []string{"--config", path}, os.Getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "demo issuer") {
		t.Errorf("the server started with the demo issuer: %v", err)
	}

	// A world-writable key file is refused, whoever's key it is.
	withDemo := regexp.MustCompile(`(?m)^introspection: true\n`).ReplaceAll(stripped, []byte("introspection: true\nallowUnsafe: [demo-key]\n"))
	if err := os.WriteFile(path, withDemo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := check(); err != nil {
		t.Fatalf("with allowUnsafe: [demo-key]: %v", err)
	}
	key := auth.DemoPublicKeyFile(dataDir)
	if err := os.Chmod(key, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := check(); err == nil || !strings.Contains(err.Error(), "writable by everyone") {
		t.Errorf("a world-writable key file: %v", err)
	}
}
