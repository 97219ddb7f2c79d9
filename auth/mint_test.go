package auth

import (
	"crypto"
	"crypto/elliptic"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestMint checks the header and registered claims Mint writes for each key type.
func TestMint(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	tests := []struct {
		name    string
		key     crypto.Signer
		kid     string
		claims  Claims
		wantAlg string
		wantTTL time.Duration
		wantIss string
		wantAud string
	}{
		{name: "Ed25519, demo defaults", key: genEd(t), claims: Claims{Subject: "s", Consumer: "playground"},
			wantAlg: "EdDSA", wantTTL: DefaultTTL, wantIss: DemoIssuer, wantAud: DemoAudience},
		{name: "ECDSA P-256 with kid", key: genEC(t, elliptic.P256()), kid: "k1",
			claims:  Claims{Subject: "s", Consumer: "playground", TTL: 5 * time.Minute, Issuer: "i", Audience: "a"},
			wantAlg: "ES256", wantTTL: 5 * time.Minute, wantIss: "i", wantAud: "a"},
		{name: "ECDSA P-384", key: genEC(t, elliptic.P384()), claims: Claims{Subject: "s", Consumer: "playground"},
			wantAlg: "ES384", wantTTL: DefaultTTL, wantIss: DemoIssuer, wantAud: DemoAudience},
		{name: "RSA", key: genRSA(t, 2048), claims: Claims{Subject: "s", Consumer: "playground"},
			wantAlg: "RS256", wantTTL: DefaultTTL, wantIss: DemoIssuer, wantAud: DemoAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(tt.key, tt.kid, tt.claims, now)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Mint(tt.key, tt.kid, tt.claims, now)
			if err != nil {
				t.Fatal(err)
			}
			var c, c2 tokenClaims
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, &c)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := jwt.NewParser().ParseUnverified(again, &c2); err != nil {
				t.Fatal(err)
			}
			if parsed.Method.Alg() != tt.wantAlg {
				t.Errorf("alg = %s, want %s", parsed.Method.Alg(), tt.wantAlg)
			}
			if kid, _ := parsed.Header["kid"].(string); kid != tt.kid {
				t.Errorf("kid = %q, want %q", kid, tt.kid)
			}
			if !c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now) || !c.ExpiresAt.Equal(now.Add(tt.wantTTL)) {
				t.Errorf("iat %v nbf %v exp %v; want %v, %v, %v", c.IssuedAt, c.NotBefore, c.ExpiresAt, now, now, now.Add(tt.wantTTL))
			}
			if c.Issuer != tt.wantIss || len(c.Audience) != 1 || c.Audience[0] != tt.wantAud {
				t.Errorf("iss %q aud %q; want %q, %q", c.Issuer, c.Audience, tt.wantIss, tt.wantAud)
			}
			if c.ID == "" || c.ID == c2.ID {
				t.Errorf("jti %q then %q; want a fresh random one each time", c.ID, c2.ID)
			}
		})
	}
}

// TestMintRefuses checks Mint will not make a token the Verifier would refuse anyway.
func TestMintRefuses(t *testing.T) {
	ok := Claims{Subject: "s", Consumer: "playground"}
	tests := []struct {
		name   string
		key    crypto.Signer
		claims Claims
		want   string
	}{
		{name: "no subject", key: genEd(t), claims: Claims{Consumer: "playground"}, want: "subject and consumer"},
		{name: "no consumer", key: genEd(t), claims: Claims{Subject: "s"}, want: "subject and consumer"},
		{name: "negative TTL", key: genEd(t), claims: Claims{Subject: "s", Consumer: "playground", TTL: -time.Minute}, want: "TTL"},
		{name: "ECDSA P-521", key: genEC(t, elliptic.P521()), claims: ok, want: "P-521"},
		{name: "RSA 1024", key: genRSA(t, 1024), claims: ok, want: "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(tt.key, "", tt.claims, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Mint = %q, %v; want error containing %q", tok, err, tt.want)
			}
		})
	}
}
