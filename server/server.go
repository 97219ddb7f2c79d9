// Package server is the gateway's HTTP surface: every route in one place (routes.go),
// middleware as func(http.Handler) http.Handler, and the GraphQL handler.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/idcode"
)

// Deps are everything the HTTP surface needs; NewServer takes them all as parameters so
// tests can start the real server in-process.
type Deps struct {
	Log        *slog.Logger
	GraphQL    http.Handler                     // the GraphQL executor
	Auth       func(http.Handler) http.Handler  // verifies the bearer token
	Fed        *federation.Federation           // per-request loaders
	Ready      func(ctx context.Context) Health // readiness, per component
	Metrics    http.Handler                     // Prometheus exposition; nil: no /metrics
	Playground http.Handler                     // the playground page at /
	DemoTokens http.Handler                     // demo mode only: mints playground tokens
	Pprof      http.Handler                     // runtime profiles, admin only; nil: none
	SealKeys   http.Handler                     // the seal public keys, unauthenticated (docs/sealed-answers.md); nil: none
	BodyLimit  int64                            // max request body bytes
	Hosts      []string                         // host names answered; empty: any (behind a load balancer)
	Claims     func(http.Handler) http.Handler  // checks a token's claims against its consumer; nil: none
	CORS       *CORS                            // browser origins per consumer; nil: no CORS
	RateLimit  *RateLimiter                     // per consumer and end user; nil: none
	Trace      func(http.Handler) http.Handler  // starts each request's span (tracing.Tracing.Middleware); nil: none
	Requests   RequestObserver                  // counts requests by route and status; nil: none
}

// RequestObserver is told of every request once it is answered: the ServeMux pattern
// that served it ("" when none matched) and the status.
type RequestObserver interface {
	Request(pattern string, status int)
}

// Health is the readiness report: OK, and the state of each component.
type Health struct {
	OK         bool              `json:"ok"`
	Components map[string]string `json:"components"`
}

// NewServer returns the gateway's HTTP handler.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	mw := []func(http.Handler) http.Handler{requestID}
	if d.Trace != nil {
		// Before the access log and the recoverer, so their lines carry the trace id.
		mw = append(mw, d.Trace)
	}
	return chain(mux, append(mw, recoverer(d.Log), accessLog(d.Log, d.Requests), hostCheck(d.Hosts))...)
}

// hostCheck refuses requests for any host name but hosts (when set): a demo gateway on a
// developer's machine answers only to its loopback names, so a page whose host name an
// attacker re-points at 127.0.0.1 (DNS rebinding) cannot use it.
func hostCheck(hosts []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(hosts) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.Trim(host, "[]")
			if !slices.Contains(hosts, strings.ToLower(host)) {
				errcode.WriteHTTP(w, errcode.HostNotAllowed, "this gateway does not answer for host "+r.Host, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// LoopbackHosts are the host names a demo gateway answers to.
var LoopbackHosts = []string{"127.0.0.1", "localhost", "::1"}

func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// RequestIDHeader carries the gateway's request id out, and a client's correlation id in.
const RequestIDHeader = "X-Request-Id"

// ClientRequestIDHeader echoes the correlation id a client sent, when it was kept.
const ClientRequestIDHeader = "X-Client-Request-Id"

// requestID gives every request an id of the gateway's own, returns it in a header, and
// puts it in the context for logs, department calls and audit. A client's X-Request-Id is
// never used in its place: two consumers could otherwise share an id in the audit trail
// (docs/SECURITY.md). A sane client id is kept beside it as the client's correlation id;
// one that holds an ID number or a mobile number is dropped, since every log line of the
// request would carry it (docs/SECURITY.md, T9).
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 12)
		rand.Read(b)
		id := hex.EncodeToString(b)
		ctx := gateway.WithRequestID(r.Context(), id)
		if client := r.Header.Get(RequestIDHeader); saneID(client) {
			ctx = gateway.WithClientRequestID(ctx, client)
			w.Header().Set(ClientRequestIDHeader, client)
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func saneID(id string) bool {
	if len(id) < 8 || len(id) > 64 || idcode.HoldsPersonalIdentifier(id) {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.ErrorContext(r.Context(), "panic in handler", "request_id", gateway.RequestID(r.Context()), "path", gateway.Route(r.URL.Path), "panic", p)
					errcode.WriteHTTP(w, errcode.Internal, errcode.InternalMessage, nil)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request, without query strings (they may carry an ID
// number) or headers (they carry the token), and tells obs (if any) of it. It must sit
// right outside the mux's own chain (hostCheck passes the request on unchanged), so that
// r.Pattern, which the ServeMux sets on the request it routes, is the route.
func accessLog(log *slog.Logger, obs RequestObserver) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if obs != nil {
				status := sw.status
				if status == 0 {
					status = http.StatusOK
				}
				obs.Request(r.Pattern, status)
			}
			if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
				return
			}
			log.InfoContext(r.Context(), "request", "request_id", gateway.RequestID(r.Context()), "method", r.Method, "path", gateway.Route(r.URL.Path),
				"status", sw.status, "bytes", sw.bytes, "duration", time.Since(start).Round(time.Microsecond))
		})
	}
}

// noStore tells every cache that an answer is the caller's alone: a GraphQL answer carries
// personal data, and a query sent by GET is one a browser (a service hall's kiosk) or a
// proxy would otherwise keep (docs/SECURITY.md, T9).
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies larger than limit with 413 before anything parses them.
func limitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				errcode.WriteHTTP(w, errcode.BodyTooLarge, "the request body is larger than the gateway accepts", nil)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
				if err != nil {
					errcode.WriteHTTP(w, errcode.BadRequest, "the request body could not be read", nil)
					return
				}
				if int64(len(b)) > limit {
					errcode.WriteHTTP(w, errcode.BodyTooLarge, "the request body is larger than the gateway accepts", nil)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// withLoaders gives each request fresh loaders, so batching and memoisation never cross
// requests (and so never callers).
func withLoaders(fed *federation.Federation) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(federation.WithLoaders(r.Context(), fed.NewLoaders())))
		})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
