package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one measured run.
type row struct {
	Group    string `json:"group"`  // which system, how started: "gateway", "gateway audit-off", "ceiling", "peer hive-gateway", …
	System   string `json:"system"` // gateway | ceiling | hive-gateway
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"` // cold | warm | warm@50% | …
	Conns    int    `json:"conns"`
	loadResult
	// Upstream are the department calls during the measured window, by department and
	// operation: psb and amr from the simulators' /_sim/stats, the others from the
	// gateway's /metrics when it serves them.
	Upstream       map[string]map[string]int64 `json:"upstream,omitempty"`
	UpstreamPerReq map[string]float64          `json:"upstream_per_request,omitempty"`
	CPUSeconds     float64                     `json:"cpu_s"`
	CPUPerReqMs    float64                     `json:"cpu_ms_per_request"`
	PeakRSSMiB     float64                     `json:"peak_rss_mib"`
	// CacheBytesPerEntry is, for the cache-size runs, what one cached enterprise costs as
	// the cache accounts it (gateway_cache_bytes / gateway_cache_entries for AMR).
	CacheBytesPerEntry float64 `json:"cache_bytes_per_entry,omitempty"`
	// PeakSinceStart is set when the peak could not be reset before the run, so it is
	// the process's peak since it started.
	PeakSinceStart bool `json:"peak_since_start,omitempty"`
	// AuditEventsPerSec is the audit events the gateways committed per second of the
	// run (the replicas phase).
	AuditEventsPerSec float64 `json:"audit_events_per_s,omitempty"`
	// PerRequest are counters read outside the gateway (the -model run: the store's
	// commits and bytes, Redis's commands), their change over the window per request.
	PerRequest map[string]float64 `json:"per_request,omitempty"`
	Note       string             `json:"note,omitempty"`
}

// report is the whole output, as written by -json.
type report struct {
	Started    time.Time     `json:"started"`
	Machine    machine       `json:"machine"`
	Conditions conditions    `json:"conditions"`
	Rows       []row         `json:"rows"`
	Targets    []targetCheck `json:"targets,omitempty"`
	Skipped    []string      `json:"skipped,omitempty"`
}

type machine struct {
	CPUs       int     `json:"cpus"`
	CPUModel   string  `json:"cpu_model"`
	MemoryGiB  float64 `json:"memory_gib"`
	Kernel     string  `json:"kernel"`
	Go         string  `json:"go"`
	Node       string  `json:"node,omitempty"`
	LoadBefore string  `json:"loadavg_before"`
	LoadAfter  string  `json:"loadavg_after,omitempty"`
}

