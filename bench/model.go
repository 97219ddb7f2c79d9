package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The capacity model of docs/PERFORMANCE.md ("Capacity model"): from what one audited
// request costs, measured by -model, what the district needs at its assumed peak. The
// arithmetic is here, in pure functions; modelPhase measures the inputs.

// assumptions is the district's load and the capacities the model divides by: what the
// run cannot measure on a shared two-core machine, stated so that anyone can change it
// (-model-assume).
type assumptions struct {
	Systems       int     // consuming systems (the district's portals, halls, platforms)
	PerSystemRPS  float64 // each system's requests/s at the district's peak hour
	ColdShare     float64 // share of requests whose records no cache holds (0..1)
	ReplicaCores  float64 // CPU cores each replica is given
	TargetUtil    float64 // the CPU share a replica may use at peak (headroom for a lost replica, GC, spikes)
	MinReplicas   int     // for availability, whatever the load
	PGCommits     float64 // PostgreSQL commits/s the primary sustains (synchronous, fsync'd)
	PGWriteMBs    float64 // MB/s of table and index growth the primary's disks sustain
	RedisOps      float64 // Redis commands/s one instance sustains (one core)
	DeptCallsPerS float64 // calls/s the slowest department system takes (the PSB's SOAP service)
}

// defaultAssumptions is the load the document states: 300 systems at 2 req/s each at
// peak, 20 % of reads cold.
var defaultAssumptions = assumptions{
	Systems: 300, PerSystemRPS: 2, ColdShare: 0.2, ReplicaCores: 2, TargetUtil: 0.6, MinReplicas: 2,
	PGCommits: 5000, PGWriteMBs: 50, RedisOps: 80000, DeptCallsPerS: 200,
}

// PeakRPS is the district's total request rate at peak.
func (a assumptions) PeakRPS() float64 { return float64(a.Systems) * a.PerSystemRPS }

// assumptionKeys names the settings of -model-assume, in the order they are printed.
var assumptionKeys = []string{"systems", "rps-per-system", "cold", "cores", "util", "min-replicas", "pg-commits", "pg-mbs", "redis-ops", "dept-calls"}

func (a *assumptions) field(key string) (*float64, *int) {
	switch key {
	case "systems":
		return nil, &a.Systems
	case "rps-per-system":
		return &a.PerSystemRPS, nil
	case "cold":
		return &a.ColdShare, nil
	case "cores":
		return &a.ReplicaCores, nil
	case "util":
		return &a.TargetUtil, nil
	case "min-replicas":
		return nil, &a.MinReplicas
	case "pg-commits":
		return &a.PGCommits, nil
	case "pg-mbs":
		return &a.PGWriteMBs, nil
	case "redis-ops":
		return &a.RedisOps, nil
	case "dept-calls":
		return &a.DeptCallsPerS, nil
	}
	return nil, nil
}

// parseAssumptions reads -model-assume, "systems=300,rps-per-system=5,cold=0.2", over
// the defaults, and checks that every value is in range.
func parseAssumptions(s string) (assumptions, error) {
	a := defaultAssumptions
	for _, part := range splitList(s) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, fmt.Errorf("-model-assume: %q is not key=value (keys: %s)", part, strings.Join(assumptionKeys, " "))
		}
		f, i := a.field(k)
		switch {
		case f != nil:
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return a, fmt.Errorf("-model-assume: %s=%q is not a number", k, v)
			}
			*f = x
		case i != nil:
			x, err := strconv.Atoi(v)
			if err != nil {
				return a, fmt.Errorf("-model-assume: %s=%q is not a whole number", k, v)
			}
			*i = x
		default:
			return a, fmt.Errorf("-model-assume: unknown key %q (keys: %s)", k, strings.Join(assumptionKeys, " "))
		}
	}
	return a, a.validate()
}

