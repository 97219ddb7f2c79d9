package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The demo mode's issuer and audience: its Verifier expects them and Mint defaults to them.
const (
	DemoIssuer   = "pudong-gateway-demo"
	DemoAudience = "pudong-gateway"
)

// DefaultTTL is the lifetime of a minted token when Claims.TTL is zero.
const DefaultTTL = time.Hour

// Claims describe the caller a minted token speaks for (see gateway.Caller).
type Claims struct {
	Subject   string // required
	Consumer  string // required
	Dept      string
	Purpose   string
	CitizenID string
	Roles     []string
	TTL       time.Duration // zero means DefaultTTL
	Issuer    string        // empty means DemoIssuer
	Audience  string        // empty means DemoAudience
}

// Mint signs a token for c that a Verifier trusting key's public half accepts. It exists for
// the demo mode's token command and for tests, which is why it takes the signing time: an
// expired or not-yet-valid token is minted by choosing now. The algorithm follows the key:
// EdDSA for Ed25519, ES256/ES384 for ECDSA P-256/P-384, RS256 for RSA. kid, when not empty,
// goes in the header (use KeyID of the public key for keys loaded from PEM files). The token
// gets a random jti and iat = nbf = now.
func Mint(key crypto.Signer, kid string, c Claims, now time.Time) (string, error) {
	if c.Subject == "" || c.Consumer == "" {
		return "", errors.New("auth: mint: subject and consumer are required")
	}
	if c.TTL < 0 {
		return "", errors.New("auth: mint: TTL must not be negative")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Issuer == "" {
		c.Issuer = DemoIssuer
	}
	if c.Audience == "" {
		c.Audience = DemoAudience
	}
	method, err := signingMethod(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti) // crypto/rand.Read never fails

	tok := jwt.NewWithClaims(method, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		Consumer:  c.Consumer,
		Dept:      c.Dept,
		Purpose:   c.Purpose,
		CitizenID: c.CitizenID,
		Roles:     c.Roles,
	})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}

// signingMethod picks the one algorithm Mint uses for key, matching what the Verifier
// derives from the public half.
func signingMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		}
		return nil, fmt.Errorf("ECDSA curve %s is not supported (use P-256 or P-384)", k.Curve.Params().Name)
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short (at least %d)", k.N.BitLen(), minRSABits)
		}
		return jwt.SigningMethodRS256, nil
	}
	return nil, fmt.Errorf("signer %T is not supported (use an Ed25519, ECDSA or RSA private key)", key)
}