type conditions struct {
	Conns      int    `json:"conns"`
	Duration   string `json:"duration"`
	Warmup     string `json:"warmup"`
	ColdWarmup string `json:"cold_warmup"`
	PSBLatency string `json:"psb_latency"`
	AMRLatency string `json:"amr_latency"`
	Sims       string `json:"sims"`
	Note       string `json:"note"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: readTrim("/proc/loadavg")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := parseStatusKB(string(b), "MemTotal"); err == nil {
			m.MemoryGiB = float64(kb) / (1 << 30)
		}
	}
	m.Kernel = readTrim("/proc/sys/kernel/osrelease")
	return m
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// perReq formats upstream calls per request for the table.
func perReq(r row, dept string) string {
	if r.UpstreamPerReq == nil {
		return "-"
	}
	v, ok := r.UpstreamPerReq[dept]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func tableHeader() string {
	return "group\tscenario\tmode\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\texpected\tpsb/req\tamr/req\tcredit/req\tcpu s\tcpu ms/req\tpeak RSS MiB\t"
}

func tableLine(r row) string {
	return fmt.Sprintf("%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%s\t%s\t%s\t%.1f\t%.3f\t%.0f\t",
		r.Group, r.Scenario, r.Mode, r.RPS, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max,
		r.Errors, r.ExpectedErrors, perReq(r, "psb"), perReq(r, "amr"), perReq(r, "credit"),
		r.CPUSeconds, r.CPUPerReqMs, r.PeakRSSMiB)
}

// writeTable prints the rows as an aligned table, then the targets.
func writeTable(w io.Writer, rep *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, tableHeader())
	for _, r := range rep.Rows {
		fmt.Fprintln(tw, tableLine(r))
	}
	tw.Flush()
	notes := false
	for _, r := range rep.Rows {
		if r.Note == "" && r.FirstError == "" {
			continue
		}
		if !notes {
			fmt.Fprintln(w, "\nnotes:")
			notes = true
		}
		if r.Note != "" {
			fmt.Fprintf(w, "  %s %s %s: %s\n", r.Group, r.Scenario, r.Mode, r.Note)
		}
		if r.FirstError != "" {
			fmt.Fprintf(w, "  %s %s %s: first error: %s\n", r.Group, r.Scenario, r.Mode, oneLine(r.FirstError, 200))
		}
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range rep.Targets {
			verdict := "n/a"
			if t.Holds != nil {
				verdict = map[bool]string{true: "HOLDS", false: "MISSED"}[*t.Holds]
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t(want %s)\n", verdict, t.Name, t.Got, t.Want)
		}
		tw.Flush()
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// targetCheck is one of the targets and whether the run met it.
type targetCheck struct {
	Name  string `json:"name"`
	Want  string `json:"want"`
	Got   string `json:"got"`
	Holds *bool  `json:"holds,omitempty"` // nil when the run lacks what it needs
}

func find(rows []row, group, scenario, mode string) *row {
	for i := range rows {
		if rows[i].Group == group && rows[i].Scenario == scenario && rows[i].Mode == mode {
			return &rows[i]
		}
	}
	return nil
}

func holds(b bool) *bool { return &b }

// evaluateTargets checks the targets of docs/PERFORMANCE.md (The targets) against the rows.
func evaluateTargets(rows []row, s3Persons int) []targetCheck {
	var out []targetCheck
	add := func(name, want string, ok *bool, got string) {
		out = append(out, targetCheck{Name: name, Want: want, Got: got, Holds: ok})
	}

	if g, c := find(rows, groupGateway, "S2u", "warm"), find(rows, groupCeiling, "S2u", "closed"); g != nil && c != nil && c.RPS > 0 {
		ratio := g.RPS / c.RPS
		add("warm S2u vs the ceiling (req/s)", "≥ 45 %", holds(ratio >= 0.45), fmt.Sprintf("%.0f / %.0f = %.0f %%", g.RPS, c.RPS, 100*ratio))
	} else {
		add("warm S2u vs the ceiling (req/s)", "≥ 45 %", nil, "not measured")
	}

	p, g := find(rows, groupPeer, "P", "closed"), find(rows, groupGatewaySim, "P", "cold")
	if p != nil && g != nil && p.RPS > 0 && p.PeakRSSMiB > 0 {
		ratio := g.RPS / p.RPS
		mem := g.PeakRSSMiB / p.PeakRSSMiB
		add("cold vs the peer (req/s)", "≥ 10×", holds(ratio >= 10), fmt.Sprintf("%.0f / %.0f = %.1f×", g.RPS, p.RPS, ratio))
		add("cold vs the peer (peak RSS)", "≤ ¼", holds(mem <= 0.25), fmt.Sprintf("%.0f / %.0f MiB = %.2f", g.PeakRSSMiB, p.PeakRSSMiB, mem))
		if w := find(rows, groupGatewaySim, "P", "warm"); w != nil {
			ratio := w.RPS / p.RPS
			add("warm vs the peer (req/s)", "≥ 25×", holds(ratio >= 25), fmt.Sprintf("%.0f / %.0f = %.1f×", w.RPS, p.RPS, ratio))
		}
	} else {
		add("cold and warm vs the peer (req/s, peak RSS)", "≥ 10×, ≥ 25×, ≤ ¼", nil, "peer not measured")
	}

	for _, sc := range []string{"S1", "S2", "S2u", "S3", "S4"} {
		on, off := find(rows, groupGateway, sc, "warm"), find(rows, groupNoAudit, sc, "warm")
		if on == nil || off == nil || off.RPS == 0 {
			continue
		}
		ratio := on.RPS / off.RPS
		add("audit on vs off, "+sc+" warm (req/s)", "≥ 90 %", holds(ratio >= 0.90), fmt.Sprintf("%.0f / %.0f = %.0f %%", on.RPS, off.RPS, 100*ratio))
	}
	if one, two := find(rows, groupReplicas(1), "S1", "warm"), find(rows, groupReplicas(2), "S1", "warm"); one != nil && two != nil {
		add("audit events/s, 2 replicas vs 1 (PostgreSQL)", "no worse", holds(two.AuditEventsPerSec >= 0.9*one.AuditEventsPerSec),
			fmt.Sprintf("%.0f vs %.0f events/s", two.AuditEventsPerSec, one.AuditEventsPerSec))
	}

	for _, r := range rows {
		if r.Group == groupGateway && r.Mode == "warm@50%" {
			add("warm p99 at half the max throughput, "+r.Scenario, "< 10 ms", holds(r.Latency.P99 < 10), fmt.Sprintf("%.2f ms at %.0f req/s", r.Latency.P99, r.Rate))
		}
	}

	if r := find(rows, groupGateway, "S3", "cold"); r != nil && r.UpstreamPerReq != nil {
		amr := r.UpstreamPerReq["amr"]
		ok := amr <= 1.0001
		got := fmt.Sprintf("amr %.2f/req", amr)
		if credit, measured := r.UpstreamPerReq["credit"]; measured {
			ok = ok && credit <= 1.0001
			got += fmt.Sprintf(", credit %.2f/req", credit)
		} else {
			got += ", credit not measurable (gateway has no /metrics)"
		}
		psb := r.UpstreamPerReq["psb"]
		if s3Persons > 0 {
			ok = ok && psb <= float64(s3Persons)+0.0001
			got += fmt.Sprintf(", psb %.2f/req for %d distinct persons", psb, s3Persons)
		} else {
			got += fmt.Sprintf(", psb %.2f/req", psb)
		}
		add("S3 cold upstream calls", "1 AMR + 1 credit per level, PSB ≤ distinct persons", holds(ok), got)
	}
	if r := find(rows, groupGateway, "S3", "warm"); r != nil && r.UpstreamPerReq != nil {
		var total float64
		for _, v := range r.UpstreamPerReq {
			total += v
		}
		add("S3 warm upstream calls", "0", holds(total == 0), fmt.Sprintf("%.2f/req (%s)", total, formatPerReq(r.UpstreamPerReq)))
	}
	return out
}

func formatPerReq(m map[string]float64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
