package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/server"
)

func (g *tg) do(req *http.Request) (*http.Response, []byte) {
	g.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// Automatic persisted queries, as Apollo Client sends them: hash first, then hash and
// text, then hash alone, by POST and by GET.
func TestAutomaticPersistedQueries(t *testing.T) {
	g := newTG(t)
	tok := g.token("online-hall")
	query := `{ enterprise(creditCode: "91310115MA1FL0AB0P") { name } }`
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": server.QueryHash(query)}}
	post := func(body map[string]any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		_, raw := g.do(req)
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
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/graphql?extensions="+urlQueryEscape(string(extJSON)), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if res, raw := g.do(req); res.StatusCode != 200 || !bytes.Contains(raw, []byte("上海浦江智联科技有限公司")) {
		t.Errorf("persisted query by GET: %d %s", res.StatusCode, raw)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// A production front end in allowlist mode may send only registered operations, by
// text or by hash; other consumers are unaffected.
func TestAllowlistMode(t *testing.T) {
	dir := t.TempDir()
	registered := "query Profile($id: ID!) { citizen(idNumber: $id) { name } }\n"
	os.WriteFile(filepath.Join(dir, "profile.graphql"), []byte(registered), 0o644)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"allowlist", "register", dir}, os.Getenv, &out); err != nil {
		t.Fatalf("register: %v %s", err, out.String())
	}
	// A file that does not validate is refused with its name.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "broken.graphql"), []byte("{ citizen { nosuchfield } }"), 0o644)
	if err := run(t.Context(), []string{"allowlist", "register", bad}, os.Getenv, &out); err == nil || !strings.Contains(err.Error(), "broken.graphql") {
		t.Errorf("an invalid operation must be refused naming its file: %v", err)
	}

	g := newTG(t, func(c *config.Config) {
		c.Allowlist = filepath.Join(dir, "allowlist.json")
		for i := range c.Consumers {
			if c.Consumers[i].Name == "ipudong-portal" {
				c.Consumers[i].AllowlistOnly = true
			}
		}
	})
	portal := g.token("ipudong-portal", "310115198503120012")
	vars := map[string]any{"id": "310115198503120012"}
	if r := g.post(portal, registered, vars); r.str("citizen.name") != "张伟" {
		t.Errorf("a registered operation: %s", r.Raw)
	}
	r := g.post(portal, `{ citizen(idNumber: "310115198503120012") { name phone } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != errcode.NotAllowlisted || r.get("citizen") != nil {
		t.Errorf("an unregistered operation: %s", r.Raw)
	}
	if r := g.post(g.token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name } }`, nil); r.str("citizen.name") != "张伟" {
		t.Errorf("consumers without allowlist mode are unaffected: %s", r.Raw)
	}
}

// Per end user and per consumer rate limits answer 429 with Retry-After; a busy service
// backend is not throttled by a limit meant for one person.
func TestRateLimits(t *testing.T) {
	g := newTG(t, func(c *config.Config) {
		for i := range c.Consumers {
			if c.Consumers[i].Name == "ipudong-portal" {
				c.Consumers[i].RateLimit = &config.Rate{PerSecond: 0.5, Burst: 3}
			}
		}
	})
	citizen := g.token("ipudong-portal", "310115198503120012")
	other := g.token("ipudong-portal", "310115199001010029")
	q := `{ me { consumer } }`
	var limited *gqlResp
	for i := 0; i < 5; i++ {
		r := g.post(citizen, q, nil)
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
	if r := g.post(other, q, nil); r.Status != http.StatusOK {
		t.Errorf("another citizen of the same app is not throttled: %d", r.Status)
	}
	hall := g.token("online-hall")
	for i := 0; i < 200; i++ {
		if r := g.post(hall, q, nil); r.Status != http.StatusOK {
			t.Fatalf("the online hall was throttled after %d requests: %d", i, r.Status)
		}
	}
}

// CORS: preflights for known origins; a consumer's token is usable only from its own
// origins.
func TestCORS(t *testing.T) {
	g := newTG(t)
	pre, _ := http.NewRequest(http.MethodOptions, g.srv.URL+"/graphql", nil)
	pre.Header.Set("Origin", "http://localhost:8080")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	if res, _ := g.do(pre); res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8080" {
		t.Errorf("preflight from the portal's origin: %d %v", res.StatusCode, res.Header)
	}
	pre.Header.Set("Origin", "https://evil.example")
	if res, _ := g.do(pre); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unknown origin: %d %v", res.StatusCode, res.Header)
	}
	call := func(token, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", strings.NewReader(`{"query":"{ me { consumer } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Origin", origin)
		res, _ := g.do(req)
		return res
	}
	if res := call(g.token("ipudong-portal", "310115198503120012"), "http://localhost:8080"); res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("the portal from its origin: %d", res.StatusCode)
	}
	if res := call(g.token("online-hall"), "http://localhost:8080"); res.StatusCode != http.StatusForbidden {
		t.Errorf("a backend's token from a browser page must be refused: %d", res.StatusCode)
	}
}
