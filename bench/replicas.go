package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// groupReplicas names the rows of the replicas phase: "gateway pg ×N".
func groupReplicas(n int) string { return fmt.Sprintf("gateway pg ×%d", n) }

// replicasPhase measures the audit on PostgreSQL with one gateway and then two (two OS
// processes on one schema, each with its own audit chain), over one `gateway sim`, with
// the same total connections: S1 warm, the scenario with the most audit events per
// answer. Each row notes the audit events committed per second, summed over the
// replicas, from their gateway_audit_events_total.
func (h *harness) replicasPhase(ctx context.Context) error {
	dsn, drop, err := benchSchema(ctx, h.o.replicasPG)
	if err != nil {
		return err
	}
	defer drop()
	rs, err := h.startReplicaSet(ctx, "replicas")
	if err != nil {
		return err
	}
	defer rs.stop()
	s, _ := findScenario("S1")
	for n := 1; n <= 2; n++ {
		g, err := h.addReplica(ctx, rs, fmt.Sprintf("gateway-replica-%d", n), dsn, "")
		if err != nil {
			return err
		}
		h.logf("replica %d listening at %s (pid %d), store: PostgreSQL schema of its own", n, g.URL, g.pid())
		if _, err := h.measureReplicas(ctx, s, rs.gws, rs.dataDir, nil); err != nil {
			return err
		}
	}
	return nil
}

// replicaSet is a multi-replica phase's simulators (one `gateway sim`) and the gateway
// replicas started over them, stopped together.
type replicaSet struct {
	sim     *simProc
	dataDir string // the simulators' data directory
	gws     []*gatewayProc
}

