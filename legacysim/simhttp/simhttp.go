// Package simhttp is what the HTTP-based simulators (SOAP and REST) share: request
// counters by operation at GET /_sim/stats, and fault injection at POST /_sim/fault, so
// that tests and operators can count upstream calls and break a running department.
package simhttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Fault modes.
const (
	ModeOK      = "ok"      // answer normally (after Latency)
	ModeDown    = "down"    // drop the connection without an answer
	ModeSlow    = "slow"    // answer normally after Latency (default 2s)
	ModeError   = "error"   // answer with the protocol's server error
	ModeGarbage = "garbage" // answer 200 with bytes the protocol cannot parse
)

// Fault is the injected behaviour. Rate is the share of requests affected by down, error
// and garbage (default 1). Latency delays every answer, in any mode.
type Fault struct {
	Mode    string  `json:"mode"`
	Latency string  `json:"latency,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	latency time.Duration
}

// Control counts requests and holds the current fault of one simulator.
type Control struct {
	mu        sync.Mutex
	counts    map[string]int64
	fault     Fault
	requestID string
}

// LastRequestID is the X-Request-Id of the last request the simulator received: what a
// department's own logs would record.
func (c *Control) LastRequestID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requestID
}

// NewControl returns a Control with no fault.
func NewControl() *Control {
	return &Control{counts: map[string]int64{}, fault: Fault{Mode: ModeOK}}
}

// Count returns the number of requests seen for op.
func (c *Control) Count(op string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Counts returns a copy of all counters.
func (c *Control) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Reset sets every counter to zero.
func (c *Control) Reset() {
	c.mu.Lock()
	c.counts = map[string]int64{}
	c.mu.Unlock()
}

// SetFault validates and installs a fault.
func (c *Control) SetFault(f Fault) error {
	switch f.Mode {
	case "":
		f.Mode = ModeOK
	case ModeOK, ModeDown, ModeSlow, ModeError, ModeGarbage:
	default:
		return fmt.Errorf("mode %q: want ok, down, slow, error or garbage", f.Mode)
	}
	if f.Latency != "" {
		d, err := time.ParseDuration(f.Latency)
		if err != nil || d < 0 {
			return fmt.Errorf("latency %q: want a duration such as 20ms or 2s", f.Latency)
		}
		f.latency = d
	} else if f.Mode == ModeSlow {
		f.latency = 2 * time.Second
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("rate %v: want a number from 0 to 1", f.Rate)
	}
	if f.Rate == 0 {
		f.Rate = 1
	}
	c.mu.Lock()
	c.fault = f
	c.mu.Unlock()
	return nil
}

// CurrentFault returns the fault in force.
func (c *Control) CurrentFault() Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

// Protocol tells Wrap how a simulator names operations and fails in its own protocol.
type Protocol struct {
	// Operation names the operation of a request, for the counters.
	Operation func(*http.Request) string
	// ServerError writes the protocol's error answer (a SOAP fault, a JSON 500).
	ServerError func(http.ResponseWriter)
	// Garbage writes an answer the protocol cannot parse.
	Garbage func(http.ResponseWriter)
}

// Wrap serves /_sim/stats and /_sim/fault and applies the current fault to every other
// request before next sees it.
func (c *Control) Wrap(p Protocol, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_sim/stats":
			c.serveStats(w, r)
			return
		case "/_sim/fault":
			c.serveFault(w, r)
			return
		}
		op := p.Operation(r)
		c.mu.Lock()
		c.counts[op]++
		c.requestID = r.Header.Get("X-Request-Id")
		f := c.fault
		c.mu.Unlock()

		if f.latency > 0 {
			// Read the body first: the server notices a caller that hung up only once the
			// body is consumed, and a slow answer must end when its caller gives up.
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(f.latency):
			case <-r.Context().Done():
				return
			}
		}
		hit := f.Rate >= 1 || rand.Float64() < f.Rate
		switch {
		case f.Mode == ModeDown && hit:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case f.Mode == ModeError && hit:
			p.ServerError(w)
		case f.Mode == ModeGarbage && hit:
			p.Garbage(w)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (c *Control) serveStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		c.Reset()
	default:
		http.Error(w, "GET the counters, or DELETE to reset them", http.StatusMethodNotAllowed)
		return
	}
	counts := c.Counts()
	var total int64
	for _, n := range counts {
		total += n
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"requests": counts, "total": total})
}

func (c *Control) serveFault(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c.CurrentFault())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a fault as JSON, or GET the current one", http.StatusMethodNotAllowed)
		return
	}
	var f Fault
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&f); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := c.SetFault(f); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(c.CurrentFault())
}
