package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/server"
)

// Automatic persisted queries, as Apollo Client sends them: hash first, then hash and
// text, then hash alone, by POST and by GET.
func TestAutomaticPersistedQueries(t *testing.T) {
	g := Start(t)
	tok := g.Token("online-hall")
	query := `{ enterprise(creditCode: "91310115MA1FL0AB0P") { name } }`
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": server.QueryHash(query)}}
	post := func(body map[string]any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		_, raw := g.Do(req)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return out
	}
	r := post(map[string]any{"extensions": ext})
	if !strings.Contains(toJSON(r), "PersistedQueryNotFound") {
		t.Fatalf("unknown hash: %v", r)
	}
	if r := post(map[string]any{"query": query, "extensions": ext}); !strings.Contains(toJSON(r), "上海浦江智联科技有限公司") {
		t.Fatalf("hash with text: %v", r)
	}
	if r := post(map[string]any{"extensions": ext}); !strings.Contains(toJSON(r), "上海浦江智联科技有限公司") {
		t.Fatalf("hash alone after registration: %v", r)
	}
	extJSON, _ := json.Marshal(ext)
	req, _ := http.NewRequest(http.MethodGet, g.Srv.URL+"/graphql?extensions="+URLQueryEscape(string(extJSON)), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if res, raw := g.Do(req); res.StatusCode != 200 || !bytes.Contains(raw, []byte("上海浦江智联科技有限公司")) {
		t.Errorf("persisted query by GET: %d %s", res.StatusCode, raw)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// Per end user and per consumer rate limits answer 429 with Retry-After; a busy service
// backend is not throttled by a limit meant for one person.
func TestRateLimits(t *testing.T) {
	g := Start(t, func(c *config.Config) {
		for i := range c.Consumers {
			if c.Consumers[i].Name == "ipudong-portal" {
				c.Consumers[i].RateLimit = &config.Rate{PerSecond: 0.5, Burst: 3}
			}
		}
	})
	citizen := g.Token("ipudong-portal", "310115198503120012")
	other := g.Token("ipudong-portal", "310115199001010029")
	q := `{ me { consumer } }`
	var limited *Resp
	for i := 0; i < 5; i++ {
		r := g.Post(citizen, q, nil)
		if r.Status == http.StatusTooManyRequests {
			limited = &r
			break
		}
	}
	if limited == nil {
		t.Fatal("a citizen's session over its limit was not refused")
	}
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 || limited.Errors[0].Extensions["code"] != errcode.RateLimited {
		t.Errorf("429 needs Retry-After and a code: %v %s", limited.Header, limited.Raw)
	}
	if r := g.Post(other, q, nil); r.Status != http.StatusOK {
		t.Errorf("another citizen of the same app is not throttled: %d", r.Status)
	}
	hall := g.Token("online-hall")
	for i := 0; i < 200; i++ {
		if r := g.Post(hall, q, nil); r.Status != http.StatusOK {
			t.Fatalf("the online hall was throttled after %d requests: %d", i, r.Status)
		}
	}
}

// CORS: preflights for known origins; a consumer's token is usable only from its own
// origins.
func TestCORS(t *testing.T) {
	g := Start(t)
	pre, _ := http.NewRequest(http.MethodOptions, g.Srv.URL+"/graphql", nil)
	pre.Header.Set("Origin", "http://localhost:8080")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	if res, _ := g.Do(pre); res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8080" {
		t.Errorf("preflight from the portal's origin: %d %v", res.StatusCode, res.Header)
	}
	pre.Header.Set("Origin", "https://evil.example")
	if res, _ := g.Do(pre); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unknown origin: %d %v", res.StatusCode, res.Header)
	}
	call := func(token, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", strings.NewReader(`{"query":"{ me { consumer } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Origin", origin)
		res, _ := g.Do(req)
		return res
	}
	if res := call(g.Token("ipudong-portal", "310115198503120012"), "http://localhost:8080"); res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("the portal from its origin: %d", res.StatusCode)
	}
	if res := call(g.Token("online-hall"), "http://localhost:8080"); res.StatusCode != http.StatusForbidden {
		t.Errorf("a backend's token from a browser page must be refused: %d", res.StatusCode)
	}
}

// The runtime profiles are checked like /graphql: a token whose claims go beyond its
// consumer's configuration (the playground's, claiming the CIO office's role) is refused
// there too, and the CIO office's own token is let in.
func TestProfilesCheckTheTokensClaims(t *testing.T) {
	g := StartWith(t, app.Options{Pprof: true})
	get := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, g.Srv.URL+"/debug/pprof/cmdline", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, _ := g.Do(req)
		return res.StatusCode
	}
	if s := get(g.TokenWith(auth.Claims{Consumer: "playground", Purpose: "exploration", Roles: []string{"cio"}})); s == http.StatusOK {
		t.Errorf("a playground token claiming the cio role reads the profiles: %d", s)
	}
	if s := get(g.TokenWith(auth.Claims{Consumer: "playground", Purpose: "exploration", Dept: "psb", Roles: []string{"auditor"}})); s == http.StatusOK {
		t.Errorf("a playground token claiming psb's auditor reads the profiles: %d", s)
	}
	if s := get(g.Token("cio-console")); s != http.StatusOK {
		t.Errorf("the CIO office: %d", s)
	}
}
