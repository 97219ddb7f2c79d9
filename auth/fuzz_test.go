package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to a Verifier trusting Ed25519, ECDSA and RSA keys
// from PEM files and a JWKS. Whatever the input, Verify must not panic, must refuse with an
// *Error whose description does not echo the token, and may accept only a token that an
// independent check (crypto primitives called directly, claims decoded by hand) finds
// signed by a configured key with an algorithm that key allows, with the required claims.
//
// The seeds are valid tokens of every key and tampered versions of them; run longer with
//
//	go test -fuzz=FuzzVerify -fuzztime=10m ./auth
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	now := time.Now()
	edKID := kidOf(f, fx.ed.Public())

	valid := validSeeds(f, fx, now)
	for _, tok := range valid {
		f.Add(tok)
		addTamperedSeeds(f, tok, edKID)
	}
	addRefusedSeeds(f, fx, now)
	keys := trustedKeys(fx)
	// The independent check itself must accept what is valid, or it proves nothing.
	for i, tok := range valid {
		if _, err := fx.all.Verify(tok); err != nil {
			f.Fatalf("valid seed %d refused: %v", i, err)
		}
		if why := independentlyValid(tok, keys, now); why != "" {
			f.Fatalf("the independent check refuses valid seed %d: %s", i, why)
		}
	}
	f.Fuzz(func(t *testing.T, token string) {
		caller, err := fx.all.Verify(token)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Code == "" || e.Description == "" {
				t.Fatalf("refusal is not an *Error with a code and description: %#v", err)
			}
			if len(token) >= 16 && strings.Contains(e.Description, token) {
				t.Fatalf("the refusal's description echoes the token: %q", e.Description)
			}
			return
		}
		if caller == nil || caller.Subject == "" || !knownConsumers(caller.Consumer) {
			t.Fatalf("accepted with an incomplete caller: %+v", caller)
		}
		if why := independentlyValid(token, keys, time.Now()); why != "" {
			t.Fatalf("Verify accepted a token the independent check refuses (%s): %q", why, token)
		}
	})
}

// validSeeds are valid tokens signed by every configured key.
func validSeeds(f *testing.F, fx *fixture, now time.Time) []string {
	base := baseClaims(now)
	return []string{
		mintFor(f, fx.ed, kidOf(f, fx.ed.Public()), Claims{}, now),
		mintFor(f, fx.ed, "", Claims{Roles: []string{"approver"}, CitizenID: "310115198503120012"}, now),
		mintFor(f, fx.ec256, kidOf(f, fx.ec256.Public()), Claims{}, now),
		mintFor(f, fx.rsa, "", Claims{}, now),
		craft(f, jwt.SigningMethodPS256, fx.rsa, "", base),
		mintFor(f, fx.jwksEd, "jwks-ed", Claims{}, now),
		mintFor(f, fx.jwksEC, "jwks-ec384", Claims{}, now),
		craft(f, jwt.SigningMethodPS256, fx.jwksRSA, "jwks-rsa", base),
	}
}

// addTamperedSeeds adds versions of a valid token with its payload, signature,
// algorithm or framing changed.
func addTamperedSeeds(f *testing.F, tok, edKID string) {
	b64 := base64.RawURLEncoding
	p := strings.Split(tok, ".")
	payload, _ := b64.DecodeString(p[1])
	f.Add(p[0] + "." + b64.EncodeToString(bytes.Replace(payload, []byte("online-hall"), []byte("ipudong-portal"), 1)) + "." + p[2])
	sig, _ := b64.DecodeString(p[2])
	if len(sig) > 0 {
		sig[len(sig)/2] ^= 0x01
	}
	f.Add(p[0] + "." + p[1] + "." + b64.EncodeToString(sig))
	f.Add(p[0] + "." + p[1] + ".")
	f.Add(b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + p[1] + ".")
	f.Add(b64.EncodeToString([]byte(`{"alg":"HS256","kid":"`+edKID+`"}`)) + "." + p[1] + "." + p[2])
	f.Add(tok + "=")
	f.Add(" " + tok)
}

