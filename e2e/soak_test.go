package e2e

// A bounded soak with faults: concurrent clients of several consumers while the PSB and
// AMR simulators flip at random (seeded) between down, slow, garbage, a 50 % error rate and
// ok. Afterwards every breaker must close again, goroutines and heap must come back near
// their baseline, and every answer must have been a well-formed GraphQL response with an
// allowed status that carried nothing its caller may not see.
//
// Duration: 8 s by default; GATEWAY_SOAK=2m (any Go duration) runs longer, e.g.
//
//	GATEWAY_SOAK=2m go test ./e2e/ -run TestSoakWithFaults -v -timeout 10m
//
// GATEWAY_SOAK_HEAPPROFILE=FILE writes a heap profile once the soak is over.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// Bounds the soak asserts, stated once so the documentation can quote them.
const (
	soakClients = 8
	// soakGoroutineSlack is how many goroutines, other than those of idle keep-alive
	// connections, may remain above the baseline once the soak is over.
	soakGoroutineSlack = 25
	// soakIdleConnGoroutines bounds the goroutines of idle keep-alive connections: the
	// gateway keeps up to 64 idle connections per department host (two HTTP departments),
	// each served by 2 client goroutines and 1 simulator goroutine.
	soakIdleConnGoroutines = 2 * 64 * 3
	// soakHeapSlack is how much the heap in use (less the harness's log buffer) may grow
	// over the baseline.
	soakHeapSlack = 32 << 20
	// soakMaxLatency bounds any one request while departments stall (timeouts are 300 ms).
	soakMaxLatency = 5 * time.Second
)

func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("GATEWAY_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("GATEWAY_SOAK=%q: want a duration such as 2m", v)
		}
		return d
	}
	if testing.Short() {
		return 2 * time.Second // -short: enough faults to flip the breakers a few times
	}
	return 8 * time.Second
}

// goroutines returns the number of goroutines, and how many of them are not idle HTTP
// keep-alive connections (whose number depends on pool sizes, not on leaks).
func goroutines() (total, nonConn int) {
	buf := make([]byte, 8<<20)
	n := runtime.Stack(buf, true)
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.TrimSpace(g) == "" {
			continue
		}
		total++
		if strings.Contains(g, "net/http.(*persistConn).readLoop") ||
			strings.Contains(g, "net/http.(*persistConn).writeLoop") ||
			strings.Contains(g, "net/http.(*conn).serve") {
			continue
		}
		nonConn++
	}
	return total, nonConn
}

// heapInUse is the heap in use after a collection, less the in-memory log buffer the
// test harness keeps (the access log alone grows it by about 150 bytes a request).
func heapInUse(g *Gateway) uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	logBuf := uint64(g.Logs.Cap())
	if logBuf > m.HeapInuse {
		return 0
	}
	return m.HeapInuse - logBuf
}

// soakStats are the soak's figures.
type soakStats struct {
	mu        sync.Mutex
	requests  int
	statuses  map[int]int
	codes     map[string]int
	faults    map[string]int
	maxLat    time.Duration
	latencies []time.Duration
	problems  []string
}

func (s *soakStats) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// soakCaller is a token and the values its answers must never contain.
type soakCaller struct {
	name    string
	token   string
	weight  int
	secrets []string
}

// validGraphQL returns why raw is not a well-formed GraphQL response, or "".
func validGraphQL(status int, raw []byte) (string, []string) {
	var resp struct {
		Data   *json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&resp); err != nil {
		return "not JSON: " + err.Error(), nil
	}
	var hasData bool
	var top map[string]json.RawMessage
	json.Unmarshal(raw, &top)
	_, hasData = top["data"]
	if !hasData && len(resp.Errors) == 0 {
		return "neither data nor errors", nil
	}
	if status != http.StatusOK && hasData {
		return fmt.Sprintf("status %d with data", status), nil
	}
	var codes []string
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		if e.Message == "" || code == "" {
			return fmt.Sprintf("an error without message or code: %+v", e), nil
		}
		if strings.HasPrefix(code, "SOURCE_") && e.Extensions["department"] == nil {
			return "a source error without its department", nil
		}
		codes = append(codes, code)
	}
	return "", codes
}

