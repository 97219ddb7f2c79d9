package gateway

import "strings"

// Route names the route of the gateway's HTTP surface a request path belongs to, as logs
// and spans record it: the path of one of its own routes (a prefix route by its prefix),
// or "other". A path a client made up may hold anything, an ID number included
// (docs/SECURITY.md, T9), and would make span names without bound.
func Route(path string) string {
	switch path {
	case "/graphql", "/", "/demo/token", "/healthz", "/readyz", "/metrics", "/seal/keys":
		return path
	}
	for _, prefix := range []string{"/playground/", "/debug/pprof/"} {
		if strings.HasPrefix(path, prefix) {
			return prefix
		}
	}
	return "other"
}
