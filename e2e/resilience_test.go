package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// shortPSBTTL makes the population registry's records expire quickly, so stale-if-error
// can be seen without waiting an hour.
func shortPSBTTL(ttl string) func(*config.Config) {
	return func(c *config.Config) {
		for name, data := range c.CatalogData {
			lines := strings.Split(string(data), "\n")
			inPSB := false
			for i, l := range lines {
				if strings.Contains(l, "department:") {
					inPSB = strings.Contains(l, "psb")
				}
				if inPSB && strings.Contains(l, "ttl:") {
					lines[i] = l[:strings.Index(l, "ttl:")] + "ttl: " + ttl
				}
			}
			c.CatalogData[name] = []byte(strings.Join(lines, "\n"))
		}
	}
}

// The cache holds department records, not a caller's view: one caller's request warms
// it for all, and 100 concurrent requests for one uncached person make one call.
func TestOneUpstreamCallForManyCallers(t *testing.T) {
	g := Start(t, func(c *config.Config) { c.Limits.RateLimitsOff = true }) // 100 requests at once from four sessions
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeOK, Latency: "150ms"})
	g.Sims.PSB.Reset()
	tokens := []string{g.Token("online-hall"), g.Token("psb-console"), g.Token("supervision-platform"), g.Token("ipudong-portal", "310115199001010029")}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := g.Post(tokens[i%len(tokens)], `{ citizen(idNumber: "310115198503120012") { name } }`, nil)
			if r.Str("citizen.name") == "" {
				t.Errorf("no name: %s", r.Raw)
			}
		}(i)
	}
	wg.Wait()
	if n := g.Sims.PSB.Count("QueryPerson"); n != 1 {
		t.Errorf("100 concurrent requests by 4 consumers made %d PSB calls, want 1", n)
	}
}

// When a department fails, a cached record past its TTL (within the stale window) is
// served and marked stale instead of an error.
func TestStaleIfError(t *testing.T) {
	g := Start(t, shortPSBTTL("100ms"))
	tok := g.Token("online-hall")
	q := `{ citizen(idNumber: "310115198503120012") { name } }`
	if r := g.Post(tok, q, nil); r.Str("citizen.name") != "张伟" {
		t.Fatalf("warm-up: %s", r.Raw)
	}
	time.Sleep(150 * time.Millisecond) // let the record's TTL pass (the test's subject is time)
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeDown})
	r := g.Post(tok, q, nil)
	if r.Str("citizen.name") != "张伟" || len(r.Errors) != 0 {
		t.Fatalf("stale record not served: %s", r.Raw)
	}
	psb, _ := r.Extensions["sources"].(map[string]any)["psb"].(map[string]any)
	if psb["stale"] != true || psb["maxAgeSeconds"].(float64) < 0.1 {
		t.Errorf("the stale answer must be marked with its age: %v", psb)
	}
	// A person never cached has nothing to serve: an error on the registry's fields.
	r = g.Post(tok, `{ citizen(idNumber: "310115199001010029") { name } }`, nil)
	if e := r.ErrorAt("citizen.name"); e == nil || e.Extensions["code"] != "SOURCE_UNAVAILABLE" {
		t.Errorf("uncached during an outage: %s", r.Raw)
	}
}

// The breaker opens while a department is down (failing fast, visible in /readyz and
// /metrics) and closes again once a probe succeeds.
func TestBreakerOpensAndRecovers(t *testing.T) {
	g := Start(t, func(c *config.Config) {
		c.Cache.Disabled = true
		for i := range c.Departments {
			if c.Departments[i].ID == "psb" {
				c.Departments[i].BreakerFailures = 3
				c.Departments[i].BreakerOpenFor = 300 * time.Millisecond
				c.Departments[i].Retries = -1
			}
		}
	})
	tok := g.Token("online-hall")
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeError})
	for i := 0; i < 3; i++ {
		g.Post(tok, `{ citizen(idNumber: "310115198503120012") { name } }`, nil)
	}
	if ready := g.readyz(); ready["department:psb"] != "open" {
		t.Fatalf("breaker should be open: %v", ready)
	}
	calls := g.Sims.PSB.Count("QueryPerson")
	r := g.Post(tok, `{ citizen(idNumber: "310115198503120012") { name } }`, nil)
	if e := r.ErrorAt("citizen.name"); e == nil || e.Extensions["code"] != "SOURCE_UNAVAILABLE" {
		t.Errorf("open breaker: %s", r.Raw)
	}
	if g.Sims.PSB.Count("QueryPerson") != calls {
		t.Errorf("an open breaker must fail fast without calling the department")
	}
	if !strings.Contains(g.metrics(), `gateway_breaker_state{department="psb",state="open"} 1`) {
		t.Errorf("metrics do not show the open breaker")
	}
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeOK})
	WaitUntil(t, "the breaker to close after a successful probe", 5*time.Second, func() bool {
		r := g.Post(tok, `{ citizen(idNumber: "310115198503120012") { name } }`, nil)
		return r.Str("citizen.name") == "张伟" && g.readyz()["department:psb"] == "closed"
	})
}

