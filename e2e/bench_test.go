package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/config"
)

// benchQuery runs one GraphQL request through the real handler in-process (no network),
// so that a profile shows the gateway's own cost.
func benchQuery(b *testing.B, g *Gateway, token, query string) {
	body, _ := json.Marshal(map[string]any{"query": query})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			g.Parts.Handler.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			io.Discard.Write(w.Body.Bytes())
		}
	})
}

// BenchmarkWarmEnterpriseProfile: S2 without its conditional parts, warm.
func BenchmarkWarmEnterpriseProfile(b *testing.B) {
	g := Start(b, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	tok := g.Token("online-hall")
	q := `{ enterprise(creditCode: "91310115MA1FL0AB0P") { creditCode name legalRepresentativeName status establishedOn registeredCapital businessScope address } }`
	benchQuery(b, g, tok, q)
}

// BenchmarkWarmCitizenProfile: S1, a citizen's own profile across four departments, warm
// and audited.
func BenchmarkWarmCitizenProfile(b *testing.B) {
	g := Start(b, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	tok := g.Token("ipudong-portal", "310115198503120012")
	q := `{ citizen(idNumber: "310115198503120012") { name gender birthDate householdAddress phone
		socialInsurance { insuranceType status since employer { name } } enterprises { name status } creditRecords { kind title } } }`
	benchQuery(b, g, tok, q)
}

// BenchmarkWarmSupervisionSweep: S3, 50 enterprises with legal representatives and
// credit records, warm.
func BenchmarkWarmSupervisionSweep(b *testing.B) {
	g := Start(b, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	tok := g.Token("supervision-platform")
	q := `{ enterprises(first: 50) { edges { node { name creditRecords { kind title content } legalRepresentative { name } } } } }`
	benchQuery(b, g, tok, q)
}

// BenchmarkWarmSupervisionSweepNoComparison is the sweep above with the cross-source
// comparison off: the difference is what recording findings costs a request.
func BenchmarkWarmSupervisionSweepNoComparison(b *testing.B) {
	g := Start(b, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	g.Parts.Resolver.Comparer = nil
	tok := g.Token("supervision-platform")
	q := `{ enterprises(first: 50) { edges { node { name creditRecords { kind title content } legalRepresentative { name } } } } }`
	benchQuery(b, g, tok, q)
}

// BenchmarkColdPeerQuery: the peer comparison's query P with the cache off: two AMR
// calls per request over real HTTP to the simulator.
func BenchmarkColdPeerQuery(b *testing.B) {
	g := Start(b, func(c *config.Config) { c.Limits.RateLimitsOff = true; c.Cache.Disabled = true })
	tok := g.Token("online-hall")
	q := `{ enterprise(creditCode: "91310115607223817N") { creditCode name legalRepresentativeName
		legalRepresentative { enterprises { creditCode name status legalRepresentativeName } } } }`
	benchQuery(b, g, tok, q)
}

// BenchmarkWarmPeerQuery: the peer comparison's query P with the cache on, as the
// harness's warm gateway→sim row runs it (docs/PERFORMANCE.md, The scenarios).
func BenchmarkWarmPeerQuery(b *testing.B) {
	g := Start(b, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	tok := g.Token("online-hall")
	q := `query P { enterprise(creditCode: "91310115607223817N") { creditCode name legalRepresentativeName
		legalRepresentative { enterprises { creditCode name status establishedOn
		legalRepresentative { enterprises { creditCode name } } } } } }`
	benchQuery(b, g, tok, q)
}

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWarmTracing: S2u and S1 warm with tracing off and on (every trace recorded and
// batched over OTLP/HTTP to a collector on loopback that discards them). Off, the gateway
// has no tracing hook at all; the figures are in docs/PERFORMANCE.md.
func BenchmarkWarmTracing(b *testing.B) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer collector.Close()
	for _, s := range []struct {
		name, consumer, citizen, query string
	}{
		{"S2u", "online-hall", "", `{ enterprise(creditCode: "91310115MA1FL0AB0P") { creditCode name legalRepresentativeName status establishedOn registeredCapital businessScope address } }`},
		{"S1", "ipudong-portal", "310115198503120012", `{ citizen(idNumber: "310115198503120012") { name gender birthDate householdAddress phone
		socialInsurance { insuranceType status since employer { name } } enterprises { name status } creditRecords { kind title } } }`},
	} {
		for _, on := range []bool{false, true} {
			name := s.name + "/tracing=off"
			if on {
				name = s.name + "/tracing=on"
			}
			b.Run(name, func(b *testing.B) {
				g := Start(b, func(c *config.Config) {
					c.Limits.RateLimitsOff = true
					if on {
						c.Tracing = config.Tracing{Endpoint: collector.URL + "/v1/traces"}
					}
				})
				var tok string
				if s.citizen != "" {
					tok = g.Token(s.consumer, s.citizen)
				} else {
					tok = g.Token(s.consumer)
				}
				cpu := processCPU()
				benchQuery(b, g, tok, s.query)
				// CPU time per request, which other processes on the machine inflate far
				// less than wall time.
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// BenchmarkWarmPeerQueryNoAudit is BenchmarkWarmPeerQuery with audit recording off
// (--bench-no-audit): the difference is what auditing the legal representative's name
// costs a request.
func BenchmarkWarmPeerQueryNoAudit(b *testing.B) {
	g := StartWith(b, app.Options{NoAudit: true}, func(c *config.Config) { c.Limits.RateLimitsOff = true })
	tok := g.Token("online-hall")
	q := `query P { enterprise(creditCode: "91310115607223817N") { creditCode name legalRepresentativeName
		legalRepresentative { enterprises { creditCode name status establishedOn
		legalRepresentative { enterprises { creditCode name } } } } } }`
	benchQuery(b, g, tok, q)
}
