package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"pudong.gov.cn/gateway/config"
)

// Defaults for the JWKS settings of Config.
const (
	// DefaultJWKSRefresh is how often the identity provider's key set is fetched again:
	// the configuration's default (config/defaults.go).
	DefaultJWKSRefresh = config.DefaultJWKSRefresh
	// DefaultJWKSUnknownKID is the least time between two fetches caused by tokens that
	// name a key the gateway does not hold: a newly rotated key is picked up at once,
	// but a stream of tokens with made-up kids cannot make the gateway hammer the
	// provider.
	DefaultJWKSUnknownKID = 30 * time.Second
	// DefaultJWKSTimeout bounds one fetch of the key set, and so the wait of a request
	// whose token names a key only a fetch can find.
	DefaultJWKSTimeout = 5 * time.Second
)

// remoteAlgs are the algorithms a key from the provider's JWK Set may be used with; each
// key is still held to the algorithms of its own type and size (newVerifyKey).
var remoteAlgs = []string{"EdDSA", "ES256", "ES384", "PS256", "RS256"}

// remoteKeys is the identity provider's published key set (auth.jwksURL), fetched with
// keyfunc: refreshed on an interval, fetched again (rate-limited) when a token names an
// unknown kid, and kept as it was when a fetch fails, so that a provider that is briefly
// unreachable does not lock every caller out.
type remoteKeys struct {
	failures atomic.Uint64 // failed fetches, for metrics
	kf       keyfunc.Keyfunc
	cancel   context.CancelFunc
	timeout  time.Duration // bounds a lookup, and so a fetch it causes
}

func newRemoteKeys(cfg Config) (*remoteKeys, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("JWKS URL %q: want an http:// or https:// URL", cfg.JWKSURL)
	}
	refresh, every, timeout := cfg.JWKSRefresh, cfg.JWKSUnknownKID, cfg.JWKSTimeout
	if refresh <= 0 {
		refresh = DefaultJWKSRefresh
	}
	if every <= 0 {
		every = DefaultJWKSUnknownKID
	}
	if timeout <= 0 {
		timeout = DefaultJWKSTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := cfg.JWKSClient
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	r := &remoteKeys{timeout: timeout}
	ctx, cancel := context.WithCancel(context.Background())
	noStartError := true // the provider may be down at start; file keys still work and fetches retry
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               timeout,
		RefreshInterval:           refresh,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(every), 1),
		RateLimitWaitMax:          timeout, // a request waits for a fetch at most this long, never for the rate limit's next slot
		NoErrorReturnFirstHTTPReq: &noStartError,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				r.failures.Add(1)
				log.Warn("JWKS fetch failed; the last good key set stays in use", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("JWKS URL %s: %w", cfg.JWKSURL, err)
	}
	r.kf, r.cancel = kf, cancel
	return r, nil
}

// key returns the provider's key for t (which names a kid), held to the same rules as a
// configured key: an accepted type and size, and an algorithm that fits it.
func (r *remoteKeys) key(t *jwt.Token, kid string) (crypto.PublicKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	raw, err := r.kf.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, fail(ErrUnknownKey, err)
	}
	pub, ok := raw.(crypto.PublicKey)
	if !ok {
		return nil, fail(ErrUnknownKey, errors.New("the provider's key is not a public key"))
	}
	k, err := newVerifyKey(kid, pub, "")
	if err != nil {
		return nil, failf(ErrUnknownKey, err, "the identity provider's key %q is not accepted", kid)
	}
	if !slices.Contains(k.algs, t.Method.Alg()) {
		return nil, fail(ErrAlgorithm, nil)
	}
	return k.pub, nil
}

// holds reports whether the provider's current set still has kid with key pub: a token
// remembered as verified stops passing once its key is rotated out.
func (r *remoteKeys) holds(kid string, pub crypto.PublicKey) bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	jwk, err := r.kf.Storage().KeyRead(ctx, kid)
	if err != nil {
		return false
	}
	cur, ok := jwk.Key().(interface{ Public() crypto.PublicKey })
	var now crypto.PublicKey = jwk.Key()
	if ok {
		now = cur.Public()
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(now)
}

func (r *remoteKeys) close() { r.cancel() }
