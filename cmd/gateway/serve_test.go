package main

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestBenchNoRateLimitLiftsMinuteBudgets: the load-test flag turns the rate limits off and
// lifts each per-minute budget of people out of reach, keeping the per-request bounds and
// the consumers without a budget as they are; without the flag nothing changes.
func TestBenchNoRateLimitLiftsMinuteBudgets(t *testing.T) {
	data := t.TempDir()
	getenv := func(string) string { return "" }
	plain, err := parseServeFlags([]string{"--data", data}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _, err := plain.configure()
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseServeFlags([]string{"--data", data, "--bench-no-rate-limit"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	after, _, _, err := f.configure()
	if err != nil {
		t.Fatal(err)
	}
	if before.Limits.RateLimitsOff || !after.Limits.RateLimitsOff {
		t.Fatalf("rateLimitsOff: %v without the flag, %v with it", before.Limits.RateLimitsOff, after.Limits.RateLimitsOff)
	}
	lifted := 0
	for i, c := range before.Consumers {
		was, now := c.Subjects(), after.Consumers[i].Subjects()
		if now.PerRequest != was.PerRequest {
			t.Errorf("%s: per-request budget %d, want %d as configured", c.Name, now.PerRequest, was.PerRequest)
		}
		switch {
		case was.PerMinute == 0 && now.PerMinute != 0:
			t.Errorf("%s: unbounded consumer got a per-minute budget of %d", c.Name, now.PerMinute)
		case was.PerMinute > 0 && now.PerMinute != math.MaxInt32:
			t.Errorf("%s: per-minute budget %d, want it lifted", c.Name, now.PerMinute)
		case was.PerMinute > 0:
			lifted++
		}
	}
	if lifted == 0 {
		t.Fatal("no demo consumer has a per-minute budget to lift; the test proves nothing")
	}
}

// TestSimRefusesImpossibleSizes: the simulators say why a size cannot be generated
// instead of serving a registry of nonsense.
func TestSimRefusesImpossibleSizes(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "--citizens", "-1"},
		{"sim", "--enterprises", "-5"},
		{"sim", "--citizens", "30000000"},
	} {
		var out bytes.Buffer
		err := run(t.Context(), append(args, "--data", t.TempDir()), os.Getenv, &out)
		if err == nil || !strings.Contains(err.Error(), "dataset size") {
			t.Errorf("gateway %s: %v", strings.Join(args, " "), err)
		}
	}
}

// TestMetricsOnTheirOwnListener: with a metrics address, /metrics is served there and
// nowhere else, and that listener serves nothing but /metrics; the same address for both
// is refused before anything listens.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	c := startChild(t, "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	if !strings.HasSuffix(c.Metrics, "/metrics") || strings.HasPrefix(c.Metrics, c.URL+"/") {
		t.Fatalf("metrics announced at %s, want a listener of their own beside %s", c.Metrics, c.URL)
	}
	status := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := status(c.URL + "/healthz"); code != http.StatusOK {
		t.Fatalf("the API listener answers /healthz with %d", code)
	}
	if code, _ := status(c.URL + "/metrics"); code != http.StatusNotFound {
		t.Errorf("the API listener answers /metrics with %d, want 404", code)
	}
	code, body := status(c.Metrics)
	if code != http.StatusOK || !strings.Contains(body, `gateway_http_requests_total{code="200",route="/healthz"}`) {
		t.Errorf("the metrics listener answers %d without the API listener's requests:\n%.500s", code, body)
	}
	base := strings.TrimSuffix(c.Metrics, "/metrics")
	for _, path := range []string{"/graphql", "/healthz", "/readyz", "/", "/debug/pprof/"} {
		if code, _ := status(base + path); code != http.StatusNotFound {
			t.Errorf("the metrics listener answers %s with %d, want 404", path, code)
		}
	}

	f, err := parseServeFlags([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:9999", "--metrics-addr", "127.0.0.1:9999"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.configure(); err == nil || !strings.Contains(err.Error(), "listener of their own") {
		t.Errorf("one address for both: %v, want a refusal", err)
	}
}
