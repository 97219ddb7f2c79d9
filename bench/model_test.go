package main

import (
	"bytes"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestParseAssumptions(t *testing.T) {
	a, err := parseAssumptions("")
	if err != nil || a != defaultAssumptions {
		t.Fatalf("empty: %+v, %v; want the defaults", a, err)
	}
	a, err = parseAssumptions("systems=120, rps-per-system=2.5,cold=0.5,min-replicas=3,redis-ops=1e5")
	if err != nil {
		t.Fatal(err)
	}
	if a.Systems != 120 || a.PerSystemRPS != 2.5 || a.ColdShare != 0.5 || a.MinReplicas != 3 || a.RedisOps != 1e5 || a.PGCommits != defaultAssumptions.PGCommits {
		t.Errorf("parsed %+v", a)
	}
	if a.PeakRPS() != 300 {
		t.Errorf("peak = %v, want 120 × 2.5 = 300", a.PeakRPS())
	}
	for in, want := range map[string]string{
		"systems":            "not key=value",
		"colds=0.2":          `unknown key "colds"`,
		"cold=1.5":           "cold is a share",
		"cold=-0.1":          "cold is a share",
		"util=0":             "util is a share",
		"systems=0":          "systems must be at least 1",
		"systems=2.5":        "not a whole number",
		"pg-commits=-1":      "pg-commits must be above 0",
		"rps-per-system=x":   "not a number",
		"rps-per-system=NaN": "not a number",
		"min-replicas=0":     "min-replicas must be at least 1",
	} {
		if _, err := parseAssumptions(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", in, err, want)
		}
	}
}

func TestParseFlagsModel(t *testing.T) {
	o, err := parseFlags([]string{"-model", "-replicas-pg", "postgres://x/y", "-model-assume", "systems=10"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.model || o.cold2 || o.warm || o.ceiling || o.peer != "off" || o.assume.Systems != 10 {
		t.Errorf("-model: %+v; want every other phase off and the assumption read", o)
	}
	if o.duration != 5*time.Second || o.warmup != 2*time.Second {
		t.Errorf("-model without -duration: %v/%v, want the bounded 5s/2s", o.duration, o.warmup)
	}
	if o, _ := parseFlags([]string{"-model", "-replicas-pg", "postgres://x/y", "-duration", "20s"}, io.Discard); o.duration != 20*time.Second {
		t.Errorf("-model -duration 20s: %v", o.duration)
	}
	for _, args := range [][]string{
		{"-model"},
		{"-model", "-replicas-pg", "postgres://x/y", "-scale"},
		{"-model", "-replicas-pg", "postgres://x/y", "-model-assume", "cold=2"},
		{"-model-assume", "nope=1"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
}

func TestMix(t *testing.T) {
	cold := requestCost{CPUMs: 10, PGCommits: 1, PGBytes: 2000, AuditEvents: 12, RedisOps: 8, DeptCalls: 5, SlowCalls: 1}
	warm := requestCost{CPUMs: 2, PGCommits: 0.5, PGBytes: 1000, AuditEvents: 12, DeptCalls: 0}
	m := mix(cold, warm, 0.25)
	want := requestCost{CPUMs: 4, PGCommits: 0.625, PGBytes: 1250, AuditEvents: 12, RedisOps: 2, DeptCalls: 1.25, SlowCalls: 0.25}
	if m != want {
		t.Errorf("mix = %+v, want %+v", m, want)
	}
	if mix(cold, warm, 0) != warm || mix(cold, warm, 1) != cold {
		t.Error("the shares 0 and 1 must give the warm and the cold cost")
	}
}

func TestReplicaArithmetic(t *testing.T) {
	if got := replicaRPS(2, 0.5, 4); got != 250 {
		t.Errorf("2 cores at 50 %% / 4 ms = %v req/s, want 250", got)
	}
	if !math.IsInf(replicaRPS(2, 0.5, 0), 1) {
		t.Error("a request costing no CPU: want unbounded")
	}
	for _, tc := range []struct {
		peak, per float64
		min, want int
	}{
		{1000, 250, 2, 4}, {1001, 250, 2, 5}, {100, 250, 2, 2}, {0, 250, 1, 1}, {1000, math.Inf(1), 3, 3},
	} {
		if got := replicasFor(tc.peak, tc.per, tc.min); got != tc.want {
			t.Errorf("replicasFor(%v, %v, %d) = %d, want %d", tc.peak, tc.per, tc.min, got, tc.want)
		}
	}
	if got := saturatesAt(5000, 0.5); got != 10000 {
		t.Errorf("5000 commits/s at 0.5 a request: saturates at %v, want 10000", got)
	}
	if !math.IsInf(saturatesAt(5000, 0), 1) {
		t.Error("no work per request: want never saturating")
	}
}

func TestBuildModel(t *testing.T) {
	a := assumptions{Systems: 100, PerSystemRPS: 10, ColdShare: 0.5, ReplicaCores: 2, TargetUtil: 0.5, MinReplicas: 2,
		PGCommits: 2000, PGWriteMBs: 10, RedisOps: 50000, DeptCallsPerS: 300}
	cold := requestCost{CPUMs: 6, PGCommits: 1, PGBytes: 4000, AuditEvents: 12, RedisOps: 20, DeptCalls: 6, SlowCalls: 2}
	warm := requestCost{CPUMs: 2, PGCommits: 1, PGBytes: 4000, AuditEvents: 12}
	m := buildModel(a, cold, warm)
	// Mixed: 4 ms CPU, 1 commit, 4000 B, 10 Redis commands, 1 PSB call a request.
	if m.PeakRPS != 1000 || !near(m.PerReplicaRPS, 250) || m.Replicas != 4 {
		t.Fatalf("peak %v, per replica %v, replicas %d; want 1000, 250, 4", m.PeakRPS, m.PerReplicaRPS, m.Replicas)
	}
	got := map[string]component{}
	for _, c := range m.Parts {
		got[c.Name] = c
	}
	for name, want := range map[string][3]float64{ // need, capacity, saturates at
		"gateway replicas (CPU)":   {4, 4, 1000},
		"PostgreSQL commits":       {1000, 2000, 2000},
		"PostgreSQL writes":        {4, 10, 2500},
		"Redis":                    {10000, 50000, 5000},
		"slowest department (PSB)": {1000, 300, 300},
	} {
		c, ok := got[name]
		if !ok || !near(c.Need, want[0]) || !near(c.Capacity, want[1]) || !near(c.SaturatesAt, want[2]) {
			t.Errorf("%s: %+v, want need %v capacity %v saturating at %v", name, c, want[0], want[1], want[2])
		}
	}
	if m.First.Name != "slowest department (PSB)" {
		t.Errorf("first bottleneck %q, want the PSB (300 req/s)", m.First.Name)
	}
	// All warm: the PSB is never asked, so the store is the first shared part to fill.
	a.ColdShare = 0
	if m := buildModel(a, cold, warm); m.First.Name != "PostgreSQL commits" || m.Replicas != 2 {
		t.Errorf("all warm: first %q, replicas %d; want PostgreSQL commits, 2", m.First.Name, m.Replicas)
	}
	// Nothing shared does any work: the replicas are what saturates.
	if m := buildModel(a, requestCost{CPUMs: 1}, requestCost{CPUMs: 1}); m.First.Name != "gateway replicas (CPU)" {
		t.Errorf("nothing shared: first %q, want the replicas", m.First.Name)
	}
}

func TestWriteModelAndValidations(t *testing.T) {
	m := buildModel(defaultAssumptions, requestCost{CPUMs: 5, PGCommits: 1, SlowCalls: 1}, requestCost{CPUMs: 1, PGCommits: 1})
	var b bytes.Buffer
	writeModel(&b, m)
	one := &row{CPUPerReqMs: 1, CPUSeconds: 5, PerRequest: map[string]float64{ctrPGCommits: 0.5}, loadResult: loadResult{RPS: 1000, ElapsedSec: 5}}
	two := &row{CPUPerReqMs: 1.1, CPUSeconds: 8, PerRequest: map[string]float64{ctrPGCommits: 0.5}, loadResult: loadResult{RPS: 900, ElapsedSec: 4}}
	vs := validations(one, two, 24)
	writeValidations(&b, vs)
	out := b.String()
	for _, want := range []string{"peak 600 req/s", "measured 1.000", "cold=0.2", "First to saturate: slowest department (PSB)", "gateway CPU ms per request", "1.10", "(24 connections)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if vs[0].Model != 1 || vs[0].Seen != 1.1 || vs[len(vs)-2].Model != 1000 || vs[len(vs)-2].Seen != 900 || vs[len(vs)-1].Model != 1 || vs[len(vs)-1].Seen != 2 {
		t.Errorf("validations %+v", vs)
	}
}

func TestPerRequestAndCostOf(t *testing.T) {
	got := perRequest(map[string]float64{"a": 10, "b": 1}, map[string]float64{"a": 30, "b": 1, "c": 5}, 10)
	if len(got) != 2 || got["a"] != 2 || got["b"] != 0 {
		t.Errorf("perRequest = %v, want a=2 b=0 (c has no before)", got)
	}
	if perRequest(nil, map[string]float64{"a": 1}, 10) != nil || perRequest(map[string]float64{}, map[string]float64{}, 0) != nil {
		t.Error("a missing reading or no requests: want nil")
	}
	r := &row{CPUPerReqMs: 3, UpstreamPerReq: map[string]float64{"psb": 1, "amr": 2, "credit": 0.5},
		PerRequest: map[string]float64{ctrPGCommits: 0.2, ctrPGBytes: 900, ctrRedisOps: 4, ctrAuditEvents: 12}}
	if c := costOf(r); c != (requestCost{CPUMs: 3, PGCommits: 0.2, PGBytes: 900, AuditEvents: 12, RedisOps: 4, DeptCalls: 3.5, SlowCalls: 1}) {
		t.Errorf("costOf = %+v", c)
	}
}

func TestRedisInfoValue(t *testing.T) {
	info := "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:1234\r\n"
	if v, err := redisInfoValue(info, "total_commands_processed"); err != nil || v != 1234 {
		t.Errorf("= %v, %v; want 1234", v, err)
	}
	if _, err := redisInfoValue(info, "missing"); err == nil {
		t.Error("a missing field: want an error")
	}
	if _, err := redisInfoValue("x:abc\r\n", "x"); err == nil {
		t.Error("a non-number: want an error")
	}
}

func TestWithSetting(t *testing.T) {
	if got := withSetting("cache:\n    ttl: 5m\nstore: {}\n", "cache", "redisAddr: 127.0.0.1:1"); got != "cache:\n    redisAddr: 127.0.0.1:1\n    ttl: 5m\nstore: {}\n" {
		t.Errorf("into a section: %q", got)
	}
	if got := withSetting("addr: x", "cache", "redisAddr: y"); got != "addr: x\ncache:\n    redisAddr: y\n" {
		t.Errorf("a new section after a last line without newline: %q", got)
	}
}
