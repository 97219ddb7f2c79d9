package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/playground"
	"pudong.gov.cn/gateway/resolvers"
	"pudong.gov.cn/gateway/seal"
	"pudong.gov.cn/gateway/server"
)

// http builds the HTTP surface: identity, limits, the GraphQL executor with the policy
// wired in, and the operators' and the demo's extras.
func (g *Gateway) http(enf *enforce.Enforcer) (http.Handler, error) {
	verifier, err := g.verifier()
	if err != nil {
		return nil, err
	}
	gql, err := g.graphql(enf)
	if err != nil {
		return nil, err
	}
	cfg := g.cfg
	origins := map[string][]string{}
	for _, c := range cfg.Consumers {
		origins[c.Name] = c.Origins
	}
	authn, claims := auth.Middleware(verifier, g.log), server.ClaimsCheck(profiles(cfg))
	deps := server.Deps{
		Log: g.log, GraphQL: gql, Auth: authn, Fed: g.Fed,
		BodyLimit: cfg.Limits.BodyBytes, Requests: g.metrics,
		CORS: &server.CORS{Origins: origins}, Claims: claims,
		Ready: readiness(g.Fed, g.Store), SealKeys: seal.KeysHandler(g.sealer.PublicKey()),
	}
	if cfg.MetricsAddr == "" {
		deps.Metrics = g.metrics.Handler()
	} else {
		g.Metrics = server.MetricsOnly(g.metrics.Handler())
	}
	if g.Tracing != nil {
		deps.Trace = g.Tracing.Middleware
	}
	if !cfg.Limits.RateLimitsOff {
		deps.RateLimit = g.rateLimiter()
	}
	if g.opts.Pprof {
		// The claims are checked as for /graphql: a token claiming a role or department
		// its consumer does not have is refused here too.
		deps.Pprof = authn(claims(adminOnly(pprofHandler())))
	}
	g.playground(&deps)
	return server.NewServer(deps), nil
}

// graphql is the GraphQL executor over the resolvers, with the allowlist manifest.
func (g *Gateway) graphql(enf *enforce.Enforcer) (http.Handler, error) {
	cfg := g.cfg
	var manifest server.Manifest
	if cfg.Allowlist != "" {
		var err error
		if manifest, err = server.LoadManifest(cfg.Allowlist); err != nil {
			return nil, err
		}
		g.log.Info("allowlist loaded", "operations", len(manifest))
	}
	g.Resolver = &resolvers.Resolver{Fed: g.Fed, Planner: enf, Admin: g.Sharing, Quality: g.Quality, Comparer: g.Quality, Watcher: g.Notices,
		MaxPageSize: cfg.Limits.PageSize}
	// The sealer first: it signs the response every later extension has completed.
	extensions := []graphql.HandlerExtension{g.sealer, g.metrics, federation.FreshnessExtension{}}
	if g.Tracing != nil {
		extensions = append([]graphql.HandlerExtension{g.Tracing.Extension()}, extensions...) // the operation's span
	}
	return server.NewGraphQL(server.GraphQLOptions{
		Resolvers: g.Resolver, Enforcer: enf, Limits: cfg.Limits, Introspection: cfg.Introspection, Log: g.log,
		Extensions: extensions,
		Manifest:   manifest,
		AllowlistOnly: func(consumer string) bool {
			c := cfg.Consumer(consumer)
			return c != nil && c.AllowlistOnly
		},
	}), nil
}

// playground serves the playground page; in the demo also the token endpoint, and only
// to loopback host names (and the address the demo was told to listen on, if it names
// one).
func (g *Gateway) playground(deps *server.Deps) {
	cfg := g.cfg
	if !cfg.Demo {
		deps.Playground = playground.Handler(playground.Options{Endpoint: "/graphql"})
		return
	}
	deps.Hosts = append([]string{}, server.LoopbackHosts...)
	if h, _, err := net.SplitHostPort(cfg.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		deps.Hosts = append(deps.Hosts, strings.ToLower(strings.Trim(h, "[]")))
	}
	consumers := make([]playground.Consumer, len(cfg.Consumers))
	for i, c := range cfg.Consumers {
		consumers[i] = playground.Consumer{Name: c.Name, Description: c.Description, Purpose: c.Purpose, SelfService: c.SelfService}
	}
	deps.Playground = playground.Handler(playground.Options{Demo: true, Consumers: consumers, Endpoint: "/graphql"})
	deps.DemoTokens = playground.DemoTokens(DemoMinter(cfg))
}