// TestSoakWithFaults: see the file comment.
func TestSoakWithFaults(t *testing.T) {
	duration := soakDuration(t)
	g := newSoakGateway(t)
	callers := soakCallers(g)
	queries := soakQueries(g)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: soakClients}}
	// Warm up every path once, so the baseline includes pools and caches that exist anyway.
	for _, c := range callers {
		for _, q := range queries {
			query, vars := q(rand.New(rand.NewPCG(1, 2)))
			if _, err := PostFrom(client, g.Srv.URL, c.token, query, vars); err != nil {
				t.Fatal(err)
			}
		}
	}
	client.CloseIdleConnections()
	baseTotal, baseNonConn := goroutines()
	baseHeap := heapInUse(g)

	stats := &soakStats{statuses: map[int]int{}, codes: map[string]int{}, faults: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The fault flipper: seeded, so a failing run can be replayed.
	const seed = 20240611
	wg.Go(func() { flipFaults(g, stats, stop, seed) })
	weighted := weightedCallers(callers)
	for w := 0; w < soakClients; w++ {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)+100))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := weighted[r.IntN(len(weighted))]
				query, vars := queries[r.IntN(len(queries))](r)
				soakRequest(client, g, c, query, vars, stats)
			}
		})
	}
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()

	recovered := awaitSoakRecovery(t, client, g)
	total, nonConn := awaitGoroutines(t, baseTotal, baseNonConn)
	heap := heapInUse(g)
	if path := os.Getenv("GATEWAY_SOAK_HEAPPROFILE"); path != "" {
		// For finding what the heap holds after a long soak: go tool pprof -sample_index=inuse_space.
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if heap > baseHeap+soakHeapSlack {
		t.Errorf("heap in use %d MiB after the soak, baseline %d MiB, bound +%d MiB", heap>>20, baseHeap>>20, soakHeapSlack>>20)
	}

	stats.mu.Lock()
	defer stats.mu.Unlock()
	stats.check(t, duration)
	stats.log(t, duration, seed)
	t.Logf("soak: breakers closed %v after the faults ended", recovered.Round(time.Millisecond))
	t.Logf("soak: goroutines %d before, %d after (not connections: %d before, %d after); heap in use (less the log buffer) %.1f MiB before, %.1f MiB after",
		baseTotal, total, baseNonConn, nonConn, float64(baseHeap)/(1<<20), float64(heap)/(1<<20))
}

// newSoakGateway is a gateway whose PSB and AMR simulators, on loopback, time
// out after 300 ms and open their breakers for 500 ms.
func newSoakGateway(t *testing.T) *Gateway {
	g := Start(t, func(c *config.Config) {
		for i := range c.Departments {
			if d := &c.Departments[i]; d.ID == "psb" || d.ID == "amr" {
				d.Timeout = 300 * time.Millisecond
				d.BreakerOpenFor = 500 * time.Millisecond
			}
		}
	})
	for id, addr := range g.Sims.Addrs {
		if (id == "psb" || id == "amr") && !strings.Contains(addr, "127.0.0.1") {
			t.Fatalf("the %s simulator is not on loopback: %s", id, addr)
		}
	}
	return g
}

// soakCallers are the soak's consumers, each with how often it calls and what
// it must never see.
func soakCallers(g *Gateway) []soakCaller {
	phones := []string{"13812345678", "13987654321", "13601234567", "13501112233"}
	return []soakCaller{
		{"online-hall", g.Token("online-hall"), 4, phones},
		{"supervision-platform", g.Token("supervision-platform"), 2, append([]string{"银城中路", "1985-03-12"}, phones...)},
		{"playground", g.Token("playground"), 1, append([]string{"张伟", "银城中路", "1985-03-12", "拒不履行"}, phones...)},
		{"ipudong-portal as 李娜", g.Token("ipudong-portal", dataset.LiNa), 1, []string{"张伟", "银城中路", "13812345678", "拒不履行"}},
		{"psb-console", g.Token("psb-console"), 1, []string{"拒不履行"}},
	}
}

// weightedCallers repeats each caller as often as its weight.
func weightedCallers(callers []soakCaller) []soakCaller {
	var weighted []soakCaller
	for _, c := range callers {
		for i := 0; i < c.weight; i++ {
			weighted = append(weighted, c)
		}
	}
	return weighted
}