// startReplicaSet starts the simulators of the phase named name, in a data directory of
// its own under the working directory; the caller stops the set.
func (h *harness) startReplicaSet(ctx context.Context, name string) (*replicaSet, error) {
	dataDir := filepath.Join(h.o.tmp, name)
	sim, err := h.simulators(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	return &replicaSet{sim: sim, dataDir: dataDir}, nil
}

// addReplica starts a replica over rs's simulators (see startReplica) and adds it to rs.
func (h *harness) addReplica(ctx context.Context, rs *replicaSet, name, dsn, redisAddr string, extra ...string) (*gatewayProc, error) {
	g, err := h.startReplica(ctx, rs.sim, name, dsn, redisAddr, extra...)
	if err != nil {
		return nil, err
	}
	rs.gws = append(rs.gws, g)
	return g, nil
}

// stopReplicas stops the replicas started so far, leaving the simulators running.
func (rs *replicaSet) stopReplicas() {
	for _, g := range rs.gws {
		g.stop()
	}
	rs.gws = rs.gws[:0]
}

// stop stops the replicas, then the simulators.
func (rs *replicaSet) stop() {
	rs.stopReplicas()
	rs.sim.stop()
}

// startReplica starts a gateway named name over sim's simulators with rate limits off,
// its store on PostgreSQL (dsn) as the replica "bench-"+name, and with redisAddr (if not
// "") as the record cache's shared layer; extra are more command-line flags.
func (h *harness) startReplica(ctx context.Context, sim *simProc, name, dsn, redisAddr string, extra ...string) (*gatewayProc, error) {
	cfgPath := filepath.Join(filepath.Dir(sim.ConfigPath), name+".yaml")
	if err := withoutRateLimits(sim.ConfigPath, cfgPath); err != nil {
		return nil, err
	}
	journal := ""
	if h.o.replicasJournal {
		journal = name + "-audit.journal"
	}
	if err := appendStore(cfgPath, dsn, "bench-"+name, journal); err != nil {
		return nil, err
	}
	if redisAddr != "" {
		if err := addSetting(cfgPath, "cache", "redisAddr: "+redisAddr); err != nil {
			return nil, err
		}
	}
	args := append([]string{"--config", cfgPath, "--addr", "127.0.0.1:0"}, extra...)
	h.logf("starting %s: gateway %s", name, strings.Join(args, " "))
	return startGateway(ctx, name, h.o.tmp, h.bin, args, h.o.startTimeout)
}

// measureReplicas loads every gateway of gws at once, h.o.conns connections split
// evenly, and records one row with the sums: requests, audit events, the gateways' CPU
// time, and observe's counters (nil: none) per request.
func (h *harness) measureReplicas(ctx context.Context, s scenario, gws []*gatewayProc, dataDir string, observe func(context.Context) (map[string]float64, error)) (*row, error) {
	tok, err := mintToken(h.bin, dataDir, s.Consumer, s.Citizen)
	if err != nil {
		return nil, err
	}
	var peak int64 // the sum of the replicas' peak RSS over the window
	cpu := func() float64 {
		var sum float64
		peak = 0
		for _, g := range gws {
			u, _ := treeUsage(g.pid())
			sum += u.CPUSeconds
			peak += u.PeakRSS
		}
		return sum
	}
	extra := func() map[string]float64 {
		if observe == nil {
			return nil
		}
		m, err := observe(ctx)
		if err != nil {
			h.logf("replicas: %v", err)
		}
		return m
	}
	targets := make([]target, len(gws))
	loaders := make([]*loader, len(gws))
	for i, g := range gws {
		targets[i] = target{URL: g.URL + "/graphql", Bodies: s.bodies(false), Expected: s.Expected, Token: tok}
		loaders[i] = newLoader(max(1, h.o.conns/len(gws)))
		defer loaders[i].close()
	}
	runAll := func(d time.Duration) []loadResult {
		out := make([]loadResult, len(gws))
		var wg sync.WaitGroup
		for i := range gws {
			wg.Go(func() { out[i] = loaders[i].run(ctx, targets[i], d, 0) })
		}
		wg.Wait()
		return out
	}
	runAll(h.o.warmup)
	for _, g := range gws {
		resetPeakRSS(g.pid())
	}
	before, cpu0, extra0 := auditEvents(ctx, gws), cpu(), extra()
	res := runAll(h.o.duration)
	events, cpu1, extra1 := auditEvents(ctx, gws)-before, cpu(), extra()

	r, lat := sumReplicas(res)
	r.Group, r.System, r.Scenario, r.Mode, r.Conns = groupReplicas(len(gws)), "gateway", s.Name, "warm", h.o.conns
	if r.ElapsedSec > 0 {
		r.AuditEventsPerSec = float64(events) / r.ElapsedSec
	}
	r.CPUSeconds = cpu1 - cpu0
	r.PeakRSSMiB = float64(peak) / (1 << 20) // the replicas' peaks, summed
	if r.Requests > 0 {
		r.CPUPerReqMs = 1000 * r.CPUSeconds / float64(r.Requests)
	}
	r.PerRequest = perRequest(extra0, extra1, r.Requests)
	durable := "a PostgreSQL commit"
	if h.o.replicasJournal {
		durable = "a journal file per replica"
	}
	r.Note = fmt.Sprintf("%d replica(s), %d connections in all; audit %.0f events/s, durable by %s; p99 per replica %s ms", len(gws), h.o.conns, r.AuditEventsPerSec, durable, strings.Join(lat, ", "))
	h.rep.Rows = append(h.rep.Rows, r)
	h.logf("%-18s %-9s %-9s %8.0f req/s  audit %8.0f events/s  p99 %s ms  errors %d", r.Group, r.Scenario, r.Mode, r.RPS, r.AuditEventsPerSec, strings.Join(lat, ", "), r.Errors)
	if r.Errors > 0 {
		h.logf("  first error: %s", oneLine(r.FirstError, 300))
	}
	return &h.rep.Rows[len(h.rep.Rows)-1], nil
}

// sumReplicas adds up the replicas' load results into one row: requests, req/s and errors
// summed, the longest window, the first replica's percentiles; lat is every replica's p99.
func sumReplicas(res []loadResult) (r row, lat []string) {
	for _, x := range res {
		r.Requests += x.Requests
		r.RPS += x.RPS
		r.Errors += x.Errors
		r.ExpectedErrors += x.ExpectedErrors
		if x.Elapsed > r.Elapsed {
			r.Elapsed, r.ElapsedSec = x.Elapsed, x.ElapsedSec
		}
		lat = append(lat, fmt.Sprintf("%.1f", x.Latency.P99))
		if r.FirstError == "" {
			r.FirstError = x.FirstError
		}
	}
	r.Latency = res[0].Latency // the note has every p99
	return r, lat
}

// perRequest is the change of each counter from before to after, per request; nil when
// either reading is missing.
func perRequest(before, after map[string]float64, requests int64) map[string]float64 {
	if before == nil || after == nil || requests == 0 {
		return nil
	}
	out := map[string]float64{}
	for k, a := range after {
		if b, ok := before[k]; ok {
			out[k] = (a - b) / float64(requests)
		}
	}
	return out
}

// auditEvents sums gateway_audit_events_total over the gateways; a gateway that does
// not answer counts 0.
func auditEvents(ctx context.Context, gws []*gatewayProc) int64 {
	var sum int64
	for _, g := range gws {
		sum += metricValue(ctx, g.URL, "gateway_audit_events_total")
	}
	return sum
}

// metricValue reads one unlabelled counter from a gateway's /metrics.
func metricValue(ctx context.Context, base, name string) int64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0
	}
	resp, err := ctlClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return 0
}

// appendStore points a configuration written by `gateway sim` at PostgreSQL, as the
// replica named replica, with its audit journal in the file journal (relative to the
// data directory; "" for none).
func appendStore(path, dsn, replica, journal string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "store:\n    driver: postgres\n    dsn: %q\n    replica: %s\n", dsn, replica)
	if err == nil && journal != "" {
		_, err = fmt.Fprintf(f, "    auditJournal: %s\n", journal)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// benchSchema creates a schema of its own in the database dsn names, so that the run
// starts from an empty store and leaves nothing behind, and returns a DSN selecting it.
func benchSchema(ctx context.Context, dsn string) (string, func(), error) {
	schema, drop, err := createBenchObject(ctx, dsn, "SCHEMA", " CASCADE")
	if err != nil {
		return "", nil, err
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " search_path=" + schema, drop, nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// createBenchObject creates a SCHEMA or DATABASE (kind) with a new name on the server
// dsn names, and returns the name and a function that drops it ("DROP kind name" and
// dropSuffix).
func createBenchObject(ctx context.Context, dsn, kind, dropSuffix string) (string, func(), error) {
	name := "gw_bench_" + strings.ToLower(rand.Text()[:10])
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("-replicas-pg: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE "+kind+" "+name); err != nil {
		return "", nil, fmt.Errorf("-replicas-pg: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP "+kind+" "+name+dropSuffix)
			c.Close(ctx)
		}
	}
	return name, drop, nil
}
