package auth

import (
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"pudong.gov.cn/gateway/internal/syncbuf"
)

// idp is an identity provider's JWKS endpoint whose key set a test can swap or take down.
type idp struct {
	mu      sync.Mutex
	keys    []jwkset.JWKMarshal
	down    bool
	fetches atomic.Int32
	srv     *httptest.Server
}

func newIDP(t *testing.T, keys ...jwkset.JWKMarshal) *idp {
	p := &idp{keys: keys}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: p.keys})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) set(keys ...jwkset.JWKMarshal) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

func (p *idp) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// The provider rotates its key: tokens of the new key pass at once (an unknown kid
// fetches the set again), tokens of the old key are refused — also those the verifier
// had remembered as verified — and nothing restarts.
func TestJWKSRotation(t *testing.T) {
	old, next := genEC(t, elliptic.P256()), genEC(t, elliptic.P256())
	p := newIDP(t, jwkOf(t, old.Public(), "2026-11", jwkset.AlgES256))
	fileKey := genEd(t)
	v, err := NewVerifier(Config{
		Issuer: testIssuer, Audience: testAudience,
		KeyFiles:       []string{writePublicPEM(t, t.TempDir(), "file.pem", fileKey.Public())},
		JWKSURL:        p.srv.URL,
		JWKSRefresh:    time.Hour, // only unknown kids fetch during the test
		JWKSUnknownKID: 10 * time.Millisecond,
	}, knownConsumers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	now := time.Now()
	oldTok := craft(t, jwt.SigningMethodES256, old, "2026-11", baseClaims(now))
	oldTok2 := craft(t, jwt.SigningMethodES256, old, "2026-11", edit(baseClaims(now), map[string]any{"sub": "clerk-0043"}))
	fileTok := mintFor(t, fileKey, kidOf(t, fileKey.Public()), Claims{}, now)
	for _, tok := range []string{oldTok, fileTok} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("before the rotation: %v", err)
		}
	}

	p.set(jwkOf(t, next.Public(), "2026-12", jwkset.AlgES256))
	time.Sleep(20 * time.Millisecond) // past the unknown-kid rate limit
	newTok := craft(t, jwt.SigningMethodES256, next, "2026-12", baseClaims(now))
	if _, err := v.Verify(newTok); err != nil {
		t.Fatalf("a token of the new key is refused: %v", err)
	}
	if _, err := v.Verify(oldTok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a remembered token of the rotated-out key: %v, want unknown_key", err)
	}
	if _, err := v.Verify(oldTok2); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a fresh token of the rotated-out key: %v, want unknown_key", err)
	}
	if _, err := v.Verify(fileTok); err != nil {
		t.Errorf("file keys keep working beside the JWKS: %v", err)
	}
	// A key of the wrong kind under a known kid is held to the configured keys' rules.
	forged := craft(t, jwt.SigningMethodHS256, []byte("secret"), "2026-12", baseClaims(now))
	if _, err := v.Verify(forged); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("HS256 under the provider's kid: %v, want algorithm_not_allowed", err)
	}
}

// Made-up kids cannot make the gateway hammer the provider: fetches caused by unknown
// kids are rate-limited, and a token waits for one no longer than the fetch timeout.
func TestJWKSUnknownKIDIsRateLimited(t *testing.T) {
	k := genEC(t, elliptic.P256())
	p := newIDP(t, jwkOf(t, k.Public(), "a", jwkset.AlgES256))
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: p.srv.URL,
		JWKSRefresh: time.Hour, JWKSUnknownKID: time.Hour}, knownConsumers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	start := p.fetches.Load()
	began := time.Now()
	for i := range 50 {
		tok := craft(t, jwt.SigningMethodES256, k, "made-up-"+string(rune('a'+i%26)), baseClaims(time.Now()))
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid: %v, want unknown_key", err)
		}
	}
	if n := p.fetches.Load() - start; n > 1 {
		t.Errorf("50 tokens with unknown kids caused %d fetches, want at most 1", n)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("refusing 50 unknown kids took %v: a token must not wait for the rate limit", took)
	}
}

// The provider is unreachable: the last good key set stays in use, and the failure is
// logged.
func TestJWKSProviderDownKeepsLastGoodSet(t *testing.T) {
	k := genEC(t, elliptic.P256())
	p := newIDP(t, jwkOf(t, k.Public(), "k1", jwkset.AlgES256))
	var logs syncBuf
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: p.srv.URL,
		JWKSRefresh: 10 * time.Millisecond, JWKSUnknownKID: time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}, knownConsumers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	p.setDown(true)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "JWKS fetch failed") {
		if time.Now().After(deadline) {
			t.Fatal("no failed refresh was logged within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v.JWKSFetchFailures() == 0 {
		t.Error("failed fetches are counted")
	}
	// Uncached, so the signature is checked against the kept set.
	for i := range 3 {
		tok := craft(t, jwt.SigningMethodES256, k, "k1", edit(baseClaims(time.Now()), map[string]any{"sub": "clerk-" + string(rune('0'+i))}))
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("with the provider down, a token of the last good set: %v", err)
		}
	}
}

func TestJWKSURLMustBeHTTP(t *testing.T) {
	for _, u := range []string{"file:///etc/keys.json", "idp.example/keys", "https://"} {
		if _, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: u}, knownConsumers); err == nil || !strings.Contains(err.Error(), "JWKS URL") {
			t.Errorf("JWKSURL %q: %v, want a refusal naming the JWKS URL", u, err)
		}
	}
}

type syncBuf = syncbuf.Buffer