// soakQueries are the queries the soak draws from, each with random arguments.
func soakQueries(g *Gateway) []func(r *rand.Rand) (string, map[string]any) {
	persons, enterprises := slices.Collect(g.Sims.Data.AllPersons()), slices.Collect(g.Sims.Data.AllEnterprises())
	return []func(r *rand.Rand) (string, map[string]any){
		func(r *rand.Rand) (string, map[string]any) {
			return `query($id: ID!) { citizen(idNumber: $id) { idNumber name birthDate householdAddress phone socialInsurance { insuranceType employer { name } } } }`,
				map[string]any{"id": persons[r.IntN(len(persons))].IDNumber}
		},
		func(r *rand.Rand) (string, map[string]any) {
			return `query($c: ID!) { enterprise(creditCode: $c) { name status legalRepresentative { name phone } creditRecords { title content } insuredEmployees } }`,
				map[string]any{"c": enterprises[r.IntN(len(enterprises))].CreditCode}
		},
		func(r *rand.Rand) (string, map[string]any) {
			return `{ enterprises(first: 10) { totalCount edges { node { name legalRepresentative { name householdAddress } } } } }`, nil
		},
		func(r *rand.Rand) (string, map[string]any) {
			subjects := []string{dataset.WangQiang, dataset.LiNa, dataset.E1, dataset.E2, dataset.E3}
			return `query($s: ID!) { creditRecords(subject: $s) { kind title content subject { ... on Citizen { name phone } ... on Enterprise { name } } } }`,
				map[string]any{"s": subjects[r.IntN(len(subjects))]}
		},
		func(r *rand.Rand) (string, map[string]any) {
			return `{ citizen(idNumber: "310115198503120012") { name householdAddress phone enterprises { name } creditRecords { content } } }`, nil
		},
		func(r *rand.Rand) (string, map[string]any) {
			return `{ citizen(idNumber: "310115198503120013") { name } }`, nil // bad check digit
		},
	}
}

// flipFaults sets a random fault (down, slow, garbage, errors or none) on the
// PSB and AMR simulators every 150 to 500 ms until stop is closed.
func flipFaults(g *Gateway, stats *soakStats, stop <-chan struct{}, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for {
		for _, d := range []struct {
			id  string
			ctl *simhttp.Control
		}{{"psb", g.Sims.PSB}, {"amr", g.Sims.AMR}} {
			var f simhttp.Fault
			switch r.IntN(5) {
			case 0:
				f = simhttp.Fault{Mode: simhttp.ModeDown}
			case 1:
				f = simhttp.Fault{Mode: simhttp.ModeSlow, Latency: fmt.Sprintf("%dms", 1000+r.IntN(1000))}
			case 2:
				f = simhttp.Fault{Mode: simhttp.ModeGarbage}
			case 3:
				f = simhttp.Fault{Mode: simhttp.ModeError, Rate: 0.5}
			default:
				f = simhttp.Fault{Mode: simhttp.ModeOK}
			}
			if err := d.ctl.SetFault(f); err != nil {
				stats.problem("SetFault: %v", err)
			}
			stats.mu.Lock()
			stats.faults[d.id+":"+f.Mode]++
			stats.mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(150+r.IntN(350)) * time.Millisecond):
		}
	}
}

// soakRequest sends one query as c and records its latency, status and error
// codes, and any problem with the answer: no answer, a status other than those
// allowed, not a GraphQL response, an unexpected code, or a value c may not see.
func soakRequest(client *http.Client, g *Gateway, c soakCaller, query string, vars map[string]any, stats *soakStats) {
	start := time.Now()
	res, err := PostFrom(client, g.Srv.URL, c.token, query, vars)
	lat := time.Since(start)
	stats.mu.Lock()
	stats.requests++
	stats.latencies = append(stats.latencies, lat)
	stats.maxLat = max(stats.maxLat, lat)
	if err == nil {
		stats.statuses[res.Status]++
	}
	stats.mu.Unlock()
	if err != nil && res.Raw == nil {
		stats.problem("%s: no answer: %v", c.name, err)
		return
	}
	if !slices.Contains([]int{200, 413, 429, 503}, res.Status) {
		stats.problem("%s: status %d: %.300s", c.name, res.Status, res.Raw)
	}
	why, codes := validGraphQL(res.Status, res.Raw)
	if why != "" {
		stats.problem("%s: not a valid GraphQL response (%s): %.300s", c.name, why, res.Raw)
	}
	stats.mu.Lock()
	for _, code := range codes {
		stats.codes[code]++
	}
	stats.mu.Unlock()
	for _, code := range codes {
		if !slices.Contains([]string{"FORBIDDEN_FIELD", "SOURCE_UNAVAILABLE", "SOURCE_ERROR", "BAD_USER_INPUT", "RATE_LIMITED", "FORBIDDEN_ARGUMENT", "SUBJECT_LIMIT_EXCEEDED"}, code) {
			stats.problem("%s: unexpected error code %s: %.300s", c.name, code, res.Raw)
		}
	}
	for _, s := range c.secrets {
		if bytes.Contains(res.Raw, []byte(s)) {
			stats.problem("%s: the answer leaks %q: %.300s", c.name, s, res.Raw)
		}
	}
}