// A department stalled for 20 s does not hold a request past its timeout, and the other
// departments' fields are present.
func TestStalledDepartmentDoesNotHoldTheRequest(t *testing.T) {
	g := Start(t, func(c *config.Config) {
		for i := range c.Departments {
			if c.Departments[i].ID == "psb" {
				c.Departments[i].Timeout = 300 * time.Millisecond
				c.Departments[i].Retries = -1
			}
		}
	})
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeSlow, Latency: "20s"})
	start := time.Now()
	r := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name socialInsurance { insuranceType } creditRecords { kind } enterprises { name } } }`, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Log(g.Logs.String())
		t.Errorf("the request took %v with a 300ms department timeout", took)
	}
	if e := r.ErrorAt("citizen.name"); e == nil || e.Extensions["code"] != "SOURCE_UNAVAILABLE" || e.Extensions["department"] != "psb" {
		t.Errorf("the stalled department's field: %s", r.Raw)
	}
	if r.Str("citizen.socialInsurance.0.insuranceType") != "PENSION" || r.Str("citizen.enterprises.0.name") == "" {
		t.Errorf("other departments' fields must be present: %s", r.Raw)
	}
	g.Sims.PSB.SetFault(simhttp.Fault{Mode: simhttp.ModeOK})
}

// An owner's console purges its department's cached records; others cannot.
func TestPurgeCache(t *testing.T) {
	g := Start(t)
	tok := g.Token("online-hall")
	q := `{ citizen(idNumber: "310115198503120012") { name } }`
	g.Post(tok, q, nil)
	g.Sims.PSB.Reset()
	g.Post(tok, q, nil)
	if n := g.Sims.PSB.Count("QueryPerson"); n != 0 {
		t.Fatalf("cached: %d calls", n)
	}
	if r := g.Post(g.Token("amr-console"), `mutation { purgeCache(department: "psb") }`, nil); len(r.Errors) == 0 {
		t.Errorf("amr purged psb's cache: %s", r.Raw)
	}
	r := g.Post(g.Token("psb-console"), `mutation { purgeCache(department: "psb", keys: ["310115198503120012"]) }`, nil)
	if n, _ := r.Get("purgeCache").(float64); n < 1 {
		t.Fatalf("purge: %s", r.Raw)
	}
	g.Post(tok, q, nil)
	if n := g.Sims.PSB.Count("QueryPerson"); n != 1 {
		t.Errorf("after the purge the registry is asked again: %d calls", n)
	}
}

// Two gateway instances share the Redis layer: what one loaded, the other serves without
// asking its department; a purge through one reaches the other; and with Redis gone,
// both keep serving from their own cache and the departments.
func TestRedisSharedCache(t *testing.T) {
	a, b, prefix := SharedCachePair(t)
	q := `{ citizen(idNumber: "310115198503120012") { name } }`
	b.Sims.PSB.Reset()
	if r := b.Post(b.Token("online-hall"), q, nil); r.Str("citizen.name") != "张伟" {
		t.Fatal(string(r.Raw))
	}
	if n := b.Sims.PSB.Count("QueryPerson"); n != 0 {
		t.Errorf("replica b asked its department %d times for a record replica a loaded", n)
	}
	// Purge through a: b's in-process copy goes too.
	a.Post(a.Token("psb-console"), `mutation { purgeCache(department: "psb") }`, nil)
	WaitUntil(t, "the purge to reach replica b", 3*time.Second, func() bool {
		b.Sims.PSB.Reset()
		b.Post(b.Token("online-hall"), q, nil)
		return b.Sims.PSB.Count("QueryPerson") == 1
	})

	dead := Start(t, func(c *config.Config) { c.Cache.RedisAddr, c.Cache.RedisPrefix = "127.0.0.1:1", prefix })
	if r := dead.Post(dead.Token("online-hall"), q, nil); r.Str("citizen.name") != "张伟" || len(r.Errors) != 0 {
		t.Errorf("without Redis the gateway keeps serving: %s", r.Raw)
	}
}

func (g *Gateway) readyz() map[string]string {
	g.T.Helper()
	res, err := http.Get(g.Srv.URL + "/readyz")
	if err != nil {
		g.T.Fatal(err)
	}
	defer res.Body.Close()
	var h struct {
		Components map[string]string `json:"components"`
	}
	json.NewDecoder(res.Body).Decode(&h)
	return h.Components
}

func (g *Gateway) metrics() string {
	g.T.Helper()
	res, err := http.Get(g.Srv.URL + "/metrics")
	if err != nil {
		g.T.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// The enterprise registry down: the enterprise stands, its registry fields carry the
// error, and what other departments hold about it is answered.
func TestEnterpriseRegistryDown(t *testing.T) {
	g := Start(t, func(c *config.Config) { c.Cache.Disabled = true })
	g.Sims.AMR.SetFault(simhttp.Fault{Mode: simhttp.ModeDown})
	r := g.Post(g.Token("supervision-platform"), `{ enterprise(creditCode: "91310115607223817N") {
		creditCode name legalRepresentative { name } creditRecords { kind } insuredEmployees } }`, nil)
	if e := r.ErrorAt("enterprise.name"); e == nil || e.Extensions["code"] != "SOURCE_UNAVAILABLE" || e.Extensions["department"] != "amr" {
		t.Errorf("name: %s", r.Raw)
	}
	if r.Str("enterprise.creditCode") != "91310115607223817N" || r.Str("enterprise.creditRecords.0.kind") != "PENALTY" || r.Get("enterprise.insuredEmployees") == nil {
		t.Errorf("other departments' fields stand: %s", r.Raw)
	}
	// An employer through social insurance, with the registry down.
	r = g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { socialInsurance { insuranceType employer { creditCode name } } } }`, nil)
	if r.Str("citizen.socialInsurance.0.insuranceType") != "PENSION" || r.Str("citizen.socialInsurance.0.employer.creditCode") != "91310115MA1FL0AB0P" ||
		r.ErrorAt("citizen.socialInsurance.0.employer.name") == nil {
		t.Errorf("employer with the registry down: %s", r.Raw)
	}
}
