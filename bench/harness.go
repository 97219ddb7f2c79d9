package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"pudong.gov.cn/gateway/config"
)

// harness runs the suite and collects the rows.
type harness struct {
	o         *options
	log       io.Writer
	rep       *report
	bin       string // the gateway binary
	data      string // demo data directory, shared by the demo gateways one after another
	s2uBody   []byte // the gateway's answer to S2u, which the ceiling serves
	s2uType   string
	s3Persons int // distinct legal representatives among S3's 50 enterprises
	// noRateLimitFlag: the gateway has --bench-no-rate-limit (demo mode).
	noRateLimitFlag bool
	warmRPS         map[string]float64
	modelRun        *modelRun // the -model run's measurements
}

// system is something the load generator can drive and the harness can observe.
type system struct {
	group      string
	graphqlURL string
	baseURL    string // the gateway's base URL, for /metrics; "" for others
	pid        int
	psb, amr   string // simulator base URLs whose /_sim/stats count this system's calls
	dataDir    string // for `gateway token`; "" when the system takes no token
	peer       bool   // send the scenario's PeerQuery
	tokens     map[string]string
	// observe, when set, reads counters outside the gateway (the store's commits, Redis's
	// commands) around the measured window; the row has their change per request.
	observe func(context.Context) (map[string]float64, error)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "bench: "+format+"\n", args...)
}

func (h *harness) all(ctx context.Context) error {
	if err := h.build(ctx); err != nil {
		return err
	}
	if h.o.target != "" {
		return h.targetRun(ctx)
	}
	h.data = filepath.Join(h.o.tmp, "data")
	steps := []struct {
		on   bool
		name string
		fn   func(context.Context) error
	}{
		{h.o.cold2, "cold", h.coldPhase},
		{h.o.warm, "warm", h.warmPhase},
		{h.o.warm && h.o.noAudit, "audit off", h.noAuditPhase},
		{h.o.ceiling, "ceiling", h.ceilingPhase},
		{h.o.peer != "off", "peer", h.peerPhase},
		{len(h.o.growth) > 0, "growth", h.growthPhase},
		{h.o.replicasPG != "" && !h.o.model, "replicas", h.replicasPhase},
		{h.o.model, "model", h.modelPhase},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// build compiles cmd/gateway (go build -o), unless -gateway names a binary.
func (h *harness) build(ctx context.Context) error {
	if h.o.gatewayBin != "" {
		h.bin = h.o.gatewayBin
		return h.probeFlags(ctx)
	}
	h.bin = filepath.Join(h.o.tmp, "gateway")
	h.logf("building the gateway: go build -o %s ./cmd/gateway", h.bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", h.bin, "./cmd/gateway")
	cmd.Dir = h.o.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/gateway: %w\n%s", err, out)
	}
	return h.probeFlags(ctx)
}

// probeFlags asks the gateway's --help which load-test switches it has.
func (h *harness) probeFlags(ctx context.Context) error {
	out, _ := exec.CommandContext(ctx, h.bin, "--help").CombinedOutput()
	if !bytes.Contains(out, []byte("-no-cache")) {
		return fmt.Errorf("%s --help does not list --no-cache: not the gateway, or too old for this harness", h.bin)
	}
	h.noRateLimitFlag = bytes.Contains(out, []byte("-bench-no-rate-limit"))
	return nil
}

// withoutRateLimits writes a copy of a gateway configuration file with rate limits off
// (limits.rateLimitsOff) and the per-minute budget of people lifted for the service
// backends the scenarios call as, the production-file form of --bench-no-rate-limit: a
// closed loop of P reads thousands of people a minute, which the budget rightly refuses
// (docs/operators.md, consumers). The per-request bound stays at its default.
func withoutRateLimits(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	yaml := withSetting(string(b), "limits", "rateLimitsOff: true")
	for _, name := range []string{"online-hall", "supervision-platform"} {
		per := (&config.Consumer{Name: name}).Subjects().PerRequest
		yaml = withConsumerSetting(yaml, name,
			fmt.Sprintf("subjectLimit:\n    perRequest: %d\n    perMinute: %d", per, math.MaxInt32))
	}
	return os.WriteFile(dst, []byte(yaml), 0o600)
}

// withConsumerSetting adds a (possibly multi-line) setting to the consumer entry
// "- name: NAME" of a configuration written by the gateway's own marshalling, unless the
// entry already has that key; a file without the consumer is returned as it is.
func withConsumerSetting(yaml, name, setting string) string {
	key, _, _ := strings.Cut(setting, ":")
	var out strings.Builder
	lines := slices.Collect(strings.Lines(yaml))
	for i, line := range lines {
		out.WriteString(line)
		trimmed := strings.TrimRight(line, "\r\n")
		item := strings.TrimLeft(trimmed, " ")
		if item != "- name: "+name {
			continue
		}
		indent := strings.Repeat(" ", len(trimmed)-len(item)+2)
		if entryHasKey(lines[i+1:], indent, key) {
			continue
		}
		for l := range strings.Lines(setting) {
			out.WriteString(indent + strings.TrimRight(l, "\n") + "\n")
		}
	}
	return out.String()
}

// entryHasKey says whether the lines of one list entry, indented by indent, set key.
func entryHasKey(lines []string, indent, key string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, indent) {
			return false
		}
		if strings.HasPrefix(l, indent+key+":") {
			return true
		}
	}
	return false
}