// awaitSoakRecovery brings the departments back and waits for both breakers to
// close, then checks that the gateway answers in full; it returns how long the
// breakers took. Probes must reach the departments, so the owners purge their
// cached records first.
func awaitSoakRecovery(t *testing.T, client *http.Client, g *Gateway) time.Duration {
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeOK})
	g.Sims.AMR.SetFault(simhttp.Fault{Mode: simhttp.ModeOK})
	recoverStart := time.Now()
	hall, psbTok, amrTok := g.Token("online-hall"), g.Token("psb-console"), g.Token("amr-console")
	var ready map[string]string
	for {
		ready = g.readyz()
		if ready["department:psb"] == "closed" && ready["department:amr"] == "closed" {
			break
		}
		if time.Since(recoverStart) > 15*time.Second {
			t.Fatalf("breakers still not closed 15 s after the faults ended: %v", ready)
		}
		PostFrom(client, g.Srv.URL, psbTok, `mutation { purgeCache(department: "psb") }`, nil)
		PostFrom(client, g.Srv.URL, amrTok, `mutation { purgeCache(department: "amr") }`, nil)
		PostFrom(client, g.Srv.URL, hall, `{ citizen(idNumber: "310115198503120012") { name } enterprise(creditCode: "91310115MA1FL0AB0P") { name } }`, nil)
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Since(recoverStart)
	for comp, state := range ready {
		if strings.HasPrefix(comp, "department:") && state != "closed" || comp == "store" && state != "up" {
			t.Errorf("after the soak %s is %s", comp, state)
		}
	}
	if r := g.Post(hall, `{ citizen(idNumber: "310115198503120012") { name } enterprise(creditCode: "91310115MA1FL0AB0P") { name } }`, nil); r.Str("citizen.name") != "张伟" || r.Str("enterprise.name") == "" || len(r.Errors) > 0 {
		t.Errorf("after recovery the gateway answers in full: %s", r.Raw)
	}
	client.CloseIdleConnections()
	return recovered
}

// awaitGoroutines waits, up to 10 s, for the goroutines to come back near the
// baseline (slow simulator handlers finish on their own) and returns their numbers.
func awaitGoroutines(t *testing.T, baseTotal, baseNonConn int) (total, nonConn int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		total, nonConn = goroutines()
		if nonConn <= baseNonConn+soakGoroutineSlack && total <= baseTotal+soakIdleConnGoroutines+soakGoroutineSlack {
			return total, nonConn
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines: %d (%d not connections) after the soak, baseline %d (%d); bound +%d (+%d for idle connections)\n%s",
				total, nonConn, baseTotal, baseNonConn, soakGoroutineSlack, soakIdleConnGoroutines, buf[:runtime.Stack(buf, true)])
			return total, nonConn
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check reports the problems the clients saw, a request slower than the
// bound, and a soak with too few requests to mean anything. s.mu is held.
func (s *soakStats) check(t *testing.T, duration time.Duration) {
	for _, p := range s.problems {
		t.Error(p)
	}
	if s.maxLat > soakMaxLatency {
		t.Errorf("the slowest request took %v; departments time out after 300 ms", s.maxLat)
	}
	if s.requests < 100 {
		t.Errorf("only %d requests in %v", s.requests, duration)
	}
}

// log writes the soak's figures: rate, latencies, statuses, codes and faults. s.mu is held.
func (s *soakStats) log(t *testing.T, duration time.Duration, seed uint64) {
	slices.Sort(s.latencies)
	pct := func(p float64) time.Duration {
		if len(s.latencies) == 0 {
			return 0
		}
		return s.latencies[int(p*float64(len(s.latencies)-1))].Round(time.Millisecond)
	}
	faults := 0
	var faultList []string
	for k, n := range s.faults {
		if !strings.HasSuffix(k, ":ok") {
			faults += n
		}
		faultList = append(faultList, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(faultList)
	t.Logf("soak: duration %v, %d clients, %d requests (%.0f/s), latency p50 %v p99 %v max %v",
		duration, soakClients, s.requests, float64(s.requests)/duration.Seconds(), pct(0.5), pct(0.99), s.maxLat.Round(time.Millisecond))
	t.Logf("soak: statuses %v; error codes %v", s.statuses, s.codes)
	t.Logf("soak: %d faults injected (seed %d): %s", faults, seed, strings.Join(faultList, " "))
}
