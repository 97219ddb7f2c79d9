package server

import (
	"net/http"
	"slices"
	"strings"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
)

// CORS answers preflights for the origins any consumer allows, and lets a browser read a
// response only when the caller's own consumer allows the page's origin: a token of
// the micro-portal cannot be used from another site's page.
type CORS struct {
	// Origins lists, per consumer, the browser origins allowed to call.
	Origins map[string][]string
}

func (c CORS) any(origin string) bool {
	for _, list := range c.Origins {
		if slices.Contains(list, origin) {
			return true
		}
	}
	return false
}

// Preflight handles OPTIONS and sets the CORS headers for allowed origins; it runs
// before authentication, since preflights carry no token.
func (c CORS) Preflight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		allowed := c.any(origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		}
		next.ServeHTTP(w, r)
	})
}

// PerConsumer refuses, after authentication, a browser request whose page origin the
// caller's consumer does not allow.
func (c CORS) PerConsumer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || sameOrigin(r, origin) {
			next.ServeHTTP(w, r)
			return
		}
		caller := gateway.CallerFrom(r.Context())
		if caller != nil && !slices.Contains(c.Origins[caller.Consumer], origin) {
			w.Header().Del("Access-Control-Allow-Origin")
			errcode.WriteHTTP(w, errcode.OriginNotAllowed, "this consumer may not be called from a page at "+origin, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin: the playground served by the gateway itself calls /graphql.
func sameOrigin(r *http.Request, origin string) bool {
	o := strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://")
	return o == r.Host
}
