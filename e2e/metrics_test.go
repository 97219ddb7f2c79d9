package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/config"
)

// metricNameRE finds the gateway's, the Go runtime's and the process's metric names in
// PromQL and in the operator's guide.
var metricNameRE = regexp.MustCompile(`\b(?:gateway|go|process)_[a-z0-9_]+\b`)

// exposedNames scrapes /metrics and returns every series name (histograms with their
// _bucket, _sum and _count series).
func exposedNames(g *Gateway) map[string]bool {
	names := map[string]bool{}
	for _, l := range strings.Split(g.metrics(), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, _, _ := strings.Cut(l, "{")
		name, _, _ = strings.Cut(name, " ")
		names[name] = true
	}
	return names
}

// trafficForMetrics makes the gateway produce a series of every metric: department
// calls, policy decisions, audit commits, a refused request.
func trafficForMetrics(t *testing.T) *Gateway {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(idp.Close)
	g := Start(t, func(c *config.Config) {
		c.Auth.JWKSURL = idp.URL           // down: counted, and the demo key still works
		c.Limits.RedisAddr = "127.0.0.1:1" // unreachable: the limits fall back to local, and say so
		for i := range c.Consumers {
			if c.Consumers[i].Name == "ipudong-portal" {
				c.Consumers[i].RateLimit = &config.Rate{PerSecond: 0.01, Burst: 1}
			}
		}
	})
	hall := g.Token("online-hall")
	g.Post(hall, `query Reps { enterprises(first: 3) { edges { node { name legalRepresentative { name phone } creditRecords { kind } } } } }`, nil)
	citizen := g.Token("ipudong-portal", "310115198503120012")
	g.Post(citizen, `{ citizen(idNumber: "310115198503120012") { name socialInsurance { status } } }`, nil)
	if r := g.Post(citizen, `{ me { consumer } }`, nil); r.Status != http.StatusTooManyRequests {
		t.Fatalf("want a refused request for the rate limit metric: %d", r.Status)
	}
	return g
}

// Every metric the shipped Grafana dashboard and the operator's guide use exists on
// /metrics under that name: renaming one breaks this test, not an operator's dashboard.
func TestDashboardAndGuideMetricsExist(t *testing.T) {
	g := trafficForMetrics(t)
	exposed := exposedNames(g)

	data, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	used := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metricNameRE.FindAllString(tg.Expr, -1) {
				used++
				if !exposed[name] {
					t.Errorf("dashboard panel %q uses %s, which /metrics does not expose", p.Title, name)
				}
			}
		}
	}
	if used < 20 {
		t.Errorf("the dashboard uses only %d metric references", used)
	}

	guide, err := os.ReadFile("../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, l := range strings.Split(string(guide), "\n") {
		if strings.HasPrefix(l, "| `gateway_") {
			name := strings.Trim(strings.SplitN(l, "|", 3)[1], " `")
			listed = append(listed, name)
			if !exposed[name] && !exposed[name+"_count"] {
				t.Errorf("the operator's guide lists %s, which /metrics does not expose", name)
			}
		}
	}
	// And the other way round: every gateway metric is documented.
	for name := range exposed {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "gateway_") && !slices.Contains(listed, base) && !slices.Contains(listed, name) {
			t.Errorf("%s is exposed but not in the operator's guide's table", name)
		}
	}
}

// The conventions: counters end in _total, durations are in seconds, the breaker is one
// series per state, HTTP codes are numbers, and client-chosen operation names cannot
// multiply series without bound.
func TestMetricConventions(t *testing.T) {
	g := trafficForMetrics(t)
	text := g.metrics()
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "gateway_") {
			switch f[3] {
			case "counter":
				if !strings.HasSuffix(f[2], "_total") {
					t.Errorf("counter %s lacks _total", f[2])
				}
			case "histogram":
				if !strings.HasSuffix(f[2], "_seconds") {
					t.Errorf("histogram %s is not in seconds", f[2])
				}
			case "gauge":
				if strings.HasSuffix(f[2], "_total") {
					t.Errorf("gauge %s ends in _total", f[2])
				}
			}
		}
	}
	for _, want := range []string{
		`gateway_breaker_state{department="psb",state="closed"} 1`,
		`gateway_breaker_state{department="psb",state="open"} 0`,
		`gateway_http_requests_total{code="200",route="/graphql"}`,
		`gateway_http_requests_total{code="429",route="/graphql"}`,
		`gateway_ratelimit_refused_total{consumer="ipudong-portal",limit="end_user"} 1`,
		`gateway_ratelimit_shared 1`,
		`gateway_ratelimit_degraded 1`,
		`gateway_jwks_fetch_failures_total 1`,
		`gateway_graphql_operations_total{operation="Reps",outcome="partial",type="query"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	hall := g.Token("online-hall")
	for i := range 250 {
		g.Post(hall, `query Op`+strings.Repeat("x", i%7)+string(rune('A'+i%26))+string(rune('a'+i/26))+` { me { consumer } }`, nil)
	}
	ops := 0
	for _, l := range strings.Split(g.metrics(), "\n") {
		if strings.HasPrefix(l, "gateway_graphql_operations_total{") {
			ops++
		}
	}
	if ops > 210 || !strings.Contains(g.metrics(), `operation="other"`) {
		t.Errorf("%d operation series after 250 distinct names: want at most about 200 and the rest as \"other\"", ops)
	}
}
