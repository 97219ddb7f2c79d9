package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is what one run sends: POST bodies (taken in turn) to one URL with one token.
type target struct {
	URL    string
	Token  string   // bearer token; empty for the ceiling and the peer
	Bodies [][]byte // JSON GraphQL requests, used round-robin across all connections
	// Expected is the GraphQL error code that the scenario provokes on purpose
	// (FORBIDDEN_FIELD for S2); those errors are counted apart, not as failures.
	Expected string
}

// loader holds N keep-alive connections, one client each, reused across the warm-up and
// the measured run so that both see the same connections.
type loader struct {
	clients []*http.Client
}

func newLoader(conns int) *loader {
	l := &loader{}
	for range conns {
		l.clients = append(l.clients, &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				Proxy:               nil, // loopback only, never through a proxy
				MaxConnsPerHost:     1,
				MaxIdleConnsPerHost: 1,
				DisableCompression:  true,
				IdleConnTimeout:     5 * time.Minute,
			},
		})
	}
	return l
}

func (l *loader) close() {
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
}

// loadResult is one run's outcome, as the load generator saw it.
type loadResult struct {
	Requests   int64         `json:"requests"`
	Elapsed    time.Duration `json:"-"`
	ElapsedSec float64       `json:"elapsed_s"`
	RPS        float64       `json:"rps"`
	// Rate is the offered rate of a paced run (requests/s), 0 for closed loop.
	Rate    float64   `json:"offered_rate,omitempty"`
	Latency latencies `json:"latency_ms"`
	// Errors are failed requests: transport errors, HTTP status ≠ 200, or GraphQL errors
	// other than the expected code.
	Errors      int64 `json:"errors"`
	NetErrors   int64 `json:"net_errors"`
	HTTPErrors  int64 `json:"http_errors"`
	GraphQLErrs int64 `json:"graphql_errors"`
	// ExpectedErrors counts the expected GraphQL errors (one per denied field).
	ExpectedErrors int64            `json:"expected_errors"`
	ErrorKinds     map[string]int64 `json:"error_kinds,omitempty"`
	FirstError     string           `json:"first_error,omitempty"`
}

type latencies struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// percentile is the nearest-rank percentile (p in 0..100) of sorted values: the smallest
// value with at least p % of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func summarize(lat []time.Duration) latencies {
	if len(lat) == 0 {
		return latencies{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return latencies{
		P50:  ms(percentile(lat, 50)),
		P90:  ms(percentile(lat, 90)),
		P99:  ms(percentile(lat, 99)),
		Max:  ms(lat[len(lat)-1]),
		Mean: ms(sum / time.Duration(len(lat))),
	}
}

// outcome classifies one answer.
type outcome struct {
	kind     string // "" for success, else why it failed: "http 500", "graphql INTERNAL", …
	expected int    // expected GraphQL errors in it
}

var errorsKey = []byte(`"errors"`)

// classify judges one response: HTTP status ≠ 200 is a failure; a GraphQL error whose
// code is not the expected one is a failure; expected errors are counted.
func classify(status int, body []byte, expected string) outcome {
	if status != http.StatusOK {
		return outcome{kind: fmt.Sprintf("http %d", status)}
	}
	if !bytes.Contains(body, errorsKey) {
		return outcome{}
	}
	var r struct {
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return outcome{kind: "bad json"}
	}
	var o outcome
	for _, e := range r.Errors {
		if expected != "" && e.Extensions.Code == expected {
			o.expected++
			continue
		}
		if o.kind == "" {
			code := e.Extensions.Code
			if code == "" {
				code = "(no code)"
			}
			o.kind = "graphql " + code
		}
	}
	return o
}

// workerStats are one connection's tallies, merged after the run.
type workerStats struct {
	lat        []time.Duration
	net, http  int64
	gql, exp   int64
	kinds      map[string]int64
	firstError string
}

// run drives the target for d. With rate 0 it is a closed loop: each connection sends
// its next request as soon as the previous answer is read. With rate > 0 the requests
// are paced to that total rate on a fixed schedule, and latency is measured from the
// scheduled send time, so a stalled server shows in the percentiles instead of slowing
// the load (no coordinated omission).
func (l *loader) run(ctx context.Context, t target, d time.Duration, rate float64) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d+35*time.Second)
	defer cancel()
	var next atomic.Uint64
	start := time.Now()
	stats := make([]workerStats, len(l.clients))
	var wg sync.WaitGroup
	for i, c := range l.clients {
		sched := newSchedule(start, d, rate, i, len(l.clients))
		wg.Go(func() { stats[i] = drive(ctx, c, t, sched, &next) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if rate > 0 && elapsed < d {
		elapsed = d
	}
	return tally(stats, elapsed, rate)
}

// schedule says when one connection sends its next request: at once in a closed loop,
// or in its own slots of a paced run's fixed timetable.
type schedule struct {
	end      time.Time
	paced    bool
	at       time.Time     // paced: the next send time
	interval time.Duration // paced: between this connection's send times
}

// newSchedule is connection i's (of conns) schedule for a run from start for d; with
// rate > 0 the connections take turns, so that together they send rate requests/s.
func newSchedule(start time.Time, d time.Duration, rate float64, i, conns int) *schedule {
	s := &schedule{end: start.Add(d)}
	if rate > 0 {
		s.paced = true
		s.interval = time.Duration(float64(conns) / rate * float64(time.Second))
		s.at = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	}
	return s
}

// next waits until the next send time and returns it, the time the request's latency
// counts from; ok is false once the run is over.
func (s *schedule) next() (begin time.Time, ok bool) {
	if !s.paced {
		begin = time.Now()
		return begin, begin.Before(s.end)
	}
	if !s.at.Before(s.end) {
		return time.Time{}, false
	}
	if w := time.Until(s.at); w > 0 {
		time.Sleep(w)
	}
	begin = s.at
	s.at = s.at.Add(s.interval)
	return begin, true
}

// drive sends t's requests over c on sched until the run is over or ctx ends, taking the
// bodies in turn from the counter shared by all connections, and returns its tallies.
func drive(ctx context.Context, c *http.Client, t target, sched *schedule, next *atomic.Uint64) workerStats {
	ws := workerStats{kinds: map[string]int64{}, lat: make([]time.Duration, 0, 4096)}
	var buf bytes.Buffer
	for {
		begin, ok := sched.next()
		if !ok {
			return ws
		}
		o, done := ws.send(ctx, c, t, int(next.Add(1)%uint64(len(t.Bodies))), &buf)
		if done {
			return ws
		}
		ws.lat = append(ws.lat, time.Since(begin))
		ws.exp += int64(o.expected)
		if o.kind != "" {
			ws.kinds[o.kind]++
		}
	}
}

// send posts t's body i over c, reading the answer into buf, and classifies it, counting
// a failure by its kind. done is true when ctx ended the request: it is then not counted.
func (ws *workerStats) send(ctx context.Context, c *http.Client, t target, i int, buf *bytes.Buffer) (o outcome, done bool) {
	req := mustRequest(ctx, t, i)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{}, true
		}
		return ws.transportError(err), false
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return ws.transportError(err), false
	}
	o = classify(resp.StatusCode, buf.Bytes(), t.Expected)
	switch {
	case o.kind == "":
	case resp.StatusCode != http.StatusOK:
		ws.http++
	default:
		ws.gql++
	}
	if o.kind != "" && ws.firstError == "" {
		ws.firstError = o.kind + ": " + string(buf.Bytes()[:min(buf.Len(), 300)])
	}
	return o, false
}

