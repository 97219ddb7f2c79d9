package main

import (
	"bytes"
	"io"
	"math"
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
