// Command bench is the gateway's load harness (issue "Performance: measured side by
// side"; docs/PERFORMANCE.md). One command builds the gateway, starts it in demo mode in
// a temporary data directory, mints real tokens with `gateway token`, drives closed-loop
// load with N keep-alive connections against the scenario operations, and reports
// requests/s, latency percentiles, errors, department calls per request (from the
// simulators' /_sim/stats), and the gateway process's CPU time and peak RSS (from /proc).
// In the same run it measures the ceiling (a plain net/http server answering the same
// bytes), the gateway with audit off, and the peer (Hive Gateway over GraphQL Mesh, see
// bench/peer), so that every figure comes from one machine and one load generator.
//
//	go run ./bench                               everything, 10 s per run
//	go run ./bench -duration 5s -scenarios S2u   a quick look
//	go run ./bench -latency realistic            simulators answer after 20 ms (SOAP) / 8 ms (REST)
//	go run ./bench -target http://127.0.0.1:8080 -data ./data   load a running gateway
//
// Run it from the repository root (or pass -repo). Linux only (/proc).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		if err := serveCeiling(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench ceiling:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// The groups of rows: which system answered, started how.
const (
	groupGateway    = "gateway"           // demo mode, simulators in-process, audit on
	groupNoAudit    = "gateway audit-off" // demo mode, --bench-no-audit
	groupCeiling    = "ceiling"           // plain net/http, S2u's bytes
	groupPeer       = "peer hive-gateway" // Hive Gateway + Mesh over the standalone AMR simulator
	groupGatewaySim = "gateway→sim"       // the gateway with --config, over the same standalone simulators
)

type options struct {
	repo, gatewayBin, tmp  string
	keep                   bool
	conns                  int
	duration, warmup, cold time.Duration
	scenarios              []string
	psbLatency, amrLatency time.Duration
	cold2, warm            bool
	ceiling, noAudit, half bool
	peer                   string
	peerFork               int
	growth, cacheKeys      []int
	jsonPath, profileDir   string
	replicasPG             string
	replicasJournal        bool
	startTimeout           time.Duration
	target, targetData     string
	targetPID              int
	targetPSB, targetAMR   string
	model                  bool
	assume                 assumptions
	redisServer            string
}

// rawFlags are the flag values that parseFlags parses further into options.
type rawFlags struct {
	scenarios, modes, latency string
	growth, cacheKeys, assume string
	scale                     bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	raw := &rawFlags{}
	registerRunFlags(fs, o)
	registerWorkloadFlags(fs, raw)
	registerPhaseFlags(fs, o, raw)
	registerModelFlags(fs, o, raw)
	registerTargetFlags(fs, o)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "bench — load harness for the gateway (docs/PERFORMANCE.md)\n\nUsage: go run ./bench [flags]\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.conns < 1 {
		return nil, errors.New("-conns must be at least 1")
	}
	if err := o.parseWorkload(raw); err != nil {
		return nil, err
	}
	var err error
	if o.growth, err = parseInts(raw.growth); err != nil {
		return nil, fmt.Errorf("-growth: %w", err)
	}
	if raw.scale {
		if len(o.growth) == 0 {
			o.growth = []int{20000, 5700000}
		}
		o.cold2, o.warm, o.ceiling, o.peer = false, false, false, "off"
	}
	if o.assume, err = parseAssumptions(raw.assume); err != nil {
		return nil, err
	}
	if err := o.applyModel(fs); err != nil {
		return nil, err
	}
	if o.cacheKeys, err = parseInts(raw.cacheKeys); err != nil {
		return nil, fmt.Errorf("-cache-keys: %w", err)
	}
	switch o.peer {
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf("-peer: %q is not auto, on or off", o.peer)
	}
	if o.target != "" && o.targetData == "" {
		return nil, errors.New("-target needs -data DIR (the gateway's data directory, whose demo key signs the tokens)")
	}
	return o, nil
}

