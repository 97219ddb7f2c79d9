package gateway

import "testing"

// TestRouteNamesOnlyTheGatewaysRoutes: logs and spans record a path by the route it
// belongs to; anything else, whatever it holds, is "other".
func TestRouteNamesOnlyTheGatewaysRoutes(t *testing.T) {
	for path, want := range map[string]string{
		"/graphql": "/graphql", "/": "/", "/healthz": "/healthz", "/readyz": "/readyz", "/metrics": "/metrics",
		"/seal/keys": "/seal/keys", "/demo/token": "/demo/token",
		"/playground/assets/app.js": "/playground/", "/debug/pprof/heap": "/debug/pprof/",
		"/graphql/310115198503120012": "other", "/citizen/310115198503120012": "other", "/healthz/x": "other", "": "other",
	} {
		if got := Route(path); got != want {
			t.Errorf("Route(%q) = %q, want %q", path, got, want)
		}
	}
}
