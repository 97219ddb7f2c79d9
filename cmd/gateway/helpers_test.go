package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/logging"
)

// testSize keeps the simulators' bulk data small so every test starts in well under a
// second; the fixtures are always there.
var testSize = dataset.Size{Citizens: 300, Enterprises: 120, CreditRecords: 400}

// tg is a gateway assembled in-process over real simulators, as the demo mode runs it.
type tg struct {
	t     testing.TB
	cfg   *config.Config
	sims  *legacysim.Sims
	parts *app.Gateway
	srv   *httptest.Server
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTG starts simulators and a gateway; adjust may change the configuration first.
func newTG(t testing.TB, adjust ...func(*config.Config)) *tg {
	t.Helper()
	return newTGWith(t, app.Options{}, adjust...)
}

// newTGWith is newTG with the switches that are not configuration (app.Options), such as
// audit recording off for benchmarks.
func newTGWith(t testing.TB, opts app.Options, adjust ...func(*config.Config)) *tg {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	logs := &syncBuffer{}
	log := logging.New(logs, "text", "debug") // the gateway's own: request and trace ids on request lines
	sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(dir, "sim"), Size: testSize, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Departments = sims.Bindings
	// Tests share few end users across many requests: the budget of distinct people is
	// raised here and tested with its defaults in policy_test.go (restoreSubjectLimits).
	for i := range cfg.Consumers {
		cfg.Consumers[i].SubjectLimit = &config.SubjectLimit{PerRequest: 10_000, PerMinute: 1_000_000}
	}
	for _, f := range adjust {
		f(cfg)
	}
	parts, err := app.New(ctx, cfg, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(parts.Handler)
	t.Cleanup(func() {
		srv.Close()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		parts.Close(cctx)
		sims.Close(cctx)
	})
	return &tg{t: t, cfg: cfg, sims: sims, parts: parts, srv: srv, logs: logs}
}

// token mints a demo token for a consumer; citizen is for self-service consumers.
func (g *tg) token(consumer string, citizen ...string) string {
	g.t.Helper()
	id := ""
	if len(citizen) > 0 {
		id = citizen[0]
	}
	tok, err := app.DemoMinter(g.cfg)(consumer, id)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

// gqlResp is a GraphQL response with the raw bytes kept for leak checks.
type gqlResp struct {
	Status     int
	Raw        []byte
	Data       map[string]any `json:"data"`
	Errors     []gqlErr       `json:"errors"`
	Extensions map[string]any `json:"extensions"`
	Header     http.Header    `json:"-"`
}

type gqlErr struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// post sends a GraphQL request with a bearer token.
func (g *tg) post(token, query string, vars map[string]any) gqlResp {
	g.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := gqlResp{Status: res.StatusCode, Raw: raw, Header: res.Header}
	if err := json.Unmarshal(raw, &out); err != nil {
		g.t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
	}
	return out
}

// errorAt returns the error at a path like "citizen.phone", or nil.
func (r gqlResp) errorAt(path string) *gqlErr {
	for i := range r.Errors {
		parts := make([]string, len(r.Errors[i].Path))
		for j, p := range r.Errors[i].Path {
			switch v := p.(type) {
			case string:
				parts[j] = v
			case float64:
				parts[j] = strings.TrimSuffix(strings.TrimSuffix(json.Number(jsonNum(v)).String(), ".0"), ".")
			}
		}
		if strings.Join(parts, ".") == path {
			return &r.Errors[i]
		}
	}
	return nil
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// get walks the data by a dotted path with numeric list indexes.
func (r gqlResp) get(path string) any {
	var cur any = r.Data
	for _, p := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

func (r gqlResp) str(path string) string {
	s, _ := r.get(path).(string)
	return s
}

// tokenWith mints a demo token with explicit claims.
func (g *tg) tokenWith(c auth.Claims) string {
	g.t.Helper()
	key, err := auth.LoadOrCreateDemoKey(g.cfg.DataDir)
	if err != nil {
		g.t.Fatal(err)
	}
	kid, _ := auth.KeyID(key.Public())
	if c.Subject == "" {
		c.Subject = "test-user"
	}
	tok, err := auth.Mint(key, kid, c, time.Now())
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

// tokenWithPurpose mints a token for a demo consumer with another purpose.
func (g *tg) tokenWithPurpose(consumer, purpose string) string {
	c := g.cfg.Consumer(consumer)
	return g.tokenWith(auth.Claims{Consumer: c.Name, Purpose: purpose, Dept: c.Dept, Roles: c.Roles})
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// restoreSubjectLimits gives every consumer its configured budget of distinct people back.
func restoreSubjectLimits(cfg *config.Config) {
	demo, _ := config.Demo(cfg.DataDir)
	for i := range cfg.Consumers {
		cfg.Consumers[i].SubjectLimit = nil
		if d := demo.Consumer(cfg.Consumers[i].Name); d != nil {
			cfg.Consumers[i].SubjectLimit = d.SubjectLimit
		}
	}
}
