package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentileNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, ms(float64(i)))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, ms(50)}, {90, ms(90)}, {99, ms(99)}, {100, ms(100)}, {0, ms(1)}, {0.5, ms(1)}, {99.5, ms(100)},
	} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("p%v of 1..100 ms = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
	one := []time.Duration{ms(7)}
	for _, p := range []float64{0, 50, 99, 100} {
		if got := percentile(one, p); got != ms(7) {
			t.Errorf("p%v of one value = %v, want 7ms", p, got)
		}
	}
	// Small samples: p99 of 10 values is the largest, p90 the ninth.
	ten := []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7), ms(8), ms(9), ms(10)}
	if got := percentile(ten, 90); got != ms(9) {
		t.Errorf("p90 of 10 = %v, want 9ms", got)
	}
	if got := percentile(ten, 99); got != ms(10) {
		t.Errorf("p99 of 10 = %v, want 10ms", got)
	}
}

func TestSummarizeSortsAndAverages(t *testing.T) {
	l := summarize([]time.Duration{ms(4), ms(1), ms(3), ms(2)})
	want := latencies{P50: 2, P90: 4, P99: 4, Max: 4, Mean: 2.5}
	if l != want {
		t.Errorf("summarize = %+v, want %+v", l, want)
	}
	if (summarize(nil) != latencies{}) {
		t.Error("summarize(nil) is not zero")
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	line := "4242 (gate way) (x)) S 17 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 5000 123456789 2048 18446744073709551615"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != 17 || st.UTime != 250 || st.STime != 75 {
		t.Errorf("parsed %+v, want ppid 17, utime 250, stime 75", st)
	}
	if _, err := parseProcStat("4242 gateway S 1 2"); err == nil {
		t.Error("a line without (comm) parsed")
	}
	if _, err := parseProcStat("4242 (gateway) S 1 2 3"); err == nil {
		t.Error("a truncated line parsed")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tgateway\nVmPeak:\t  900000 kB\nVmHWM:\t  131072 kB\nVmRSS:\t   65536 kB\nThreads:\t12\n"
	hwm, err := parseStatusKB(status, "VmHWM")
	if err != nil || hwm != 128<<20 {
		t.Errorf("VmHWM = %d, %v; want %d", hwm, err, 128<<20)
	}
	rss, err := parseStatusKB(status, "VmRSS")
	if err != nil || rss != 64<<20 {
		t.Errorf("VmRSS = %d, %v; want %d", rss, err, 64<<20)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("a missing key parsed")
	}
	if _, err := parseStatusKB(status, "Threads"); err == nil {
		t.Error("a value without kB parsed as memory")
	}
}

// TestTreeUsage sums CPU and peak memory over a process and its children, in a fixture
// /proc where 10 has children 11 and 12 (12 has 13), and 20 is unrelated.
func TestTreeUsage(t *testing.T) {
	root := t.TempDir()
	write := func(pid, ppid, utime, stime, hwmKB, rssKB string) {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := pid + " (node) S " + ppid + " 1 1 0 -1 0 0 0 0 0 " + utime + " " + stime + " 0 0 20 0 1 0 1 1 1"
		os.WriteFile(filepath.Join(dir, "stat"), []byte(stat+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "status"), []byte("VmHWM:\t"+hwmKB+" kB\nVmRSS:\t"+rssKB+" kB\n"), 0o644)
	}
	write("10", "1", "100", "50", "1024", "512")
	write("11", "10", "200", "0", "2048", "1024")
	write("12", "10", "0", "100", "1024", "1024")
	write("13", "12", "50", "50", "1024", "1024")
	write("20", "1", "9999", "9999", "999999", "999999")
	os.MkdirAll(filepath.Join(root, "self"), 0o755) // not a pid
	defer func(old string) { procRoot = old }(procRoot)
	procRoot = root

	tree := processTree(10)
	if len(tree) != 4 {
		t.Fatalf("processTree(10) = %v, want 10 and its 3 descendants", tree)
	}
	u, err := treeUsage(10)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUSeconds != 5.5 { // (150+200+100+100) ticks / 100
		t.Errorf("CPU = %v s, want 5.5", u.CPUSeconds)
	}
	if u.PeakRSS != 5<<20 || u.RSS != 3.5*(1<<20) {
		t.Errorf("peak %d, rss %d; want %d, %d", u.PeakRSS, u.RSS, 5<<20, int64(3.5*(1<<20)))
	}
	if _, err := treeUsage(99); err == nil {
		t.Error("a missing process has usage")
	}
}

func TestDiffCounts(t *testing.T) {
	before := map[string]int64{"batch": 10, "get": 4, "list": 1}
	after := map[string]int64{"batch": 25, "get": 4, "list": 2, "byLegalRep": 3}
	got := diffCounts(before, after)
	want := map[string]int64{"batch": 15, "list": 1, "byLegalRep": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diffCounts = %v, want %v", got, want)
	}
	if n := sumCounts(got); n != 19 {
		t.Errorf("sum = %d, want 19", n)
	}
	if s := formatCounts(got); s != "batch=15 byLegalRep=3 list=1" {
		t.Errorf("formatCounts = %q", s)
	}
	if got := diffCounts(nil, map[string]int64{"QueryPerson": 2}); got["QueryPerson"] != 2 {
		t.Errorf("from nothing: %v", got)
	}
}

func TestParseUpstreamMetrics(t *testing.T) {
	text := `# HELP gateway_upstream_calls_total Calls to department systems.
# TYPE gateway_upstream_calls_total counter
gateway_upstream_calls_total{department="amr",operation="enterprise",outcome="ok"} 12
gateway_upstream_calls_total{department="amr",operation="list",outcome="ok"} 3
gateway_upstream_calls_total{department="credit",operation="bySubject",outcome="ok"} 7 1700000000000
gateway_upstream_calls_total{department="psb",operation="person",outcome="unavailable"} 1.5e+01
gateway_upstream_calls_total_other{department="amr"} 99
gateway_graphql_operations_total{type="query",operation="S1",outcome="ok"} 100
`
	got, present, err := parseUpstreamMetrics(strings.NewReader(text))
	if err != nil || !present {
		t.Fatalf("present %v, err %v", present, err)
	}
	want := map[string]int64{"amr": 15, "credit": 7, "psb": 15}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by department = %v, want %v", got, want)
	}
	_, present, _ = parseUpstreamMetrics(strings.NewReader("# TYPE gateway_upstream_calls_total counter\n"))
	if !present {
		t.Error("a declared counter without samples is not present")
	}
	_, present, _ = parseUpstreamMetrics(strings.NewReader("go_goroutines 12\n"))
	if present {
		t.Error("an exposition without the counter reports it present")
	}
}

func TestClassify(t *testing.T) {
	forbidden := `{"errors":[{"message":"not shared","extensions":{"code":"FORBIDDEN_FIELD"}}],"data":{"enterprise":{"insuredEmployees":null}}}`
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		expected string
		kind     string
		nexp     int
	}{
		{"ok", 200, `{"data":{"me":{"consumer":"x"}}}`, "", "", 0},
		{"http error", 429, `{"errors":[{"extensions":{"code":"RATE_LIMITED"}}]}`, "", "http 429", 0},
		{"expected forbidden", 200, forbidden, "FORBIDDEN_FIELD", "", 1},
		{"forbidden not expected", 200, forbidden, "", "graphql FORBIDDEN_FIELD", 0},
		{"other error besides expected", 200, `{"errors":[{"extensions":{"code":"FORBIDDEN_FIELD"}},{"extensions":{"code":"SOURCE_UNAVAILABLE"}}]}`, "FORBIDDEN_FIELD", "graphql SOURCE_UNAVAILABLE", 1},
		{"error without code", 200, `{"errors":[{"message":"boom"}]}`, "", "graphql (no code)", 0},
		{"not json", 200, `"errors" <html>`, "", "bad json", 0},
		// The quick check looks for the quoted key; data that merely contains the word is
		// parsed and has no errors array.
		{"the word errors in data", 200, `{"data":{"title":"errors"}}`, "", "", 0},
	} {
		o := classify(tc.status, []byte(tc.body), tc.expected)
		if o.kind != tc.kind || o.expected != tc.nexp {
			t.Errorf("%s: got %+v, want kind %q expected %d", tc.name, o, tc.kind, tc.nexp)
		}
	}
}

