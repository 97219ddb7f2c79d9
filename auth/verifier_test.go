package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"pudong.gov.cn/gateway"
)

// TestVerify runs every token through Verify and through the middleware: accepted tokens
// must yield the caller both ways, refused ones the specific error, a 401 with an RFC 6750
// challenge and a GraphQL-shaped body, and never an echo of the token in the body or logs.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	base := baseClaims(now)
	edKID := kidOf(t, f.ed.Public())

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		edOnly bool   // verify with the Ed25519-only verifier
		want   *Error // nil: accepted
		detail string // must appear in the error's description
	}{
		// Accepted: every key type, from PEM files and from the JWKS, with and without kid.
		{name: "Ed25519 PEM with kid", token: func(t *testing.T) string {
			return mintFor(t, f.ed, edKID, Claims{}, now)
		}},
		{name: "Ed25519 PEM without kid", token: func(t *testing.T) string {
			return mintFor(t, f.ed, "", Claims{}, now)
		}},
		{name: "ECDSA P-256 PEM with kid", token: func(t *testing.T) string {
			return mintFor(t, f.ec256, kidOf(t, f.ec256.Public()), Claims{}, now)
		}},
		{name: "ECDSA P-256 PEM without kid", token: func(t *testing.T) string {
			return mintFor(t, f.ec256, "", Claims{}, now)
		}},
		{name: "RSA PEM RS256 with kid", token: func(t *testing.T) string {
			return mintFor(t, f.rsa, kidOf(t, f.rsa.Public()), Claims{}, now)
		}},
		{name: "RSA PEM PS256 without kid", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodPS256, f.rsa, "", base)
		}},
		{name: "JWKS Ed25519", token: func(t *testing.T) string {
			return mintFor(t, f.jwksEd, "jwks-ed", Claims{}, now)
		}},
		{name: "JWKS ECDSA P-384", token: func(t *testing.T) string {
			return mintFor(t, f.jwksEC, "jwks-ec384", Claims{}, now)
		}},
		{name: "JWKS ECDSA P-384 without kid", token: func(t *testing.T) string {
			return mintFor(t, f.jwksEC, "", Claims{}, now)
		}},
		{name: "JWKS RSA PS256", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodPS256, f.jwksRSA, "jwks-rsa", base)
		}},
		{name: "iat and nbf within leeway", token: func(t *testing.T) string {
			return mintFor(t, f.ed, edKID, Claims{}, now.Add(20*time.Second))
		}},
		{name: "exp passed within leeway", token: func(t *testing.T) string {
			return mintFor(t, f.ed, edKID, Claims{TTL: time.Hour}, now.Add(-time.Hour-20*time.Second))
		}},
		{name: "aud list containing ours", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"aud": []string{"other-api", testAudience}}))
		}},

		// Refused before a signature is checked.
		{name: "alg none", want: ErrAlgorithm, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", base)
		}},
		{name: "HS256 keyed with the public key PEM", want: ErrAlgorithm, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodHS256, f.edPEM, "", base)
		}},
		{name: "HS256 keyed with the public key PEM naming its kid", want: ErrAlgorithm, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodHS256, f.edPEM, edKID, base)
		}},
		{name: "alg unknown to the library", want: ErrAlgorithm, token: func(t *testing.T) string {
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XS999","typ":"JWT"}`))
			parts := strings.Split(mintFor(t, f.ed, "", Claims{}, now), ".")
			return hdr + "." + parts[1] + "." + parts[2]
		}},
		{name: "RS256 when only Ed25519 is configured", edOnly: true, want: ErrAlgorithm, token: func(t *testing.T) string {
			return mintFor(t, f.rsa, "", Claims{}, now)
		}},
		{name: "ES256 naming the Ed25519 key's kid", want: ErrAlgorithm, token: func(t *testing.T) string {
			return mintFor(t, f.ec256, edKID, Claims{}, now)
		}},
		{name: "RS256 naming a JWKS key restricted to PS256", want: ErrAlgorithm, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodRS256, f.jwksRSA, "jwks-rsa", base)
		}},
		{name: "unknown kid", want: ErrUnknownKey, token: func(t *testing.T) string {
			return mintFor(t, f.ed, "retired-2023", Claims{}, now)
		}},
		{name: "too large though validly signed", want: ErrTooLarge, token: func(t *testing.T) string {
			return mintFor(t, f.ed, edKID, Claims{Roles: []string{strings.Repeat("r", DefaultMaxTokenBytes)}}, now)
		}},
		{name: "too large garbage", want: ErrTooLarge, token: func(t *testing.T) string {
			return strings.Repeat("A", DefaultMaxTokenBytes+1)
		}},
		{name: "not a JWT", want: ErrMalformed, token: func(t *testing.T) string {
			return "abc.def"
		}},
		{name: "roles not an array", want: ErrMalformed, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"roles": "cio"}))
		}},

		// Refused by the signature.
		{name: "tampered payload", want: ErrBadSignature, token: func(t *testing.T) string {
			parts := strings.Split(mintFor(t, f.ed, edKID, Claims{Consumer: "ipudong-portal"}, now), ".")
			payload := must[[]byte](t)(base64.RawURLEncoding.DecodeString(parts[1]))
			payload = bytes.Replace(payload, []byte(`"ipudong-portal"`), []byte(`"online-hall"`), 1)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
		}},
		{name: "signed by an unconfigured key", want: ErrBadSignature, token: func(t *testing.T) string {
			return mintFor(t, f.stranger, "", Claims{}, now)
		}},
		{name: "signed by an unconfigured key naming a configured kid", want: ErrBadSignature, token: func(t *testing.T) string {
			return mintFor(t, f.stranger, edKID, Claims{}, now)
		}},

		// Refused by the claims.
		{name: "expired", want: ErrExpired, token: func(t *testing.T) string {
			return mintFor(t, f.ed, edKID, Claims{TTL: time.Hour}, now.Add(-2*time.Hour))
		}},
		{name: "nbf beyond leeway", want: ErrNotYetValid, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"nbf": now.Add(2 * time.Minute).Unix()}))
		}},
		{name: "iat beyond leeway", want: ErrIssuedInFuture, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"iat": now.Add(2 * time.Minute).Unix(), "nbf": nil}))
		}},
		{name: "missing exp", want: ErrMissingClaim, detail: " exp claim", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"exp": nil}))
		}},
		{name: "missing iss", want: ErrMissingClaim, detail: " iss claim", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"iss": nil}))
		}},
		{name: "wrong iss", want: ErrWrongIssuer, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"iss": "https://evil.example"}))
		}},
		{name: "missing aud", want: ErrMissingClaim, detail: " aud claim", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"aud": nil}))
		}},
		{name: "wrong aud", want: ErrWrongAudience, token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"aud": "another-gateway"}))
		}},
		{name: "missing sub", want: ErrMissingClaim, detail: " sub claim", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"sub": nil}))
		}},
		{name: "missing consumer", want: ErrMissingClaim, detail: " consumer claim", token: func(t *testing.T) string {
			return craft(t, jwt.SigningMethodEdDSA, f.ed, edKID, edit(base, map[string]any{"consumer": nil}))
		}},
		{name: "unknown consumer", want: ErrUnknownConsumer, token: func(t *testing.T) string {
			return mintFor(t, f.ed, edKID, Claims{Consumer: "scraper-bot"}, now)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.all
			if tt.edOnly {
				v = f.edOnly
			}
			token := tt.token(t)

			caller, err := v.Verify(token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if caller.Consumer != "online-hall" || caller.Subject != "clerk-0042" {
					t.Errorf("caller = %+v", caller)
				}
			} else {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Verify error = %v, want %s", err, tt.want.Code)
				}
				if e, _ := errors.AsType[*Error](err); !strings.Contains(e.Description, tt.detail) {
					t.Errorf("description %q lacks %q", e.Description, tt.detail)
				}
				if caller != nil {
					t.Errorf("caller = %+v, want nil", caller)
				}
			}

			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var seen *gateway.Caller
			h := Middleware(v, log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = gateway.CallerFrom(r.Context())
			}))
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			h.ServeHTTP(rec, req)

			if tt.want == nil {
				if rec.Code != http.StatusOK || seen == nil || seen.Consumer != "online-hall" {
					t.Fatalf("middleware: status %d, caller %+v", rec.Code, seen)
				}
				return
			}
			if seen != nil {
				t.Fatal("middleware called the next handler for a refused token")
			}
			assertRefused(t, rec, tt.want.Code, true)
			assertNoToken(t, token, rec.Body.String(), logs.String())
			if !strings.Contains(logs.String(), "reason="+tt.want.Code) {
				t.Errorf("log lacks the reason: %s", logs.String())
			}
		})
	}
}

