package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// simStats is the answer of a simulator's GET /_sim/stats.
type simStats struct {
	Requests map[string]int64 `json:"requests"`
	Total    int64            `json:"total"`
}

// simBase turns a simulator address as the gateway logs it (for the PSB, the service
// URL http://host:port/PopulationService) into the server's base URL, where /_sim/ lives.
func simBase(addr string) (string, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("simulator address %q: want http://host:port[/path]", addr)
	}
	return u.Scheme + "://" + u.Host, nil
}

var ctlClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func getSimStats(ctx context.Context, base string) (simStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_sim/stats", nil)
	if err != nil {
		return simStats{}, err
	}
	resp, err := ctlClient.Do(req)
	if err != nil {
		return simStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return simStats{}, fmt.Errorf("%s/_sim/stats: %s", base, resp.Status)
	}
	var s simStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return simStats{}, fmt.Errorf("%s/_sim/stats: %w", base, err)
	}
	return s, nil
}

// setSimLatency makes the simulator answer every request after d (mode ok).
func setSimLatency(ctx context.Context, base string, d time.Duration) error {
	body, _ := json.Marshal(map[string]string{"mode": "ok", "latency": d.String()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_sim/fault", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ctlClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s/_sim/fault: %s: %s", base, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// diffCounts is after − before, per key, leaving out keys that did not move.
func diffCounts(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, a := range after {
		if d := a - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// formatCounts renders {"batch":3,"get":1} as "batch=3 get=1", sorted.
func formatCounts(m map[string]int64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// upstreamMetric is the gateway's Prometheus counter of calls to department systems; the
// only way to count queries to the credit database (SQL) and the HRSS drop (files), which
// have no simulator counters.
const upstreamMetric = "gateway_upstream_calls_total"

// parseUpstreamMetrics sums gateway_upstream_calls_total by its department label from a
// Prometheus text exposition. present says whether the exposition has the counter at all
// (it has no samples before the first call).
func parseUpstreamMetrics(r io.Reader) (byDept map[string]int64, present bool, err error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE "+upstreamMetric+" ") {
			present = true
		}
		rest, ok := strings.CutPrefix(line, upstreamMetric+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		dept := labelValue(labels, "department")
		if dept == "" {
			continue
		}
		if i := strings.IndexByte(value, ' '); i >= 0 { // a timestamp may follow
			value = value[:i]
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, false, fmt.Errorf("%s: value %q: %w", upstreamMetric, value, err)
		}
		present = true
		out[dept] += int64(v)
	}
	return out, present, sc.Err()
}

// labelValue finds name="value" in a Prometheus label list (values here never contain
// quotes or commas).
func labelValue(labels, name string) string {
	for part := range strings.SplitSeq(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// getUpstreamMetrics reads the gateway's /metrics; ok is false when the gateway does not
// expose it (or not this counter), and the credit and HRSS columns then stay empty.
func getUpstreamMetrics(ctx context.Context, gatewayURL string) (map[string]int64, bool) {
	body, err := getMetrics(ctx, gatewayURL)
	if err != nil {
		return nil, false
	}
	m, present, err := parseUpstreamMetrics(bytes.NewReader(body))
	if err != nil || !present {
		return nil, false
	}
	return m, true
}

// getMetrics reads the gateway's /metrics page.
func getMetrics(ctx context.Context, gatewayURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := ctlClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// getGauges reads one gauge of the gateway's /metrics by its department label.
func getGauges(ctx context.Context, gatewayURL, name string) (map[string]float64, error) {
	body, err := getMetrics(ctx, gatewayURL)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(value, ' '); i >= 0 {
			value = value[:i]
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[labelValue(labels, "department")] += v
		}
	}
	return out, nil
}