// transportError counts a request that failed on the wire (sending it or reading its answer).
func (ws *workerStats) transportError(err error) outcome {
	ws.net++
	if ws.firstError == "" {
		ws.firstError = err.Error()
	}
	return outcome{kind: "transport"}
}

// tally merges the connections' tallies into the run's result.
func tally(stats []workerStats, elapsed time.Duration, rate float64) loadResult {
	r := loadResult{Elapsed: elapsed, ElapsedSec: elapsed.Seconds(), Rate: rate, ErrorKinds: map[string]int64{}}
	var all []time.Duration
	for _, ws := range stats {
		all = append(all, ws.lat...)
		r.NetErrors += ws.net
		r.HTTPErrors += ws.http
		r.GraphQLErrs += ws.gql
		r.ExpectedErrors += ws.exp
		for k, v := range ws.kinds {
			r.ErrorKinds[k] += v
		}
		if r.FirstError == "" {
			r.FirstError = ws.firstError
		}
	}
	r.Requests = int64(len(all))
	r.Errors = r.NetErrors + r.HTTPErrors + r.GraphQLErrs
	r.RPS = float64(r.Requests) / elapsed.Seconds()
	r.Latency = summarize(all)
	if len(r.ErrorKinds) == 0 {
		r.ErrorKinds = nil
	}
	return r
}

// mergeResults adds up consecutive closed-loop runs of one target. Percentiles cannot
// be merged exactly from summaries: p50 and the mean are weighted by requests, p90, p99
// and the maximum are the worst run's, so the merged figures never look better than
// some window was.
func mergeResults(rs []loadResult) loadResult {
	var out loadResult
	for _, r := range rs {
		out.Requests += r.Requests
		out.Elapsed += r.Elapsed
		out.Errors += r.Errors
		out.NetErrors += r.NetErrors
		out.HTTPErrors += r.HTTPErrors
		out.GraphQLErrs += r.GraphQLErrs
		out.ExpectedErrors += r.ExpectedErrors
		if out.FirstError == "" {
			out.FirstError = r.FirstError
		}
		for k, v := range r.ErrorKinds {
			if out.ErrorKinds == nil {
				out.ErrorKinds = map[string]int64{}
			}
			out.ErrorKinds[k] += v
		}
		w := float64(r.Requests)
		out.Latency.P50 += r.Latency.P50 * w
		out.Latency.Mean += r.Latency.Mean * w
		out.Latency.P90 = max(out.Latency.P90, r.Latency.P90)
		out.Latency.P99 = max(out.Latency.P99, r.Latency.P99)
		out.Latency.Max = max(out.Latency.Max, r.Latency.Max)
	}
	if out.Requests > 0 {
		out.Latency.P50 /= float64(out.Requests)
		out.Latency.Mean /= float64(out.Requests)
	}
	out.ElapsedSec = out.Elapsed.Seconds()
	if out.ElapsedSec > 0 {
		out.RPS = float64(out.Requests) / out.ElapsedSec
	}
	return out
}