// assertRefused checks a 401 answer: challenge, content type and GraphQL-shaped body.
func assertRefused(t *testing.T, rec *httptest.ResponseRecorder, reason string, invalidToken bool) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code   string `json:"code"`
				Reason string `json:"reason"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if len(body.Errors) != 1 {
		t.Fatalf("body = %s, want one error", rec.Body.String())
	}
	e := body.Errors[0]
	if e.Extensions.Code != "UNAUTHENTICATED" || e.Extensions.Reason != reason || e.Message == "" {
		t.Errorf("error = %+v, want UNAUTHENTICATED/%s with a message", e, reason)
	}
	challenge := rec.Header().Get("WWW-Authenticate")
	want := `Bearer realm="pudong-gateway"`
	if invalidToken {
		want += `, error="invalid_token", error_description="` + headerSafe(e.Message) + `"`
	}
	if challenge != want {
		t.Errorf("WWW-Authenticate = %q, want %q", challenge, want)
	}
}

// assertNoToken fails if the token, or any of its three parts, shows up in the outputs.
func assertNoToken(t *testing.T, token string, outputs ...string) {
	t.Helper()
	needles := []string{token}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 {
			needles = append(needles, part)
		}
	}
	for _, out := range outputs {
		for _, n := range needles {
			if strings.Contains(out, n) {
				t.Fatalf("token material leaked into output: %q", out)
			}
		}
	}
}

// TestVerifyMapsClaims checks every claim lands on its Caller field.
func TestVerifyMapsClaims(t *testing.T) {
	f := newFixture(t)
	tok := mintFor(t, f.ed, "", Claims{
		Subject:   "citizen-7",
		Consumer:  "ipudong-portal",
		Dept:      "psb",
		Purpose:   "citizen-self-service",
		CitizenID: "310115198503120012",
		Roles:     []string{gateway.RoleApprover, gateway.RoleAuditor},
	}, time.Now())
	got, err := f.all.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	want := &gateway.Caller{
		Subject:   "citizen-7",
		Consumer:  "ipudong-portal",
		Dept:      "psb",
		Purpose:   "citizen-self-service",
		CitizenID: "310115198503120012",
		Roles:     []string{gateway.RoleApprover, gateway.RoleAuditor},
		TokenID:   claims["jti"].(string),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("caller = %+v, want %+v", got, want)
	}
	if len(got.TokenID) < 16 {
		t.Errorf("jti %q is too short to be random", got.TokenID)
	}
}

// TestMaxTokenBytes checks the configured limit, not just the default, is enforced.
func TestMaxTokenBytes(t *testing.T) {
	f := newFixture(t)
	tok := mintFor(t, f.ed, "", Claims{}, time.Now())
	tests := []struct {
		name string
		max  int
		want error
	}{
		{name: "limit just fits", max: len(tok), want: nil},
		{name: "one byte over", max: len(tok) - 1, want: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, KeyFiles: []string{f.edFile}, MaxTokenBytes: tt.max}, knownConsumers)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(tok); !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
				t.Errorf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNewVerifierRefuses checks that configurations which would weaken verification are
// refused at start-up rather than discovered on the first request.
func TestNewVerifierRefuses(t *testing.T) {
	dir := t.TempDir()
	ed := genEd(t)
	edFile := writePublicPEM(t, dir, "ed.pem", ed.Public())
	shortRSA := writePublicPEM(t, dir, "rsa1024.pem", genRSA(t, 1024).Public())
	p521 := writePublicPEM(t, dir, "p521.pem", genEC(t, elliptic.P521()).Public())
	privDER := must[[]byte](t)(x509.MarshalPKCS8PrivateKey(ed))
	private := writeFile(t, dir, "private.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	notPEM := writeFile(t, dir, "not.pem", []byte("hello"))
	jwksOct := writeFile(t, dir, "oct.json", []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	jwksPriv := writeFile(t, dir, "priv.json", must[[]byte](t)(json.Marshal(map[string]any{
		"keys": []any{map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "p",
			"x": base64.RawURLEncoding.EncodeToString(ed.Public().(ed25519.PublicKey)),
			"d": base64.RawURLEncoding.EncodeToString(ed.Seed())}},
	})))
	jwksBadAlg := writeJWKS(t, dir, "badalg.json", jwkOf(t, genRSA(t, 2048).Public(), "r", "ES256"))
	jwksDup := writeJWKS(t, dir, "dup.json", jwkOf(t, ed.Public(), kidOf(t, ed.Public()), ""))
	jwksEmpty := writeFile(t, dir, "empty.json", []byte(`{"keys":[]}`))
	ok := Config{Issuer: testIssuer, Audience: testAudience, KeyFiles: []string{edFile}}

	tests := []struct {
		name     string
		cfg      func(c Config) Config
		nilKnown bool
		want     string // part of the error message
	}{
		{name: "no issuer", cfg: func(c Config) Config { c.Issuer = ""; return c }, want: "issuer and audience"},
		{name: "no audience", cfg: func(c Config) Config { c.Audience = ""; return c }, want: "issuer and audience"},
		{name: "no consumer directory", cfg: func(c Config) Config { return c }, nilKnown: true, want: "consumer directory"},
		{name: "negative leeway", cfg: func(c Config) Config { c.Leeway = -time.Second; return c }, want: "negative"},
		{name: "no keys", cfg: func(c Config) Config { c.KeyFiles = nil; return c }, want: "no verification keys"},
		{name: "missing key file", cfg: func(c Config) Config { c.KeyFiles = []string{filepath.Join(dir, "nope.pem")}; return c }, want: "no such file"},
		{name: "not PEM", cfg: func(c Config) Config { c.KeyFiles = []string{notPEM}; return c }, want: "no PEM block"},
		{name: "private key file", cfg: func(c Config) Config { c.KeyFiles = []string{private}; return c }, want: "private key"},
		{name: "RSA under 2048 bits", cfg: func(c Config) Config { c.KeyFiles = []string{shortRSA}; return c }, want: "too short"},
		{name: "ECDSA P-521", cfg: func(c Config) Config { c.KeyFiles = []string{p521}; return c }, want: "P-521"},
		{name: "JWKS symmetric key", cfg: func(c Config) Config { c.JWKSFile = jwksOct; return c }, want: "symmetric"},
		{name: "JWKS private material", cfg: func(c Config) Config { c.JWKSFile = jwksPriv; return c }, want: "private key material"},
		{name: "JWKS alg foreign to key", cfg: func(c Config) Config { c.JWKSFile = jwksBadAlg; return c }, want: "does not fit"},
		{name: "JWKS without keys", cfg: func(c Config) Config { c.JWKSFile = jwksEmpty; return c }, want: "no signature keys"},
		{name: "same key twice", cfg: func(c Config) Config { c.JWKSFile = jwksDup; return c }, want: "configured twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := knownConsumers
			if tt.nilKnown {
				known = nil
			}
			v, err := NewVerifier(tt.cfg(ok), known)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier = %v, %v; want error containing %q", v, err, tt.want)
			}
		})
	}
}

// BenchmarkVerify measures the per-request cost of verifying an Ed25519 token.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	key := genEd(b)
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience,
		KeyFiles: []string{writePublicPEM(b, dir, "ed.pem", key.Public())}}, knownConsumers)
	if err != nil {
		b.Fatal(err)
	}
	tok := mintFor(b, key, kidOf(b, key.Public()), Claims{Roles: []string{"approver"}}, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// A token that verified is remembered, but its expiry is still enforced, a caller's
// changes to the returned Caller do not reach the next request, and a token differing in
// one byte is verified afresh.
func TestVerifiedTokensAreRememberedNotTrustedForever(t *testing.T) {
	f := newFixture(t)
	v := f.edOnly
	now := time.Now()
	tok := mintFor(t, f.ed, "", Claims{TTL: time.Minute, Roles: []string{"approver"}}, now)
	c1, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	c1.Roles[0] = "cio"
	c2, err := v.Verify(tok)
	if err != nil || c2.Roles[0] != "approver" || v.verified.Len() != 1 {
		t.Fatalf("second verify: %+v %v", c2, err)
	}
	i := len(tok) - 10 // inside the signature
	repl := byte('A')
	if tok[i] == 'A' {
		repl = 'B'
	}
	tampered := tok[:i] + string(repl) + tok[i+1:]
	if _, err := v.Verify(tampered); err == nil {
		t.Error("a token differing from a remembered one must be verified afresh")
	}
	v.now = func() time.Time { return now.Add(time.Minute + DefaultLeeway + time.Second) }
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("a remembered token past its expiry: %v", err)
	}
	if v.verified.Len() != 0 {
		t.Error("an expired token is forgotten")
	}
}
