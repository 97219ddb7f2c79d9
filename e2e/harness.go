package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/adapters/csvdrop"
	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/internal/syncbuf"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/logging"
)

// TestSize keeps the simulators' bulk data small so every test starts in well under a
// second; the fixtures are always there.
var TestSize = dataset.Size{Citizens: 300, Enterprises: 120, CreditRecords: 400}

// Gateway is a gateway assembled in-process over real simulators, as the demo mode runs it.
type Gateway struct {
	T     testing.TB       // the test that started it; helpers fail it
	Cfg   *config.Config   // the configuration it was built from
	Sims  *legacysim.Sims  // the department simulators behind it
	Parts *app.Gateway     // the assembled application
	Srv   *httptest.Server // the HTTP server in front of Parts.Handler
	Logs  *SyncBuffer      // everything the gateway logged
}

// SyncBuffer is a buffer that concurrent writers (the gateway's logger) may share.
type SyncBuffer = syncbuf.Buffer

// Start starts simulators and a gateway; adjust may change the configuration first.
func Start(t testing.TB, adjust ...func(*config.Config)) *Gateway {
	t.Helper()
	return StartWith(t, app.Options{}, adjust...)
}

// StartWith is Start with the switches that are not configuration (app.Options), such as
// audit recording off for benchmarks.
func StartWith(t testing.TB, opts app.Options, adjust ...func(*config.Config)) *Gateway {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	logs := &SyncBuffer{}
	log := logging.New(logs, "text", "debug") // the gateway's own: request and trace ids on request lines
	sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(dir, "sim"), Size: TestSize, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Departments = settleAtOnce(sims.Bindings)
	// Tests share few end users across many requests: the budget of distinct people is
	// raised here and tested with its defaults in policy_test.go (RestoreSubjectLimits).
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
	return &Gateway{T: t, Cfg: cfg, Sims: sims, Parts: parts, Srv: srv, Logs: logs}
}

// settleAtOnce returns bindings whose CSV exports are read as soon as the gateway finds
// them. The simulators' export is whole before the gateway starts (written under a
// temporary name, renamed, then its marker), so waiting for it to settle, which guards
// an export still being written (docs/operators.md, "CSV exports"), would only add the
// settle time (a second) to every test's start. The adapter's own tests keep it.
func settleAtOnce(bindings []config.Department) []config.Department {
	out := slices.Clone(bindings)
	for i := range out {
		if out[i].Protocol != config.ProtocolCSV {
			continue
		}
		ops := maps.Clone(out[i].Operations)
		for name, op := range ops {
			op.Params = maps.Clone(op.Params)
			op.Params[csvdrop.ParamSettle] = "0s"
			ops[name] = op
		}
		out[i].Operations = ops
	}
	return out
}

// Token mints a demo token for a consumer; citizen is for self-service consumers.
func (g *Gateway) Token(consumer string, citizen ...string) string {
	g.T.Helper()
	id := ""
	if len(citizen) > 0 {
		id = citizen[0]
	}
	tok, err := app.DemoMinter(g.Cfg)(consumer, id)
	if err != nil {
		g.T.Fatal(err)
	}
	return tok
}

// Resp is a GraphQL response with the raw bytes kept for leak checks.
type Resp struct {
	Status     int
	Raw        []byte
	Data       map[string]any `json:"data"`
	Errors     []RespError    `json:"errors"`
	Extensions map[string]any `json:"extensions"`
	Header     http.Header    `json:"-"`
}

// RespError is one GraphQL error of a Resp.
type RespError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Post sends a GraphQL request with a bearer token.
func (g *Gateway) Post(token, query string, vars map[string]any) Resp {
	g.T.Helper()
	r, err := PostFrom(http.DefaultClient, g.Srv.URL, token, query, vars)
	if err != nil {
		g.T.Fatal(err)
	}
	return r
}