// addSetting adds one setting to a top-level section of a configuration file in place.
func addSetting(path, section, setting string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(withSetting(string(b), section, setting)), 0o600)
}

// withSetting adds "setting" under the top-level "section:" of a configuration written
// by the gateway's own marshalling (four-space indents), or the section with it at the
// end when there is none. A line edit keeps the harness free of a YAML dependency.
func withSetting(yaml, section, setting string) string {
	var out strings.Builder
	found := false
	for line := range strings.Lines(yaml) {
		out.WriteString(line)
		if !found && strings.TrimRight(line, "\r\n") == section+":" {
			out.WriteString("    " + setting + "\n")
			found = true
		}
	}
	if !found {
		if yaml != "" && !strings.HasSuffix(yaml, "\n") {
			out.WriteString("\n")
		}
		out.WriteString(section + ":\n    " + setting + "\n")
	}
	return out.String()
}

// demoGateway starts the gateway in demo mode with extra flags and sets the simulators'
// latency.
func (h *harness) demoGateway(ctx context.Context, name string, extra ...string) (*gatewayProc, system, error) {
	args := append([]string{"--addr", "127.0.0.1:0", "--data", h.data}, extra...)
	if h.noRateLimitFlag {
		// The per-session limits (5 req/s for a citizen's session) would turn a load test
		// of one session into a test of the limiter.
		args = append(args, "--bench-no-rate-limit")
	}
	if h.o.profileDir != "" {
		args = append(args, "--pprof")
	}
	h.logf("starting %s: gateway %s", name, strings.Join(args, " "))
	g, err := startGateway(ctx, name, h.o.tmp, h.bin, args, h.o.startTimeout)
	if err != nil {
		return nil, system{}, err
	}
	h.logf("%s listening at %s (pid %d, started in %s)", name, g.URL, g.pid(), g.Startup.Round(time.Millisecond))
	if err := h.setLatency(ctx, g.PSB, g.AMR); err != nil {
		g.stop()
		return nil, system{}, err
	}
	return g, system{graphqlURL: g.URL + "/graphql", baseURL: g.URL, pid: g.pid(), psb: g.PSB, amr: g.AMR, dataDir: h.data, tokens: map[string]string{}}, nil
}

// simulators starts `gateway sim` alone on dataDir, with the run's department latency.
func (h *harness) simulators(ctx context.Context, dataDir string) (*simProc, error) {
	h.logf("starting the standalone simulators: gateway sim --data %s", dataDir)
	sim, err := startSim(h.o.tmp, h.bin, dataDir, nil, h.o.startTimeout)
	if err != nil {
		return nil, err
	}
	if err := h.setLatency(ctx, sim.PSB, sim.AMR); err != nil {
		sim.stop()
		return nil, err
	}
	return sim, nil
}

