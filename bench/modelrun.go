package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// The -model run (docs/PERFORMANCE.md, Capacity model): S1 — the request with the most
// audit events and every department behind it — on one replica cold (--no-cache) and
// warm, each on PostgreSQL (a database of the run's own, so that its commit counter is
// the gateway's alone) and a Redis server the run starts, then on two replicas at once
// to check the per-replica figures the model assumes.

// The counters the -model run reads outside the gateway, per request.
const (
	ctrPGCommits   = "pg_commits"
	ctrPGBytes     = "pg_bytes"
	ctrRedisOps    = "redis_ops"
	ctrAuditEvents = "audit_events"
)

// modelRun is what modelPhase measured, for printing after the table.
type modelRun struct {
	model    capacityModel
	one, two *row // warm S1 on one replica and on two
}

func (h *harness) modelPhase(ctx context.Context) error {
	e := &modelEnv{}
	dsn, drop, err := benchDatabase(ctx, h.o.replicasPG)
	if err != nil {
		return err
	}
	defer drop()
	e.dsn = dsn
	redisAddr, redisProc, err := h.startRedis()
	if err != nil {
		return err
	}
	defer redisProc.stop()
	e.redisAddr = redisAddr
	e.rdb = goredis.NewClient(&goredis.Options{Addr: redisAddr, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	defer e.rdb.Close()
	if e.pg, err = pgx.Connect(ctx, dsn); err != nil {
		return fmt.Errorf("-replicas-pg: %w", err)
	}
	defer e.pg.Close(context.WithoutCancel(ctx))
	if e.rs, err = h.startReplicaSet(ctx, "model"); err != nil {
		return err
	}
	defer e.rs.stop()

	s, _ := findScenario("S1")
	cold, err := h.modelCold(ctx, e, s)
	if err != nil {
		return err
	}
	warmRow, err := h.modelWarm(ctx, e, s, &cold)
	if err != nil {
		return err
	}
	warm := costOf(warmRow)
	one := *warmRow

	// Two replicas on the same database and Redis, each with its own audit chain.
	if _, err := h.modelReplica(ctx, e, 2); err != nil {
		return err
	}
	two, err := h.measureReplicas(ctx, s, e.rs.gws, e.rs.dataDir, e.observe)
	if err != nil {
		return err
	}
	h.modelRun = &modelRun{model: buildModel(h.o.assume, cold, warm), one: &one, two: two}
	return nil
}

// modelEnv is what the -model run's measurements share: the store's database, the Redis
// server (both with a client that reads their counters) and the simulators with the
// replicas started over them.
type modelEnv struct {
	dsn, redisAddr string
	pg             *pgx.Conn
	rdb            *goredis.Client
	rs             *replicaSet
}

// observe reads the counters the model needs from outside the gateway: PostgreSQL's
// commits and database size, Redis's commands, and the replicas' audit events.
func (e *modelEnv) observe(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var commits, size int64
	if err := e.pg.QueryRow(ctx, `SELECT xact_commit, pg_database_size(current_database()) FROM pg_stat_database WHERE datname = current_database()`).Scan(&commits, &size); err != nil {
		return nil, fmt.Errorf("PostgreSQL counters: %w", err)
	}
	out[ctrPGCommits], out[ctrPGBytes] = float64(commits), float64(size)
	info, err := e.rdb.Info(ctx, "stats").Result()
	if err != nil {
		return nil, fmt.Errorf("Redis INFO: %w", err)
	}
	ops, err := redisInfoValue(info, "total_commands_processed")
	if err != nil {
		return nil, err
	}
	out[ctrRedisOps] = ops
	out[ctrAuditEvents] = float64(auditEvents(ctx, e.rs.gws))
	return out, nil
}

// modelReplica starts the model's replica n on its database and Redis with extra flags,
// and returns it as a system whose rows carry the model's counters.
func (h *harness) modelReplica(ctx context.Context, e *modelEnv, n int, extra ...string) (system, error) {
	g, err := h.addReplica(ctx, e.rs, fmt.Sprintf("gateway-model-%d", n), e.dsn, e.redisAddr, extra...)
	if err != nil {
		return system{}, err
	}
	return system{group: "model", graphqlURL: g.URL + "/graphql", baseURL: g.URL, pid: g.pid(),
		psb: e.rs.sim.PSB, amr: e.rs.sim.AMR, dataDir: e.rs.dataDir, tokens: map[string]string{}, observe: e.observe}, nil
}

// modelCold measures S1 cold on one replica: no record cache, so every request asks
// every department. The replica is stopped afterwards.
func (h *harness) modelCold(ctx context.Context, e *modelEnv, s scenario) (requestCost, error) {
	sys, err := h.modelReplica(ctx, e, 1, "--no-cache")
	if err != nil {
		return requestCost{}, err
	}
	sys.group = "model ×1"
	coldRow, err := h.measure(ctx, &sys, s, "cold", 0, h.o.cold)
	if err != nil {
		return requestCost{}, err
	}
	e.rs.stopReplicas()
	return costOf(coldRow), nil
}

// modelWarm measures S1 warm on one replica, cache on over Redis. The first request finds
// Redis empty: its commands are a cold read's in a deployment with the shared layer, so
// they are cold's Redis commands.
func (h *harness) modelWarm(ctx context.Context, e *modelEnv, s scenario, cold *requestCost) (*row, error) {
	sys, err := h.modelReplica(ctx, e, 1)
	if err != nil {
		return nil, err
	}
	sys.group = "model ×1"
	before, err := e.observe(ctx)
	if err != nil {
		return nil, err
	}
	if resp, body, err := h.post(ctx, &sys, s.Consumer, s.Citizen, s.Query, nil); err != nil {
		return nil, err
	} else if o := classify(resp.StatusCode, body, ""); o.kind != "" {
		return nil, fmt.Errorf("S1's first request: %s: %s", o.kind, oneLine(string(body), 300))
	}
	after, err := e.observe(ctx)
	if err != nil {
		return nil, err
	}
	cold.RedisOps = after[ctrRedisOps] - before[ctrRedisOps] - 1 // less the INFO that read it
	return h.measure(ctx, &sys, s, "warm", 0, h.o.warmup)
}

// costOf reads a measured row's per-request costs.
func costOf(r *row) requestCost {
	c := requestCost{
		CPUMs: r.CPUPerReqMs, PGCommits: r.PerRequest[ctrPGCommits], PGBytes: r.PerRequest[ctrPGBytes],
		AuditEvents: r.PerRequest[ctrAuditEvents], RedisOps: r.PerRequest[ctrRedisOps], SlowCalls: r.UpstreamPerReq["psb"],
	}
	for _, v := range r.UpstreamPerReq {
		c.DeptCalls += v
	}
	return c
}

// validation is one figure of the model checked against the two-replica run.
type validation struct {
	Figure      string
	Model, Seen float64
}

// validations compares what the model takes per replica (from the one-replica run)
// with two replicas on the same PostgreSQL and Redis: the costs per request should not
// change with the replicas. The request rate and the cores used say whether one replica
// was CPU-bound (then two on the same cores serve no more).
func validations(one, two *row, conns int) []validation {
	return []validation{
		{"gateway CPU ms per request", one.CPUPerReqMs, two.CPUPerReqMs},
		{"PostgreSQL commits per request", one.PerRequest[ctrPGCommits], two.PerRequest[ctrPGCommits]},
		{"PostgreSQL bytes per request", one.PerRequest[ctrPGBytes], two.PerRequest[ctrPGBytes]},
		{"audit events per request", one.PerRequest[ctrAuditEvents], two.PerRequest[ctrAuditEvents]},
		{"Redis commands per request", one.PerRequest[ctrRedisOps], two.PerRequest[ctrRedisOps]},
		{fmt.Sprintf("req/s, all replicas (%d connections)", conns), one.RPS, two.RPS},
		{"gateway cores busy, all replicas", coresBusy(one), coresBusy(two)},
	}
}

func coresBusy(r *row) float64 {
	if r.ElapsedSec == 0 {
		return 0
	}
	return r.CPUSeconds / r.ElapsedSec
}

func writeValidations(w io.Writer, vs []validation) {
	fmt.Fprintf(w, "\nValidation: one replica (the model's figures) against two replicas on the same PostgreSQL and Redis\n")
	fmt.Fprintf(w, "  %-40s %12s %12s %8s\n", "figure", "model", "2 replicas", "ratio")
	for _, v := range vs {
		ratio := math.NaN()
		if v.Model != 0 {
			ratio = v.Seen / v.Model
		}
		fmt.Fprintf(w, "  %-40s %12.3f %12.3f %8.2f\n", v.Figure, v.Model, v.Seen, ratio)
	}
}

// redisInfoValue reads one numeric field of Redis's INFO answer ("key:value" lines).
func redisInfoValue(info, key string) (float64, error) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("Redis INFO %s: %q is not a number", key, v)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("Redis INFO has no %s", key)
}

var redisReadyRE = regexp.MustCompile(`(Ready) to accept connections`)

// startRedis starts a Redis server of the run's own on a free loopback port, without
// persistence, so that its command counter is the gateways' alone.
func (h *harness) startRedis() (string, *child, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	c, err := startChild("redis", h.o.tmp, h.o.redisServer, []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", h.o.tmp}, nil, "",
		map[string]*regexp.Regexp{"ready": redisReadyRE})
	if err != nil {
		return "", nil, fmt.Errorf("-model needs a redis-server (-redis-server): %w", err)
	}
	if _, err := c.await("ready", 30*time.Second); err != nil {
		c.stop()
		return "", nil, err
	}
	h.logf("redis-server of the run's own at %s (pid %d)", addr, c.pid())
	return addr, c, nil
}

// benchDatabase creates a database of the run's own beside the one dsn names, so that
// its commit counter (pg_stat_database) and size are the gateways' alone, and returns a
// DSN selecting it and a function that drops it.
func benchDatabase(ctx context.Context, dsn string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "", nil, fmt.Errorf("-replicas-pg: -model needs a URL DSN (postgres://…), not %q", dsn)
	}
	name, drop, err := createBenchObject(ctx, dsn, "DATABASE", " WITH (FORCE)")
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