// PostFrom sends a GraphQL request to the gateway at url from any goroutine: it never calls
// t.Fatal. A Resp with Raw set comes back with the error when the answer is not JSON.
func PostFrom(client *http.Client, url, token, query string, vars map[string]any) (Resp, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return Resp{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return Resp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return Resp{}, err
	}
	out := Resp{Status: res.StatusCode, Raw: raw, Header: res.Header}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("status %d, not JSON: %.200s", res.StatusCode, raw)
	}
	return out, nil
}

// ErrorAt returns the error at a path like "citizen.phone", or nil.
func (r Resp) ErrorAt(path string) *RespError {
	for i := range r.Errors {
		parts := make([]string, len(r.Errors[i].Path))
		for j, p := range r.Errors[i].Path {
			switch v := p.(type) {
			case string:
				parts[j] = v
			case float64:
				parts[j] = strings.TrimSuffix(strings.TrimSuffix(json.Number(JSONNum(v)).String(), ".0"), ".")
			}
		}
		if strings.Join(parts, ".") == path {
			return &r.Errors[i]
		}
	}
	return nil
}

// JSONNum formats a number as encoding/json writes it, for comparing raw answers.
func JSONNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// Get walks the data by a dotted path with numeric list indexes.
func (r Resp) Get(path string) any {
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

// Str is Get for a string value; "" when the path holds none.
func (r Resp) Str(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// TokenWith mints a demo token with explicit claims.
func (g *Gateway) TokenWith(c auth.Claims) string {
	g.T.Helper()
	key, err := auth.LoadOrCreateDemoKey(g.Cfg.DataDir)
	if err != nil {
		g.T.Fatal(err)
	}
	kid, _ := auth.KeyID(key.Public())
	if c.Subject == "" {
		c.Subject = "test-user"
	}
	tok, err := auth.Mint(key, kid, c, time.Now())
	if err != nil {
		g.T.Fatal(err)
	}
	return tok
}

// TokenWithPurpose mints a token for a demo consumer with another purpose.
func (g *Gateway) TokenWithPurpose(consumer, purpose string) string {
	c := g.Cfg.Consumer(consumer)
	return g.TokenWith(auth.Claims{Consumer: c.Name, Purpose: purpose, Dept: c.Dept, Roles: c.Roles})
}

// URLQueryEscape escapes a value for a URL query.
func URLQueryEscape(s string) string { return url.QueryEscape(s) }

// RestoreSubjectLimits gives every consumer its configured budget of distinct people back.
func RestoreSubjectLimits(cfg *config.Config) {
	demo, _ := config.Demo(cfg.DataDir)
	for i := range cfg.Consumers {
		cfg.Consumers[i].SubjectLimit = nil
		if d := demo.Consumer(cfg.Consumers[i].Name); d != nil {
			cfg.Consumers[i].SubjectLimit = d.SubjectLimit
		}
	}
}

// Do sends a request to the gateway and reads the whole answer.
func (g *Gateway) Do(req *http.Request) (*http.Response, []byte) {
	g.T.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// SharedCachePair starts two gateways sharing Redis under a prefix of their own, and
// has the first load 310115198503120012 into it. It skips when no Redis is configured.
func SharedCachePair(t *testing.T) (a, b *Gateway, prefix string) {
	t.Helper()
	addr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("GATEWAY_TEST_REDIS_ADDR is not set; set it (e.g. 127.0.0.1:6379) to run the shared-cache tests")
	}
	prefix = "gwtest:" + rand.Text()[:10] + ":"
	useRedis := func(c *config.Config) { c.Cache.RedisAddr, c.Cache.RedisPrefix = addr, prefix }
	a, b = Start(t, useRedis), Start(t, useRedis)
	if r := a.Post(a.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name } }`, nil); r.Str("citizen.name") != "张伟" {
		t.Fatal(string(r.Raw))
	}
	return a, b, prefix
}

// WaitUntil polls cond until it holds, failing t when it still does not after d.
func WaitUntil(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