func (a assumptions) validate() error {
	var bad []string
	if a.Systems < 1 {
		bad = append(bad, "systems must be at least 1")
	}
	if a.MinReplicas < 1 {
		bad = append(bad, "min-replicas must be at least 1")
	}
	if a.ColdShare < 0 || a.ColdShare > 1 {
		bad = append(bad, "cold is a share, 0 to 1")
	}
	if a.TargetUtil <= 0 || a.TargetUtil > 1 {
		bad = append(bad, "util is a share, above 0 and at most 1")
	}
	for _, p := range []struct {
		k string
		v float64
	}{{"rps-per-system", a.PerSystemRPS}, {"cores", a.ReplicaCores}, {"pg-commits", a.PGCommits}, {"pg-mbs", a.PGWriteMBs}, {"redis-ops", a.RedisOps}, {"dept-calls", a.DeptCallsPerS}} {
		if p.v <= 0 {
			bad = append(bad, p.k+" must be above 0")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("-model-assume: %s", strings.Join(bad, "; "))
	}
	return nil
}

// requestCost is what one request costs, measured by the run (per request, averaged
// over a measured window).
type requestCost struct {
	CPUMs       float64 // gateway CPU, ms
	PGCommits   float64 // PostgreSQL transactions committed in the store's database
	PGBytes     float64 // growth of the store's database, bytes
	AuditEvents float64 // audit events committed
	RedisOps    float64 // commands the Redis server processed
	DeptCalls   float64 // department calls, all departments
	SlowCalls   float64 // calls to the slowest department (PSB)
}

// mix is the cost of the average request when a share cold of them is cold.
func mix(cold, warm requestCost, share float64) requestCost {
	m := func(c, w float64) float64 { return share*c + (1-share)*w }
	return requestCost{
		CPUMs: m(cold.CPUMs, warm.CPUMs), PGCommits: m(cold.PGCommits, warm.PGCommits), PGBytes: m(cold.PGBytes, warm.PGBytes),
		AuditEvents: m(cold.AuditEvents, warm.AuditEvents), RedisOps: m(cold.RedisOps, warm.RedisOps),
		DeptCalls: m(cold.DeptCalls, warm.DeptCalls), SlowCalls: m(cold.SlowCalls, warm.SlowCalls),
	}
}

// component is one part of the deployment: what it must carry at peak, what it can,
// and the district request rate at which it saturates.
type component struct {
	Name     string
	Need     float64 // at the assumed peak, in Unit
	Capacity float64 // in Unit; for the replicas, of the replicas the model provisions
	Unit     string
	// SaturatesAt is the district requests/s at which Need reaches Capacity (+Inf when
	// the component does no work per request).
	SaturatesAt float64
	// ScalesOut: adding replicas raises the capacity (the gateway); the shared parts do
	// not scale with the gateway.
	ScalesOut bool
}

// capacityModel is the derived needs.
type capacityModel struct {
	A             assumptions
	Cold          requestCost
	Warm          requestCost
	Mixed         requestCost
	PeakRPS       float64
	PerReplicaRPS float64 // what one replica serves at the target utilisation
	Replicas      int
	Parts         []component
	// First is the shared part (not the gateway, which scales out) that saturates
	// first as the load grows.
	First component
}

// buildModel derives the district's needs from the measured costs.
func buildModel(a assumptions, cold, warm requestCost) capacityModel {
	m := capacityModel{A: a, Cold: cold, Warm: warm, Mixed: mix(cold, warm, a.ColdShare), PeakRPS: a.PeakRPS()}
	m.PerReplicaRPS = replicaRPS(a.ReplicaCores, a.TargetUtil, m.Mixed.CPUMs)
	m.Replicas = replicasFor(m.PeakRPS, m.PerReplicaRPS, a.MinReplicas)
	per := func(name string, perReq, capacity float64, unit string) component {
		return component{Name: name, Need: m.PeakRPS * perReq, Capacity: capacity, Unit: unit, SaturatesAt: saturatesAt(capacity, perReq)}
	}
	m.Parts = []component{
		{Name: "gateway replicas (CPU)", Need: m.PeakRPS * m.Mixed.CPUMs / 1000, Capacity: float64(m.Replicas) * a.ReplicaCores * a.TargetUtil,
			Unit: "cores", SaturatesAt: float64(m.Replicas) * m.PerReplicaRPS, ScalesOut: true},
		// One commit a request, not the measured share: group commit gathers the answers
		// that wait together, so the measured commits per request fall with a replica's
		// load and rise with the replicas (docs/PERFORMANCE.md, Capacity model); at the
		// district's load per replica it gathers little.
		per("PostgreSQL commits", commitsFor(m.Mixed.PGCommits), a.PGCommits, "commits/s"),
		per("PostgreSQL writes", m.Mixed.PGBytes/1e6, a.PGWriteMBs, "MB/s"),
		per("Redis", m.Mixed.RedisOps, a.RedisOps, "commands/s"),
		per("slowest department (PSB)", m.Mixed.SlowCalls, a.DeptCallsPerS, "calls/s"),
	}
	m.First = firstBottleneck(m.Parts)
	return m
}

// commitsBound is the commits per audited request the model provisions for: every
// answer's events in a commit of their own.
const commitsBound = 1.0

// commitsFor is the commits per request provisioned for a request measured at
// measured commits: commitsBound if it commits at all.
func commitsFor(measured float64) float64 {
	if measured <= 0 {
		return 0
	}
	return commitsBound
}

// replicaRPS is what one replica of cores cores serves at utilisation util when a
// request costs cpuMs of CPU.
func replicaRPS(cores, util, cpuMs float64) float64 {
	if cpuMs <= 0 {
		return math.Inf(1)
	}
	return cores * util * 1000 / cpuMs
}

// replicasFor is how many replicas carry peak req/s at perReplica each, never fewer
// than minimum.
func replicasFor(peak, perReplica float64, minimum int) int {
	if math.IsInf(perReplica, 1) || perReplica <= 0 {
		return minimum
	}
	return max(minimum, int(math.Ceil(peak/perReplica)))
}

// saturatesAt is the district req/s at which a part with capacity, taking perReq of it
// per request, is full.
func saturatesAt(capacity, perReq float64) float64 {
	if perReq <= 0 {
		return math.Inf(1)
	}
	return capacity / perReq
}

// firstBottleneck is the shared part with the lowest saturation point; the replicas
// only when nothing shared does any work.
func firstBottleneck(parts []component) component {
	shared := slices.DeleteFunc(slices.Clone(parts), func(c component) bool { return c.ScalesOut })
	if len(shared) == 0 || math.IsInf(slices.MinFunc(shared, bySaturation).SaturatesAt, 1) {
		return slices.MinFunc(parts, bySaturation)
	}
	return slices.MinFunc(shared, bySaturation)
}

func bySaturation(a, b component) int {
	switch {
	case a.SaturatesAt < b.SaturatesAt:
		return -1
	case a.SaturatesAt > b.SaturatesAt:
		return 1
	}
	return 0
}

// writeModel prints the model: the assumptions, the measured costs, the derived needs
// and the first bottleneck.
func writeModel(w io.Writer, m capacityModel) {
	a := m.A
	fmt.Fprintf(w, "Capacity model (docs/PERFORMANCE.md, Capacity model)\n\n")
	fmt.Fprintf(w, "Assumed load and capacities (-model-assume):\n")
	fmt.Fprintf(w, "  systems=%d  rps-per-system=%g req/s  → peak %.0f req/s\n", a.Systems, a.PerSystemRPS, m.PeakRPS)
	fmt.Fprintf(w, "  cold=%g (share of requests no cache answers)\n", a.ColdShare)
	fmt.Fprintf(w, "  cores=%g per replica  util=%g at peak  min-replicas=%d\n", a.ReplicaCores, a.TargetUtil, a.MinReplicas)
	fmt.Fprintf(w, "  pg-commits=%g commits/s  pg-mbs=%g MB/s  redis-ops=%g commands/s  dept-calls=%g calls/s (PSB)\n\n",
		a.PGCommits, a.PGWriteMBs, a.RedisOps, a.DeptCallsPerS)
	fmt.Fprintf(w, "Measured per request (S1, audited):\n")
	fmt.Fprintf(w, "  %-7s %9s %11s %11s %12s %11s %10s %9s\n", "", "CPU ms", "PG commits", "PG bytes", "audit events", "Redis ops", "dept calls", "PSB calls")
	for _, c := range []struct {
		n string
		c requestCost
	}{{"cold", m.Cold}, {"warm", m.Warm}, {"mixed", m.Mixed}} {
		fmt.Fprintf(w, "  %-7s %9.3f %11.3f %11.0f %12.2f %11.2f %10.2f %9.2f\n", c.n, c.c.CPUMs, c.c.PGCommits, c.c.PGBytes, c.c.AuditEvents, c.c.RedisOps, c.c.DeptCalls, c.c.SlowCalls)
	}
	fmt.Fprintf(w, "\nDerived at %.0f req/s:\n", m.PeakRPS)
	fmt.Fprintf(w, "  one replica serves %.0f req/s at util %g → %d replicas\n", m.PerReplicaRPS, a.TargetUtil, m.Replicas)
	fmt.Fprintf(w, "  %-26s %14s %14s %-11s %16s\n", "part", "need", "capacity", "unit", "saturates at")
	for _, c := range m.Parts {
		fmt.Fprintf(w, "  %-26s %14.1f %14.1f %-11s %12.0f req/s\n", c.Name, c.Need, c.Capacity, c.Unit, c.SaturatesAt)
	}
	fmt.Fprintf(w, "  department calls: %.0f calls/s in all at peak\n", m.PeakRPS*m.Mixed.DeptCalls)
	fmt.Fprintf(w, "  PostgreSQL commits provisioned at %g a request; the measured %.3f (answers sharing a group commit under a closed loop) would need %.0f commits/s\n",
		commitsFor(m.Mixed.PGCommits), m.Mixed.PGCommits, m.PeakRPS*m.Mixed.PGCommits)
	fmt.Fprintf(w, "\nFirst to saturate: %s, at %.0f req/s (%.1f× the assumed peak)\n", m.First.Name, m.First.SaturatesAt, m.First.SaturatesAt/m.PeakRPS)
}
