package server

import "net/http"

// addRoutes is the gateway's whole HTTP surface.
func addRoutes(mux *http.ServeMux, d Deps) {
	gql := []func(http.Handler) http.Handler{noStore, limitBody(d.BodyLimit)}
	if d.CORS != nil {
		gql = append(gql, d.CORS.Preflight)
	}
	gql = append(gql, d.Auth)
	if d.Claims != nil {
		gql = append(gql, d.Claims)
	}
	if d.CORS != nil {
		gql = append(gql, d.CORS.PerConsumer)
	}
	if d.RateLimit != nil {
		gql = append(gql, d.RateLimit.Middleware)
	}
	gql = append(gql, withLoaders(d.Fed))
	mux.Handle("/graphql", chain(d.GraphQL, gql...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		h := d.Ready(r.Context())
		status := http.StatusOK
		if !h.OK {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, h)
	})
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}
	if d.DemoTokens != nil {
		mux.Handle("/demo/token", chain(d.DemoTokens, limitBody(4096)))
	}
	if d.SealKeys != nil {
		mux.Handle("GET /seal/keys", d.SealKeys)
	}
	if d.Pprof != nil {
		mux.Handle("/debug/pprof/", d.Pprof)
	}
	if d.Playground != nil {
		mux.Handle("GET /{$}", d.Playground)
		mux.Handle("GET /playground/", d.Playground)
	}
}

// MetricsOnly is the whole surface of a metrics listener (metricsAddr): GET /metrics, and
// 404 for everything else, so that the operators' network reaches nothing of the API.
func MetricsOnly(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	return mux
}