// addRefusedSeeds adds tokens refused for their key, their claims or their shape.
func addRefusedSeeds(f *testing.F, fx *fixture, now time.Time) {
	base := baseClaims(now)
	edKID := kidOf(f, fx.ed.Public())
	f.Add(craft(f, jwt.SigningMethodHS256, fx.edPEM, "", base))
	f.Add(mintFor(f, fx.stranger, edKID, Claims{}, now))
	f.Add(mintFor(f, fx.stranger, "", Claims{}, now))
	f.Add(mintFor(f, fx.ed, "unknown-kid", Claims{}, now))
	f.Add(craft(f, jwt.SigningMethodEdDSA, fx.ed, edKID, edit(base, map[string]any{"exp": nil})))
	f.Add(craft(f, jwt.SigningMethodEdDSA, fx.ed, edKID, edit(base, map[string]any{"aud": []any{1, nil, "x"}})))
	f.Add(craft(f, jwt.SigningMethodEdDSA, fx.ed, edKID, edit(base, map[string]any{"exp": "tomorrow"})))
	f.Add("")
	f.Add("a.b.c")
	f.Add("..")
	f.Add(strings.Repeat("A", DefaultMaxTokenBytes+1))
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.")
}

// trustedKeys are the fixture's configured keys, as the independent check knows them.
func trustedKeys(fx *fixture) []trustedKey {
	return []trustedKey{
		{fx.ed.Public(), []string{"EdDSA"}},
		{fx.ec256.Public(), []string{"ES256"}},
		{fx.rsa.Public(), []string{"RS256", "PS256"}},
		{fx.jwksEd.Public(), []string{"EdDSA"}},
		{fx.jwksEC.Public(), []string{"ES384"}},
		{fx.jwksRSA.Public(), []string{"PS256"}},
	}
}

// trustedKey is a configured public key and the algorithms it may sign with.
type trustedKey struct {
	pub  crypto.PublicKey
	algs []string
}

// independentlyValid re-checks an accepted token without the JWT library: "" if valid,
// else why not.
func independentlyValid(token string, keys []trustedKey, now time.Time) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "not three segments"
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	rawPayload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return "a segment is not base64url"
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(rawHeader, &header) != nil {
		return "header is not JSON"
	}
	input := []byte(parts[0] + "." + parts[1])
	verified := false
	for _, k := range keys {
		if slices.Contains(k.algs, header.Alg) && verifySignature(header.Alg, k.pub, input, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return "no configured key verifies the signature with alg " + header.Alg
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(rawPayload))
	dec.UseNumber()
	if dec.Decode(&claims) != nil {
		return "payload is not a JSON object"
	}
	if claims["iss"] != testIssuer {
		return "iss"
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != testAudience {
			return "aud"
		}
	case []any:
		if !slices.Contains(aud, any(testAudience)) {
			return "aud"
		}
	default:
		return "aud"
	}
	exp, ok := claims["exp"].(json.Number)
	if !ok {
		return "exp missing"
	}
	if e, err := exp.Float64(); err != nil || time.Unix(int64(e), 0).Add(DefaultLeeway+time.Second).Before(now) {
		return "exp passed"
	}
	for _, c := range []string{"nbf", "iat"} {
		if v, ok := claims[c].(json.Number); ok {
			if n, err := v.Float64(); err != nil || time.Unix(int64(n), 0).Add(-DefaultLeeway-time.Second).After(now) {
				return c + " in the future"
			}
		}
	}
	if s, _ := claims["sub"].(string); s == "" {
		return "sub"
	}
	if c, _ := claims["consumer"].(string); !knownConsumers(c) {
		return "consumer"
	}
	return ""
}

// verifySignature checks sig over input with the primitives of alg, called directly.
func verifySignature(alg string, pub crypto.PublicKey, input, sig []byte) bool {
	switch alg {
	case "EdDSA":
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, input, sig)
	case "ES256", "ES384":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if alg == "ES256" {
			h := sha256.Sum256(input)
			return ecdsa.Verify(k, h[:], r, s)
		}
		h := sha512.Sum384(input)
		return ecdsa.Verify(k, h[:], r, s)
	case "RS256", "PS256":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return false
		}
		h := sha256.Sum256(input)
		if alg == "RS256" {
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
		}
		return rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	return false
}