// profiles is what a token's claims are checked against: its consumer's configuration.
func profiles(cfg *config.Config) func(string) (server.ConsumerProfile, bool) {
	return func(name string) (server.ConsumerProfile, bool) {
		c := cfg.Consumer(name)
		if c == nil {
			return server.ConsumerProfile{}, false
		}
		return server.ConsumerProfile{Dept: c.Dept, Roles: c.Roles, SelfService: c.SelfService}, true
	}
}

// verifier is the token verifier of the running gateway: it is closed at Close (which
// stops refreshing a JWKS URL's keys), and its failed key-set fetches are counted.
func (g *Gateway) verifier() (*auth.Verifier, error) {
	v, err := NewVerifier(g.cfg, g.log)
	if err != nil {
		return nil, err
	}
	g.onClose("token keys", func(context.Context) error { v.Close(); return nil })
	if g.cfg.Auth.JWKSURL != "" {
		g.metrics.CounterFunc("gateway_jwks_fetch_failures_total", "Failed fetches of the identity provider's key set (auth.jwksURL); the last good set stays in use.", nil,
			func() float64 { return float64(v.JWKSFetchFailures()) })
	}
	return v, nil
}

// NewVerifier verifies tokens with the configured keys, or with the demo key. Close it
// to stop refreshing a JWKS URL's keys.
func NewVerifier(cfg *config.Config, log *slog.Logger) (*auth.Verifier, error) {
	known := func(name string) bool { return cfg.Consumer(name) != nil }
	ac := auth.Config{Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, KeyFiles: cfg.Auth.KeyFiles, JWKSFile: cfg.Auth.JWKSFile, Leeway: cfg.Auth.Leeway,
		JWKSURL: cfg.Auth.JWKSURL, JWKSRefresh: cfg.Auth.JWKSRefresh, Log: log.With("component", "auth")}
	if cfg.Demo {
		if _, err := auth.LoadOrCreateDemoKey(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("demo signing key: %w", err)
		}
		ac.Issuer, ac.Audience = auth.DemoIssuer, auth.DemoAudience
		ac.KeyFiles = []string{auth.DemoPublicKeyFile(cfg.DataDir)}
	}
	v, err := auth.NewVerifier(ac, known)
	if err != nil {
		return nil, fmt.Errorf("token verification: %w", err)
	}
	return v, nil
}

// DemoMinter mints playground tokens with the demo key: demo mode only.
func DemoMinter(cfg *config.Config) playground.Minter {
	return func(consumer, citizenID string) (string, error) {
		c := cfg.Consumer(consumer)
		if c == nil {
			return "", fmt.Errorf("unknown consumer %q", consumer)
		}
		claims := auth.Claims{Consumer: c.Name, Purpose: c.Purpose, Dept: c.Dept, Roles: c.Roles, Subject: "playground-" + c.Name, TTL: time.Hour}
		if c.SelfService {
			if err := idcode.ValidateIDNumber(citizenID); err != nil {
				return "", fmt.Errorf("%s tokens carry the citizen's ID number: %w", c.Name, err)
			}
			claims.CitizenID = citizenID
			claims.Subject = "citizen-" + citizenID[len(citizenID)-4:]
		}
		key, err := auth.LoadOrCreateDemoKey(cfg.DataDir)
		if err != nil {
			return "", err
		}
		kid, err := auth.KeyID(key.Public())
		if err != nil {
			return "", err
		}
		return auth.Mint(key, kid, claims, time.Now())
	}
}

// pprofHandler serves the runtime profiles.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// adminOnly lets through callers with a verified token of the CIO office or a
// department console; profiles reveal internals and must not be public.
func adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := gateway.CallerFrom(r.Context())
		if c == nil || !(c.HasRole(gateway.RoleCIO) || c.Dept != "" && c.HasRole(gateway.RoleAuditor)) {
			http.Error(w, "profiles are for the CIO office and department administrators", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