func (h *harness) setLatency(ctx context.Context, psb, amr string) error {
	if psb != "" {
		if err := setSimLatency(ctx, psb, h.o.psbLatency); err != nil {
			return err
		}
	}
	if amr != "" {
		if err := setSimLatency(ctx, amr, h.o.amrLatency); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) selected() []scenario {
	var out []scenario
	for _, n := range h.o.scenarios {
		s, _ := findScenario(n)
		out = append(out, s)
	}
	return out
}

func (h *harness) coldPhase(ctx context.Context) error {
	g, sys, err := h.demoGateway(ctx, "gateway-cold", "--no-cache")
	if err != nil {
		return err
	}
	defer g.stop()
	sys.group = groupGateway
	if err := h.captureS2u(ctx, &sys); err != nil {
		return err
	}
	if err := h.countS3Persons(ctx, &sys); err != nil {
		h.logf("counting S3's distinct persons: %v", err)
	}
	for _, s := range h.selected() {
		if _, err := h.measure(ctx, &sys, s, "cold", 0, h.o.cold); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) warmPhase(ctx context.Context) error {
	g, sys, err := h.demoGateway(ctx, "gateway-warm")
	if err != nil {
		return err
	}
	defer g.stop()
	sys.group = groupGateway
	if h.s2uBody == nil {
		if err := h.captureS2u(ctx, &sys); err != nil {
			return err
		}
	}
	h.warmRPS = map[string]float64{}
	for _, s := range h.selected() {
		r, err := h.measure(ctx, &sys, s, "warm", 0, h.o.warmup)
		if err != nil {
			return err
		}
		h.warmRPS[s.Name] = r.RPS
		if h.o.half && r.RPS > 0 {
			if _, err := h.measure(ctx, &sys, s, "warm@50%", r.RPS/2, time.Second); err != nil {
				return err
			}
		}
	}
	if len(h.o.cacheKeys) > 0 {
		return h.cacheKeysRuns(ctx, &sys)
	}
	return nil
}

func (h *harness) noAuditPhase(ctx context.Context) error {
	g, sys, err := h.demoGateway(ctx, "gateway-no-audit", "--bench-no-audit")
	if err != nil {
		return err
	}
	defer g.stop()
	sys.group = groupNoAudit
	for _, s := range h.selected() {
		if _, err := h.measure(ctx, &sys, s, "warm", 0, h.o.warmup); err != nil {
			return err
		}
	}
	return nil
}

// cacheKeysRuns drive S2u over K distinct enterprises, so that the cache holds K records.
func (h *harness) cacheKeysRuns(ctx context.Context, sys *system) error {
	maxK := 0
	for _, k := range h.o.cacheKeys {
		maxK = max(maxK, k)
	}
	codes, err := h.enterpriseCodes(ctx, sys, maxK)
	if err != nil {
		return fmt.Errorf("listing enterprises for the cache-size runs: %w", err)
	}
	base, _ := findScenario("S2u")
	for _, k := range h.o.cacheKeys {
		if k > len(codes) {
			h.logf("cache-keys %d: only %d enterprises exist; using %d", k, len(codes), len(codes))
			k = len(codes)
		}
		r, err := h.measure(ctx, sys, base.withKeys(codes[:k]), "warm", 0, h.o.warmup)
		if err != nil {
			return err
		}
		// What a cached enterprise costs, as the cache accounts it against cache.maxBytes.
		bytes, err1 := getGauges(ctx, sys.baseURL, "gateway_cache_bytes")
		entries, err2 := getGauges(ctx, sys.baseURL, "gateway_cache_entries")
		if err := errors.Join(err1, err2); err != nil {
			h.logf("cache-keys %d: reading the cache's gauges: %v", k, err)
		} else if entries["amr"] > 0 {
			r.CacheBytesPerEntry = bytes["amr"] / entries["amr"]
			r.Note = fmt.Sprintf("cache: %.0f AMR entries, %.0f B per entry (cache.maxBytes accounting)", entries["amr"], r.CacheBytesPerEntry)
			h.logf("  %s", r.Note)
		}
	}
	return nil
}

func (h *harness) ceilingPhase(ctx context.Context) error {
	if h.s2uBody == nil {
		h.rep.Skipped = append(h.rep.Skipped, "ceiling: no S2u answer was captured (run cold or warm too)")
		return nil
	}
	bodyPath := filepath.Join(h.o.tmp, "s2u-response.json")
	if err := os.WriteFile(bodyPath, h.s2uBody, 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c, err := startChild("ceiling", h.o.tmp, self, []string{"ceiling", "-body", bodyPath, "-content-type", h.s2uType}, nil, "",
		map[string]*regexp.Regexp{"listening": ceilingLineRE})
	if err != nil {
		return err
	}
	defer c.stop()
	m, err := c.await("listening", 30*time.Second)
	if err != nil {
		return err
	}
	sys := system{group: groupCeiling, graphqlURL: "http://" + m[2] + "/graphql", pid: c.pid()}
	s2u, _ := findScenario("S2u")
	r, err := h.measure(ctx, &sys, s2u, "closed", 0, h.o.warmup)
	if err != nil {
		return err
	}
	if h.o.half && r.RPS > 0 {
		_, err = h.measure(ctx, &sys, s2u, "@50%", r.RPS/2, time.Second)
	}
	return err
}

// peerPhase runs the standalone simulators, the peer over them, and our gateway over them
// (--config), with the peer's query.
func (h *harness) peerPhase(ctx context.Context) error {
	p, perr := findPeer(h.o.repo)
	if perr != nil && h.o.peer == "on" {
		return perr
	}
	simData := filepath.Join(h.o.tmp, "simdata")
	sim, err := h.simulators(ctx, simData)
	if err != nil {
		return err
	}
	defer sim.stop()
	ps, _ := findScenario("P")

	if perr != nil {
		msg := "peer: " + perr.Error()
		h.logf("skipping the %s", msg)
		h.rep.Skipped = append(h.rep.Skipped, msg)
	} else {
		h.rep.Machine.Node = p.version()
		supergraph := filepath.Join(h.o.tmp, "supergraph.graphql")
		h.logf("composing the peer's supergraph (mesh-compose) against %s", sim.AMR)
		if err := p.compose(ctx, sim.AMR, sim.AMRKey, supergraph); err != nil {
			return err
		}
		c, url, err := p.start(ctx, h.o.tmp, supergraph, h.o.peerFork)
		if err != nil {
			return err
		}
		h.logf("hive-gateway answering at %s (pid %d)", url, c.pid())
		sys := system{group: groupPeer, graphqlURL: url, pid: c.pid(), amr: sim.AMR, psb: sim.PSB, peer: true}
		_, err = h.measure(ctx, &sys, ps, "closed", 0, h.o.warmup)
		c.stop()
		if err != nil {
			return err
		}
	}

	cfgPath := filepath.Join(filepath.Dir(sim.ConfigPath), "gateway-bench.yaml")
	if err := withoutRateLimits(sim.ConfigPath, cfgPath); err != nil {
		return err
	}
	for _, mode := range []string{"cold", "warm"} {
		args := []string{"--config", cfgPath, "--addr", "127.0.0.1:0"}
		if mode == "cold" {
			args = append(args, "--no-cache")
		}
		if h.o.profileDir != "" {
			args = append(args, "--pprof")
		}
		h.logf("starting the gateway over the standalone simulators: gateway %s", strings.Join(args, " "))
		g, err := startGateway(ctx, "gateway-sim-"+mode, h.o.tmp, h.bin, args, h.o.startTimeout)
		if err != nil {
			return err
		}
		sys := system{group: groupGatewaySim, graphqlURL: g.URL + "/graphql", baseURL: g.URL, pid: g.pid(),
			psb: sim.PSB, amr: sim.AMR, dataDir: simData, tokens: map[string]string{}}
		warm := h.o.cold
		if mode == "warm" {
			warm = h.o.warmup
		}
		_, err = h.measure(ctx, &sys, ps, mode, 0, warm)
		g.stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// growthPhase: S2u and S1 warm with the departments holding N citizens (and enterprises
// at the district's ratio, see enterprisesFor). The simulators run on their own (gateway
// sim --citizens N) and the gateway over them (--config), so that the gateway's CPU and
// RSS are its own. Then the district-scale figures of docs/PERFORMANCE.md: the gateway is
// restarted (time to ready with the HRSS index kept on disk), and a new HRSS export is
// dropped while S1 runs without the record cache, so that every request reads the
// export being swapped (the swap's gap: errors and latency while it is built and
// swapped in).
func (h *harness) growthPhase(ctx context.Context) error {
	for _, n := range h.o.growth {
		if err := h.growthRun(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// enterprisesFor is how many enterprises the growth run with n citizens registers: the
// demo's 5,000, or Pudong's ratio (about 300,000 for 5.7 million residents).
func enterprisesFor(n int) int { return max(5000, n/19) }

func (h *harness) growthRun(ctx context.Context, n int) error {
	group := fmt.Sprintf("gateway→sim %s citizens", humanCount(n))
	simData := filepath.Join(h.o.tmp, "growth-"+strconv.Itoa(n))
	simArgs := []string{"--citizens", strconv.Itoa(n), "--enterprises", strconv.Itoa(enterprisesFor(n))}
	h.logf("starting the simulators: gateway sim --data %s %s", simData, strings.Join(simArgs, " "))
	t0 := time.Now()
	sim, err := startSim(h.o.tmp, h.bin, simData, simArgs, h.o.startTimeout)
	if err != nil {
		return err
	}
	defer sim.stop()
	simStart := time.Since(t0)
	simUse, _ := treeUsage(sim.pid())
	if err := h.setLatency(ctx, sim.PSB, sim.AMR); err != nil {
		return err
	}
	cfgPath := filepath.Join(filepath.Dir(sim.ConfigPath), "gateway-bench.yaml")
	if err := withoutRateLimits(sim.ConfigPath, cfgPath); err != nil {
		return err
	}
	args := []string{"--config", cfgPath, "--addr", "127.0.0.1:0"}
	if h.o.profileDir != "" {
		args = append(args, "--pprof")
	}
	h.logf("starting the gateway over them: gateway %s", strings.Join(args, " "))
	name := "gateway-growth-" + strconv.Itoa(n)
	t1 := time.Now()
	g, err := startGateway(ctx, name, h.o.tmp, h.bin, args, h.o.startTimeout)
	if err != nil {
		return err
	}
	// A first start indexes a large export in the background: measure once it serves.
	if _, err := g.await("csvLoaded", h.o.startTimeout); err != nil {
		g.stop()
		return err
	}
	indexed := time.Since(t1)
	idle, _ := treeUsage(g.pid())
	note := fmt.Sprintf("simulators: start-up %s, RSS %.0f MiB; gateway: first start ready %s, HRSS export indexed %s, then idle RSS %.0f MiB",
		simStart.Round(100*time.Millisecond), float64(simUse.RSS)/(1<<20), g.Startup.Round(100*time.Millisecond),
		indexed.Round(100*time.Millisecond), float64(idle.RSS)/(1<<20))
	sys := system{group: group, graphqlURL: g.URL + "/graphql", baseURL: g.URL, pid: g.pid(),
		psb: sim.PSB, amr: sim.AMR, dataDir: simData, tokens: map[string]string{}}
	first := len(h.rep.Rows)
	for _, name := range []string{"S2u", "S1"} {
		s, _ := findScenario(name)
		if _, err := h.measure(ctx, &sys, s, "warm", 0, h.o.warmup); err != nil {
			g.stop()
			return err
		}
	}
	g.stop()

	// A restart: the index is on disk, so the gateway is ready without reading the export.
	g, err = startGateway(ctx, name+"-restart", h.o.tmp, h.bin, append(slices.Clone(args), "--no-cache"), h.o.startTimeout)
	if err != nil {
		return err
	}
	defer g.stop()
	note += fmt.Sprintf("; restart to ready (index kept) %s", g.Startup.Round(10*time.Millisecond))
	sys.graphqlURL, sys.baseURL, sys.pid = g.URL+"/graphql", g.URL, g.pid()
	if err := h.swapRun(ctx, &sys, g, filepath.Join(filepath.Dir(sim.ConfigPath), "hrss-exports")); err != nil {
		return err
	}
	for i := first; i < len(h.rep.Rows); i++ {
		h.rep.Rows[i].Note = strings.TrimPrefix(h.rep.Rows[i].Note+"; "+note, "; ")
	}
	return nil
}

// swapRun drops the next day's HRSS export (the same rows, hard-linked, with a new
// marker) and drives S1 without the record cache until the gateway has swapped it in:
// every request reads the HRSS index while the new one is built beside it. The row's
// errors and latency are the swap's gap; its note says how long the swap took.
func (h *harness) swapRun(ctx context.Context, sys *system, g *gatewayProc, dropDir string) error {
	exports, _ := filepath.Glob(filepath.Join(dropDir, "shebao_*.csv"))
	if len(exports) == 0 {
		return fmt.Errorf("no HRSS export in %s", dropDir)
	}
	slices.Sort(exports)
	last := exports[len(exports)-1]
	day, err := time.Parse("shebao_20060102.csv", filepath.Base(last))
	if err != nil {
		return fmt.Errorf("HRSS export %s: %w", last, err)
	}
	next := filepath.Join(dropDir, "shebao_"+day.AddDate(0, 0, 1).Format("20060102")+".csv")
	if err := os.Link(last, next); err != nil {
		return fmt.Errorf("dropping the next export: %w", err)
	}
	if err := os.WriteFile(next+".done", nil, 0o644); err != nil {
		return err
	}
	dropped := time.Now()
	s, _ := findScenario("S1")
	tok, err := h.token(sys, s.Consumer, s.Citizen)
	if err != nil {
		return err
	}
	t := target{URL: sys.graphqlURL, Token: tok, Bodies: s.bodies(false)}
	l := newLoader(h.o.conns)
	defer l.close()
	before := h.snap(ctx, sys)
	resetPeakRSS(sys.pid)
	var all []loadResult
	deadline := dropped.Add(h.o.startTimeout)
	for g.match("csvLoaded", filepath.Base(next)) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not swap in %s within %s; see %s", filepath.Base(next), h.o.startTimeout, g.logPath)
		}
		all = append(all, l.run(ctx, t, 2*time.Second, 0))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	took := time.Since(dropped)
	after := h.snap(ctx, sys)
	r := row{Group: sys.group, System: systemName(sys), Scenario: "S1", Mode: "cold, HRSS swap", Conns: h.o.conns, loadResult: mergeResults(all)}
	if before.useErr == nil && after.useErr == nil {
		r.CPUSeconds = after.use.CPUSeconds - before.use.CPUSeconds
		if r.Requests > 0 {
			r.CPUPerReqMs = 1000 * r.CPUSeconds / float64(r.Requests)
		}
		r.PeakRSSMiB = float64(after.use.PeakRSS) / (1 << 20)
	}
	r.Note = fmt.Sprintf("export dropped to swapped in: %s", took.Round(100*time.Millisecond))
	h.rep.Rows = append(h.rep.Rows, r)
	h.logf("%-18s %-9s %-15s swap in %s: %d requests, %d errors, p99 %.2f ms, max %.2f ms, peak %.0f MiB",
		r.Group, r.Scenario, r.Mode, took.Round(100*time.Millisecond), r.Requests, r.Errors, r.Latency.P99, r.Latency.Max, r.PeakRSSMiB)
	if r.Errors > 0 {
		h.logf("  first error: %s", oneLine(r.FirstError, 300))
	}
	return nil
}

// targetRun loads a gateway someone else started: each scenario once, as it is.
func (h *harness) targetRun(ctx context.Context) error {
	base := strings.TrimSuffix(strings.TrimSuffix(h.o.target, "/"), "/graphql")
	sys := system{group: "target", graphqlURL: base + "/graphql", baseURL: base, pid: h.o.targetPID, dataDir: h.o.targetData, tokens: map[string]string{}}
	var err error
	if h.o.targetPSB != "" {
		if sys.psb, err = simBase(h.o.targetPSB); err != nil {
			return err
		}
	}
	if h.o.targetAMR != "" {
		if sys.amr, err = simBase(h.o.targetAMR); err != nil {
			return err
		}
	}
	if err := h.setLatency(ctx, sys.psb, sys.amr); err != nil {
		return err
	}
	h.rep.Conditions.Sims = "as the target was started"
	for _, s := range h.selected() {
		if _, err := h.measure(ctx, &sys, s, "as-is", 0, h.o.warmup); err != nil {
			return err
		}
	}
	return nil
}

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// token returns (and caches) a token for the scenario's consumer.
func (h *harness) token(sys *system, consumer, citizen string) (string, error) {
	if sys.dataDir == "" {
		return "", nil
	}
	key := consumer + "/" + citizen
	if t, ok := sys.tokens[key]; ok {
		return t, nil
	}
	t, err := mintToken(h.bin, sys.dataDir, consumer, citizen)
	if err != nil {
		return "", err
	}
	sys.tokens[key] = t
	return t, nil
}

// post sends one GraphQL request and returns the answer.
func (h *harness) post(ctx context.Context, sys *system, consumer, citizen, query string, vars map[string]any) (*http.Response, []byte, error) {
	tok, err := h.token(sys, consumer, citizen)
	if err != nil {
		return nil, nil, err
	}
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sys.graphqlURL, bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := ctlClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// captureS2u keeps the gateway's exact answer to S2u for the ceiling.
func (h *harness) captureS2u(ctx context.Context, sys *system) error {
	s, _ := findScenario("S2u")
	tok, err := h.token(sys, s.Consumer, s.Citizen)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sys.graphqlURL, bytes.NewReader(s.bodies(false)[0]))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := ctlClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if o := classify(resp.StatusCode, body, ""); o.kind != "" {
		return fmt.Errorf("S2u answered %s: %s", o.kind, oneLine(string(body), 300))
	}
	h.s2uBody, h.s2uType = body, resp.Header.Get("Content-Type")
	return nil
}

// countS3Persons asks the PSB's own console for the legal representatives' ID numbers of
// S3's 50 enterprises: the bound on S3's PSB calls.
func (h *harness) countS3Persons(ctx context.Context, sys *system) error {
	resp, body, err := h.post(ctx, sys, "psb-console", "",
		`{ enterprises(first: 50) { edges { node { legalRepresentativeName legalRepresentative { idNumber } } } } }`, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	var r struct {
		Data struct {
			Enterprises struct {
				Edges []struct {
					Node struct {
						Name string `json:"legalRepresentativeName"`
						Rep  *struct {
							IDNumber *string `json:"idNumber"`
						} `json:"legalRepresentative"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"enterprises"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, e := range r.Data.Enterprises.Edges {
		key := "name:" + e.Node.Name // a representative missing from the registry still costs a call
		if e.Node.Rep != nil && e.Node.Rep.IDNumber != nil {
			key = *e.Node.Rep.IDNumber
		}
		seen[key] = true
	}
	h.s3Persons = len(seen)
	return nil
}

// enterpriseCodes pages through enterprises(first: 100) for n credit codes.
func (h *harness) enterpriseCodes(ctx context.Context, sys *system, n int) ([]string, error) {
	var codes []string
	var after any
	for len(codes) < n {
		resp, body, err := h.post(ctx, sys, "supervision-platform", "",
			`query($after: String) { enterprises(first: 100, after: $after) { edges { node { creditCode } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %s: %s", resp.Status, oneLine(string(body), 200))
		}
		var r struct {
			Data struct {
				Enterprises struct {
					Edges []struct {
						Node struct {
							CreditCode string `json:"creditCode"`
						} `json:"node"`
					} `json:"edges"`
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"enterprises"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		for _, e := range r.Data.Enterprises.Edges {
			if e.Node.CreditCode != "" {
				codes = append(codes, e.Node.CreditCode)
			}
		}
		if !r.Data.Enterprises.PageInfo.HasNextPage || len(r.Data.Enterprises.Edges) == 0 {
			break
		}
		after = r.Data.Enterprises.PageInfo.EndCursor
	}
	return codes[:min(n, len(codes))], nil
}

// snapshot is the observable state around a measured window.
type snapshot struct {
	psb, amr   map[string]int64
	metrics    map[string]int64
	hasMetrics bool
	use        usage
	useErr     error
	extra      map[string]float64
}

func (h *harness) snap(ctx context.Context, sys *system) snapshot {
	var s snapshot
	if sys.psb != "" {
		if st, err := getSimStats(ctx, sys.psb); err == nil {
			s.psb = st.Requests
		} else {
			h.logf("psb /_sim/stats: %v", err)
		}
	}
	if sys.amr != "" {
		if st, err := getSimStats(ctx, sys.amr); err == nil {
			s.amr = st.Requests
		} else {
			h.logf("amr /_sim/stats: %v", err)
		}
	}
	if sys.baseURL != "" {
		s.metrics, s.hasMetrics = getUpstreamMetrics(ctx, sys.baseURL)
	}
	if sys.pid > 0 {
		s.use, s.useErr = treeUsage(sys.pid)
	}
	if sys.observe != nil {
		var err error
		if s.extra, err = sys.observe(ctx); err != nil {
			h.logf("%s: %v", sys.group, err)
		}
	}
	return s
}

// measure runs one scenario against one system: a pass over the keys and a warm-up, then
// the measured window between two snapshots.
func (h *harness) measure(ctx context.Context, sys *system, s scenario, mode string, rate float64, warmup time.Duration) (*row, error) {
	t, err := h.scenarioTarget(sys, s)
	if err != nil {
		return nil, err
	}
	l := newLoader(h.o.conns)
	defer l.close()
	if len(t.Bodies) > 1 && mode != "cold" {
		if err := primeKeys(ctx, t, sys, s); err != nil {
			return nil, err
		}
	}
	if warmup > 0 {
		wr := l.run(ctx, t, warmup, rate)
		if wr.Requests == 0 || wr.Errors == wr.Requests {
			return nil, fmt.Errorf("%s %s: the warm-up failed (%d requests, %d errors): %s", sys.group, s.Name, wr.Requests, wr.Errors, wr.FirstError)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	before := h.snap(ctx, sys)
	peakReset := sys.pid > 0 && resetPeakRSS(sys.pid)

	var prof sync.WaitGroup
	if h.o.profileDir != "" && sys.baseURL != "" && sys.dataDir != "" {
		if tok, err := h.token(sys, "cio-console", ""); err != nil {
			h.logf("profile: %v", err)
		} else {
			prof.Go(func() { h.profile(ctx, sys, tok, s, mode) })
		}
	}
	res := l.run(ctx, t, h.o.duration, rate)
	after := h.snap(ctx, sys)
	prof.Wait()

	r := row{Group: sys.group, System: systemName(sys), Scenario: s.Name, Mode: mode, Conns: h.o.conns, loadResult: res}
	r.addUpstream(before, after)
	r.PerRequest = perRequest(before.extra, after.extra, res.Requests)
	if sys.pid > 0 {
		r.addProcessUse(before, after, peakReset)
	}
	h.rep.Rows = append(h.rep.Rows, r)
	h.logf("%-18s %-9s %-9s %8.0f req/s  p50 %6.2f  p99 %7.2f ms  errors %d  expected %d  upstream/req %s  cpu %.1f s  peak %.0f MiB",
		r.Group, r.Scenario, r.Mode, r.RPS, r.Latency.P50, r.Latency.P99, r.Errors, r.ExpectedErrors, formatPerReq(r.UpstreamPerReq), r.CPUSeconds, r.PeakRSSMiB)
	if r.Errors > 0 {
		h.logf("  first error: %s", oneLine(r.FirstError, 300))
	}
	return &h.rep.Rows[len(h.rep.Rows)-1], nil
}

// scenarioTarget is what a run of s against sys sends: the scenario's bodies, with a
// token minted for its consumer unless sys is the peer (which takes none).
func (h *harness) scenarioTarget(sys *system, s scenario) (target, error) {
	t := target{URL: sys.graphqlURL, Bodies: s.bodies(sys.peer), Expected: s.Expected}
	if !sys.peer {
		tok, err := h.token(sys, s.Consumer, s.Citizen)
		if err != nil {
			return target{}, err
		}
		t.Token = tok
	}
	return t, nil
}

// primeKeys sends every body of t once over one connection, so that a warm run finds
// all its keys cached.
func primeKeys(ctx context.Context, t target, sys *system, s scenario) error {
	one := newLoader(1)
	defer one.close()
	for i := range t.Bodies {
		resp, err := one.clients[0].Do(mustRequest(ctx, t, i))
		if err != nil {
			return fmt.Errorf("%s %s: priming key %d: %w", sys.group, s.Name, i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

// addUpstream sets the department calls of the measured window (the snapshots' difference)
// in total and per request; it leaves them nil when no counter was readable.
func (r *row) addUpstream(before, after snapshot) {
	if r.Requests == 0 {
		return
	}
	r.Upstream = map[string]map[string]int64{}
	r.UpstreamPerReq = map[string]float64{}
	add := func(dept string, d map[string]int64) {
		r.Upstream[dept] = d
		r.UpstreamPerReq[dept] = float64(sumCounts(d)) / float64(r.Requests)
	}
	if before.psb != nil && after.psb != nil {
		add("psb", diffCounts(before.psb, after.psb))
	}
	if before.amr != nil && after.amr != nil {
		add("amr", diffCounts(before.amr, after.amr))
	}
	if before.hasMetrics && after.hasMetrics {
		d := diffCounts(before.metrics, after.metrics)
		for _, dept := range []string{"credit", "hrss"} {
			add(dept, map[string]int64{"calls": d[dept]})
		}
	}
	if len(r.Upstream) == 0 {
		r.Upstream, r.UpstreamPerReq = nil, nil
	}
}

// addProcessUse sets the gateway process's CPU time over the measured window and its peak
// RSS, when both snapshots read /proc; peakReset says whether the peak was reset before
// the window (otherwise it is the peak since the process started).
func (r *row) addProcessUse(before, after snapshot, peakReset bool) {
	if before.useErr != nil || after.useErr != nil {
		return
	}
	r.CPUSeconds = after.use.CPUSeconds - before.use.CPUSeconds
	if r.Requests > 0 {
		r.CPUPerReqMs = 1000 * r.CPUSeconds / float64(r.Requests)
	}
	r.PeakRSSMiB = float64(after.use.PeakRSS) / (1 << 20)
	r.PeakSinceStart = !peakReset
}

func mustRequest(ctx context.Context, t target, i int) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Bodies[i]))
	req.Header.Set("Content-Type", "application/json")
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	return req
}

func systemName(sys *system) string {
	switch sys.group {
	case groupCeiling:
		return "ceiling"
	case groupPeer:
		return "hive-gateway"
	}
	return "gateway"
}

// profile saves a CPU profile of the gateway over most of the measured window.
func (h *harness) profile(ctx context.Context, sys *system, tok string, s scenario, mode string) {
	secs := max(1, int(h.o.duration.Seconds())-1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", sys.baseURL, secs), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		h.logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.logf("profile: %s (is the gateway built with --pprof?)", resp.Status)
		return
	}
	name := strings.NewReplacer(" ", "_", "/", "_", "@", "_", "%", "pct", "→", "-").Replace(fmt.Sprintf("%s-%s-%s.pprof", sys.group, s.Name, mode))
	f, err := os.Create(filepath.Join(h.o.profileDir, name))
	if err != nil {
		h.logf("profile: %v", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil && !errors.Is(err, context.Canceled) {
		h.logf("profile: %v", err)
	}
}