func TestLogLines(t *testing.T) {
	lines := []string{
		`time=2026-11-27T11:21:27.708Z level=INFO msg="department simulator started" department=psb protocol=soap addr=http://127.0.0.1:44677/PopulationService`,
		`time=2026-11-27T11:21:27.708Z level=INFO msg="department simulator started" department=amr protocol=rest addr=http://127.0.0.1:33071`,
		`time=2026-11-27T11:21:27.708Z level=INFO msg="department simulator started" department=hrss protocol=csv addr="csv drop /tmp/x/hrss-exports"`,
	}
	want := [][2]string{{"psb", "http://127.0.0.1:44677/PopulationService"}, {"amr", "http://127.0.0.1:33071"}, {"hrss", `"csv drop /tmp/x/hrss-exports"`}}
	for i, l := range lines {
		m := simLineRE.FindStringSubmatch(l)
		if m == nil || m[1] != want[i][0] || m[2] != want[i][1] {
			t.Errorf("line %d: %q", i, m)
		}
	}
	m := listeningRE.FindStringSubmatch(`time=2026-11-27T11:21:27.856Z level=INFO msg="gateway listening" mode=demo addr=127.0.0.1:36085 graphql=http://127.0.0.1:36085/graphql playground=http://127.0.0.1:36085/`)
	if m == nil || m[1] != "127.0.0.1:36085" {
		t.Errorf("listening line: %q", m)
	}
	m = simReadyRE.FindStringSubmatch(`A gateway for these simulators: go run ./cmd/gateway --config /tmp/d/sim/gateway.yaml`)
	if m == nil || m[2] != "/tmp/d/sim/gateway.yaml" {
		t.Errorf("sim ready line: %q", m)
	}
	for addr, base := range map[string]string{
		"http://127.0.0.1:44677/PopulationService": "http://127.0.0.1:44677",
		"http://127.0.0.1:33071":                   "http://127.0.0.1:33071",
	} {
		if got, err := simBase(addr); err != nil || got != base {
			t.Errorf("simBase(%q) = %q, %v", addr, got, err)
		}
	}
	if _, err := simBase("sqlite:/tmp/credit.db"); err == nil {
		t.Error("simBase accepted a non-HTTP address")
	}
}