// registerRunFlags registers how every run is set up: the gateway binary, the working
// directory, the connections and the timing of the windows, and the outputs.
func registerRunFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.repo, "repo", ".", "repository root (where go.mod and cmd/gateway are)")
	fs.StringVar(&o.gatewayBin, "gateway", "", "gateway binary to use instead of building cmd/gateway")
	fs.StringVar(&o.tmp, "tmp", "", "working directory for binaries, data and logs (default: a new temporary directory)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, data) afterwards")
	fs.IntVar(&o.conns, "conns", 16, "concurrent keep-alive connections (closed loop)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per run")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "load before a warm run's measurement (after one pass over its keys)")
	fs.DurationVar(&o.cold, "cold-warmup", time.Second, "load before a cold run's measurement (connections, parsed-query cache; the record cache is off)")
	fs.DurationVar(&o.startTimeout, "start-timeout", 10*time.Minute, "how long a gateway may take to start (data generation)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.profileDir, "profile", "", "start gateways with --pprof and save a CPU profile of every gateway run here")
}

// registerWorkloadFlags registers what the gateway runs send: scenarios, cache modes and
// the simulators' latency (parsed by parseWorkload).
func registerWorkloadFlags(fs *flag.FlagSet, raw *rawFlags) {
	fs.StringVar(&raw.scenarios, "scenarios", "S1,S2,S2u,S3,S4", "scenarios to run (S1 S2 S2u S3 S4)")
	fs.StringVar(&raw.modes, "modes", "cold,warm", "gateway modes: cold (--no-cache), warm (cache on)")
	fs.StringVar(&raw.latency, "latency", "0", `simulator latency: 0 (CPU-bound), "realistic" (psb=20ms,amr=8ms) or "psb=D,amr=D"`)
}

// registerPhaseFlags registers the phases beside the gateway's own runs: the ceiling,
// audit off, half load, the peer, data growth, cache size and replicas.
func registerPhaseFlags(fs *flag.FlagSet, o *options, raw *rawFlags) {
	fs.BoolVar(&o.ceiling, "ceiling", true, "measure the ceiling: a plain net/http server answering S2u's bytes")
	fs.BoolVar(&o.noAudit, "audit-off", true, "also measure the warm scenarios with --bench-no-audit")
	fs.BoolVar(&o.half, "half", true, "after each warm run, a paced run at half its throughput (latency at moderate load)")
	fs.StringVar(&o.peer, "peer", "auto", "the Hive Gateway peer: auto (skip with a message if not installed), on (fail if not), off")
	fs.IntVar(&o.peerFork, "peer-fork", 1, "node worker processes of the peer (hive-gateway --fork; its default is 1)")
	fs.StringVar(&raw.growth, "growth", "", "simulator citizens for the data-growth runs (S2u and S1 warm each), e.g. 20000,2000000")
	fs.BoolVar(&raw.scale, "scale", false, "district scale only: -growth 20000,5700000 (enterprises at Pudong's ratio), every other phase off")
	fs.StringVar(&raw.cacheKeys, "cache-keys", "", "distinct enterprises for the cache-size runs (S2u warm over K keys), e.g. 1,100,1000,5000")
	fs.StringVar(&o.replicasPG, "replicas-pg", "", "PostgreSQL DSN: also measure the audit with 1 and 2 gateway replicas (OS processes) on a new schema there")
	fs.BoolVar(&o.replicasJournal, "replicas-journal", false, "with -replicas-pg: each replica makes its audit events durable in a journal file of its own (store.auditJournal) instead of a PostgreSQL commit")
}

// registerModelFlags registers the -model run's flags (docs/PERFORMANCE.md, Capacity model).
func registerModelFlags(fs *flag.FlagSet, o *options, raw *rawFlags) {
	fs.BoolVar(&o.model, "model", false, "capacity model only (docs/PERFORMANCE.md, Capacity model): S1 cold and warm on one replica and warm on two, on PostgreSQL (-replicas-pg) and a redis-server of its own; every other phase off")
	fs.StringVar(&raw.assume, "model-assume", "", "with -model: the assumed load and capacities over the defaults, e.g. systems=300,rps-per-system=5,cold=0.2 (keys: "+strings.Join(assumptionKeys, " ")+")")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "with -model: the redis-server binary")
}

// registerTargetFlags registers -target, loading a running gateway, and what the harness
// needs to know about it.
func registerTargetFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.target, "target", "", "load a running gateway at this base URL instead of starting one (with -data; -pid, -psb, -amr optional)")
	fs.StringVar(&o.targetData, "data", "", "with -target: the gateway's data directory, for `gateway token`")
	fs.IntVar(&o.targetPID, "pid", 0, "with -target: the gateway's process id, for CPU and RSS")
	fs.StringVar(&o.targetPSB, "psb", "", "with -target: the PSB simulator's address, for /_sim/stats")
	fs.StringVar(&o.targetAMR, "amr", "", "with -target: the AMR simulator's address, for /_sim/stats")
}