func TestAMRKeyFromConfig(t *testing.T) {
	yaml := `addr: 127.0.0.1:8080
departments:
    - id: psb
      auth:
        key: not-this-one
    - id: amr
      name: 浦东新区市场监督管理局
      protocol: rest
      endpoint: http://127.0.0.1:46745
      auth:
        header: X-API-Key
        key: e61eceff7ee4657301bbfbc30560feef
      timeout: 3s
    - id: credit
`
	key, err := amrKeyFromConfig(yaml)
	if err != nil || key != "e61eceff7ee4657301bbfbc30560feef" {
		t.Errorf("key = %q, %v", key, err)
	}
	if _, err := amrKeyFromConfig("departments:\n    - id: psb\n"); err == nil {
		t.Error("no amr department, yet a key")
	}
}

func TestWithoutRateLimits(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ in, want string }{
		"no limits section": {"addr: x\n", "addr: x\nlimits:\n    rateLimitsOff: true\n"},
		"limits section":    {"limits:\n    depth: 12\nlog: {}\n", "limits:\n    rateLimitsOff: true\n    depth: 12\nlog: {}\n"},
		"consumers": {
			"consumers:\n    - name: online-hall\n      purpose: p\n    - name: playground\n      purpose: q\n    - name: supervision-platform\n      subjectLimit:\n        perRequest: 3\n        perMinute: 4\n",
			"consumers:\n    - name: online-hall\n      subjectLimit:\n          perRequest: 200\n          perMinute: 2147483647\n      purpose: p\n    - name: playground\n      purpose: q\n    - name: supervision-platform\n      subjectLimit:\n        perRequest: 3\n        perMinute: 4\nlimits:\n    rateLimitsOff: true\n",
		},
	} {
		src, dst := filepath.Join(dir, "in.yaml"), filepath.Join(dir, "out.yaml")
		os.WriteFile(src, []byte(tc.in), 0o600)
		if err := withoutRateLimits(src, dst); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(dst)
		if string(b) != tc.want {
			t.Errorf("%s: got %q, want %q", name, b, tc.want)
		}
	}
}

func TestParseLatency(t *testing.T) {
	for in, want := range map[string][2]time.Duration{
		"0":                  {0, 0},
		"realistic":          {20 * time.Millisecond, 8 * time.Millisecond},
		"psb=5ms,amr=1ms":    {5 * time.Millisecond, time.Millisecond},
		"amr=2ms":            {0, 2 * time.Millisecond},
		"psb=20ms, amr=8ms ": {20 * time.Millisecond, 8 * time.Millisecond},
	} {
		p, a, err := parseLatency(in)
		if err != nil || p != want[0] || a != want[1] {
			t.Errorf("parseLatency(%q) = %v, %v, %v", in, p, a, err)
		}
	}
	for _, bad := range []string{"fast", "credit=1ms", "psb=-1ms", "psb"} {
		if _, _, err := parseLatency(bad); err == nil {
			t.Errorf("parseLatency(%q) accepted", bad)
		}
	}
}

func TestScenarioBodies(t *testing.T) {
	s, ok := findScenario("s2u")
	if !ok {
		t.Fatal("S2u not found")
	}
	if b := s.bodies(false); len(b) != 1 || !strings.Contains(string(b[0]), e1) || strings.Contains(string(b[0]), "$key") {
		t.Errorf("S2u body: %s", b)
	}
	k := s.withKeys([]string{"A", "B", "C"})
	if k.Name != "S2u/K=3" || len(k.bodies(false)) != 3 {
		t.Errorf("withKeys: %s, %d bodies", k.Name, len(k.bodies(false)))
	}
	p, _ := findScenario("P")
	if b := p.bodies(true); !strings.Contains(string(b[0]), "legalRepEnterprises") {
		t.Errorf("the peer's body is not in its field names: %s", b)
	}
}

func TestEvaluateTargets(t *testing.T) {
	rows := []row{
		{Group: groupGateway, Scenario: "S2u", Mode: "warm", loadResult: loadResult{RPS: 450}},
		{Group: groupCeiling, Scenario: "S2u", Mode: "closed", loadResult: loadResult{RPS: 1000}},
		{Group: groupGateway, Scenario: "S1", Mode: "warm", loadResult: loadResult{RPS: 70}},
		{Group: groupNoAudit, Scenario: "S1", Mode: "warm", loadResult: loadResult{RPS: 100}},
		{Group: groupGateway, Scenario: "S1", Mode: "warm@50%", loadResult: loadResult{Rate: 35, Latency: latencies{P99: 3}}},
		{Group: groupGateway, Scenario: "S3", Mode: "cold", UpstreamPerReq: map[string]float64{"amr": 1, "credit": 1, "psb": 48}},
		{Group: groupGateway, Scenario: "S3", Mode: "warm", UpstreamPerReq: map[string]float64{"amr": 0, "psb": 0.02}},
		{Group: groupPeer, Scenario: "P", Mode: "closed", loadResult: loadResult{RPS: 100}, PeakRSSMiB: 400},
		{Group: groupGatewaySim, Scenario: "P", Mode: "cold", loadResult: loadResult{RPS: 1000}, PeakRSSMiB: 100},
		{Group: groupGatewaySim, Scenario: "P", Mode: "warm", loadResult: loadResult{RPS: 2400}, PeakRSSMiB: 100},
	}
	got := map[string]bool{}
	for _, tc := range evaluateTargets(rows, 48) {
		if tc.Holds != nil {
			got[tc.Name] = *tc.Holds
		}
	}
	want := map[string]bool{
		"warm S2u vs the ceiling (req/s)":         true,
		"audit on vs off, S1 warm (req/s)":        false,
		"warm p99 at half the max throughput, S1": true,
		"S3 cold upstream calls":                  true,
		"S3 warm upstream calls":                  false,
		"cold vs the peer (req/s)":                true,
		"cold vs the peer (peak RSS)":             true,
		"warm vs the peer (req/s)":                false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets = %v, want %v", got, want)
	}
}