// parseWorkload sets the scenarios, the cache modes and the simulators' latency from
// their flags.
func (o *options) parseWorkload(raw *rawFlags) error {
	for _, s := range splitList(raw.scenarios) {
		sc, ok := findScenario(s)
		if !ok || sc.Name == "P" {
			return fmt.Errorf("-scenarios: unknown scenario %q (S1 S2 S2u S3 S4)", s)
		}
		o.scenarios = append(o.scenarios, sc.Name)
	}
	for _, m := range splitList(raw.modes) {
		switch m {
		case "cold":
			o.cold2 = true
		case "warm":
			o.warm = true
		default:
			return fmt.Errorf("-modes: %q is neither cold nor warm", m)
		}
	}
	var err error
	o.psbLatency, o.amrLatency, err = parseLatency(raw.latency)
	return err
}

// applyModel checks -model's requirements and turns every other phase off; its windows
// are shorter than the default unless -duration or -warmup was given.
func (o *options) applyModel(fs *flag.FlagSet) error {
	if !o.model {
		return nil
	}
	if o.replicasPG == "" {
		return errors.New("-model needs -replicas-pg DSN (the PostgreSQL server the store's commits are counted on)")
	}
	if o.target != "" || len(o.growth) > 0 {
		return errors.New("-model runs alone: not with -target, -growth or -scale")
	}
	o.cold2, o.warm, o.ceiling, o.peer = false, false, false, "off"
	// Bounded: three measured windows and their warm-ups, unless asked for longer.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["duration"] {
		o.duration = 5 * time.Second
	}
	if !set["warmup"] {
		o.warmup = 2 * time.Second
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseLatency reads -latency: "0", "realistic", or "psb=20ms,amr=8ms".
func parseLatency(s string) (psb, amr time.Duration, err error) {
	switch s {
	case "", "0":
		return 0, 0, nil
	case "realistic":
		return 20 * time.Millisecond, 8 * time.Millisecond, nil
	}
	for _, part := range splitList(s) {
		k, v, ok := strings.Cut(part, "=")
		d, perr := time.ParseDuration(v)
		if !ok || perr != nil || d < 0 {
			return 0, 0, fmt.Errorf(`-latency: %q: want 0, realistic, or psb=20ms,amr=8ms`, part)
		}
		switch k {
		case "psb":
			psb = d
		case "amr":
			amr = d
		default:
			return 0, 0, fmt.Errorf("-latency: %q: only the psb and amr simulators take a latency", k)
		}
	}
	return psb, amr, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	o.repo = repo
	if _, err := os.Stat(filepath.Join(repo, "cmd", "gateway")); err != nil && o.gatewayBin == "" {
		return fmt.Errorf("%s has no cmd/gateway: run from the repository root or pass -repo", repo)
	}
	if o.tmp == "" {
		if o.tmp, err = os.MkdirTemp("", "gateway-bench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(o.tmp)
		}
	} else if err := os.MkdirAll(o.tmp, 0o755); err != nil {
		return err
	}
	if o.tmp, err = filepath.Abs(o.tmp); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	h := &harness{o: o, log: stderr, rep: &report{Started: time.Now().UTC(), Machine: readMachine()}}
	h.rep.Conditions = conditions{
		Conns: o.conns, Duration: o.duration.String(), Warmup: o.warmup.String(), ColdWarmup: o.cold.String(),
		PSBLatency: o.psbLatency.String(), AMRLatency: o.amrLatency.String(), Sims: "in-process (demo mode)",
		Note: "load generator, gateway and simulators share the machine's CPUs; in demo mode the simulators run inside the gateway process, so its CPU and RSS include them",
	}
	runErr := h.all(ctx)
	h.rep.Machine.LoadAfter = readTrim("/proc/loadavg")
	h.rep.Targets = evaluateTargets(h.rep.Rows, h.s3Persons)
	fmt.Fprintln(stdout)
	writeTable(stdout, h.rep)
	if m := h.modelRun; m != nil {
		fmt.Fprintln(stdout)
		writeModel(stdout, m.model)
		writeValidations(stdout, validations(m.one, m.two, o.conns))
	}
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, h.rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nJSON: %s\n", o.jsonPath)
	}
	if o.keep {
		fmt.Fprintf(stdout, "logs and data kept in %s\n", o.tmp)
	}
	return runErr
}
