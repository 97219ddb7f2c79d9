// Package auth establishes who is calling: it verifies the bearer JWT of every request
// against configured public keys (docs/operators.md, auth), turns its claims into a
// gateway.Caller, and carries that caller in the request context. It also owns the demo
// signing key and the minting of tokens with it, so the demo mode and its token command
// share one definition of what a valid token is.
package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/golang-jwt/jwt/v5"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
)

// Defaults for the zero values of Config. The leeway is the configuration's default
// (config/defaults.go), named here for callers of this package.
const (
	DefaultLeeway        = config.DefaultLeeway
	DefaultMaxTokenBytes = 8 << 10
)

// Config says which tokens the gateway trusts.
type Config struct {
	Issuer   string // required: the iss every token must carry
	Audience string // required: a value the token's aud must contain
	// KeyFiles are PEM public keys (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a
	// certificate): Ed25519, ECDSA P-256/P-384, RSA of at least 2048 bits. Each key's kid is
	// its RFC 7638 thumbprint (KeyID).
	KeyFiles []string
	// JWKSFile is a JWK Set of public keys; each key keeps its own kid and alg.
	JWKSFile string
	// Leeway absorbs clock skew between the issuer and the gateway for exp, nbf and iat;
	// zero means DefaultLeeway.
	Leeway time.Duration
	// MaxTokenBytes bounds what is parsed at all, so an oversized header costs nothing;
	// zero means DefaultMaxTokenBytes.
	MaxTokenBytes int
}

// Verifier checks bearer tokens. Keys, the parser and the key lookup tables are built
// once at construction because Verify runs on every request; it is safe for concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	maxBytes int
	known    func(consumer string) bool
	byKID    map[string]*verifyKey
	byAlg    map[string]jwt.VerificationKeySet // candidates for tokens without a kid
	keyfunc  jwt.Keyfunc
	leeway   time.Duration
	now      func() time.Time

	// verified remembers tokens whose signature and claims already passed, by their
	// SHA-256: an app sends the same token for many requests, and the signature check is
	// the most expensive step of a warm request. Only the time claims are checked again.
	verified *lru.Cache[[32]byte, verifiedToken]
}

// verifiedToken is a token that passed, with the times that still decide whether it does.
type verifiedToken struct {
	caller gateway.Caller
	exp    time.Time
}

// verifiedCacheSize bounds the remembered tokens.
const verifiedCacheSize = 20000

// NewVerifier loads the configured keys and fixes the accepted algorithms to those the keys
// call for, so "none", HMAC and any algorithm foreign to the keys are refused before a
// signature is even looked at. known reports whether a consumer name is configured: a
// correctly signed token for an app the gateway does not know is still refused.
func NewVerifier(cfg Config, known func(consumer string) bool) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience must be configured")
	}
	if known == nil {
		return nil, errors.New("auth: a consumer directory (known) is required")
	}
	if cfg.Leeway < 0 || cfg.MaxTokenBytes < 0 {
		return nil, errors.New("auth: leeway and max token bytes must not be negative")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxTokenBytes == 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}

	var keys []*verifyKey
	for _, path := range cfg.KeyFiles {
		k, err := loadPEMKey(path)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		keys = append(keys, k)
	}
	if cfg.JWKSFile != "" {
		ks, err := loadJWKS(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: no verification keys configured (KeyFiles or JWKSFile)")
	}

	verified, _ := lru.New[[32]byte, verifiedToken](verifiedCacheSize)
	v := &Verifier{
		leeway:   cfg.Leeway,
		now:      time.Now,
		verified: verified,
		maxBytes: cfg.MaxTokenBytes,
		known:    known,
		byKID:    make(map[string]*verifyKey, len(keys)),
		byAlg:    make(map[string]jwt.VerificationKeySet),
	}
	for _, k := range keys {
		if _, dup := v.byKID[k.kid]; dup {
			return nil, fmt.Errorf("auth: key id %q is configured twice", k.kid)
		}
		v.byKID[k.kid] = k
		for _, alg := range k.algs {
			set := v.byAlg[alg]
			set.Keys = append(set.Keys, k.pub)
			v.byAlg[alg] = set
		}
	}
	algs := make([]string, 0, len(v.byAlg))
	for alg := range v.byAlg {
		algs = append(algs, alg)
	}
	slices.Sort(algs)
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	)
	v.keyfunc = v.selectKey // bound once: a method value allocates on every use
	return v, nil
}

// tokenClaims is the claim set of a gateway token, shared by Verify and Mint.
type tokenClaims struct {
	jwt.RegisteredClaims
	Consumer  string   `json:"consumer,omitempty"`
	Dept      string   `json:"dept,omitempty"`
	Purpose   string   `json:"purpose,omitempty"`
	CitizenID string   `json:"citizen_id,omitempty"`
	Roles     []string `json:"roles,omitempty"`
}

// Verify checks token and returns the caller it describes. Every refusal is an *Error
// (compare with errors.Is against ErrExpired, ErrBadSignature, …) whose description is
// safe to show the client.
func (v *Verifier) Verify(token string) (*gateway.Caller, error) {
	if token == "" {
		return nil, fail(ErrMissingToken, nil)
	}
	if len(token) > v.maxBytes {
		return nil, failf(ErrTooLarge, nil, "the token is larger than %d bytes", v.maxBytes)
	}
	sum := sha256.Sum256([]byte(token))
	if t, ok := v.verified.Get(sum); ok {
		if v.now().After(t.exp.Add(v.leeway)) {
			v.verified.Remove(sum)
			return nil, fail(ErrExpired, nil)
		}
		c := t.caller
		c.Roles = slices.Clone(c.Roles)
		return &c, nil
	}
	var c tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyfunc)
	if err != nil {
		return nil, v.classify(tok, &c, err)
	}
	switch {
	case c.Subject == "":
		return nil, failf(ErrMissingClaim, nil, "the token lacks the required sub claim")
	case c.Consumer == "":
		return nil, failf(ErrMissingClaim, nil, "the token lacks the required consumer claim")
	case !v.known(c.Consumer):
		return nil, fail(ErrUnknownConsumer, nil)
	}
	caller := gateway.Caller{
		Subject:   c.Subject,
		Consumer:  c.Consumer,
		Dept:      c.Dept,
		Purpose:   c.Purpose,
		CitizenID: c.CitizenID,
		Roles:     c.Roles,
		TokenID:   c.ID,
	}
	// exp is required, so every remembered token has an end; nbf and iat have passed
	// already and time only moves on.
	v.verified.Add(sum, verifiedToken{caller: caller, exp: c.ExpiresAt.Time})
	caller.Roles = slices.Clone(caller.Roles)
	return &caller, nil
}

// selectKey is the parser's key lookup. A kid selects exactly one key, and the token's
// algorithm must be one that key was configured for; without a kid every key of the
// token's algorithm is tried.
func (v *Verifier) selectKey(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	raw, hasKID := t.Header["kid"]
	if !hasKID {
		set, ok := v.byAlg[alg]
		if !ok {
			return nil, fail(ErrAlgorithm, nil)
		}
		return set, nil
	}
	kid, ok := raw.(string)
	if !ok {
		return nil, failf(ErrMalformed, nil, "the token's kid header is not a string")
	}
	k, ok := v.byKID[kid]
	if !ok {
		return nil, fail(ErrUnknownKey, nil)
	}
	if !slices.Contains(k.algs, alg) {
		return nil, fail(ErrAlgorithm, nil)
	}
	return k.pub, nil
}

// classify turns the JWT library's error into the gateway's reason. Claim errors are only
// reported once the signature has verified (the library checks claims last), so a forged
// token learns nothing about which claims would have passed.
func (v *Verifier) classify(tok *jwt.Token, c *tokenClaims, err error) error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e // from selectKey, which already said what was wrong
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The alg header is missing or names an algorithm the library does not know.
		return fail(ErrAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil {
			if _, ok := v.byAlg[tok.Method.Alg()]; !ok {
				return fail(ErrAlgorithm, err) // refused by WithValidMethods: none, HS256, …
			}
		}
		return fail(ErrBadSignature, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		claim := "aud"
		switch {
		case c.ExpiresAt == nil:
			claim = "exp"
		case c.Issuer == "":
			claim = "iss"
		}
		return failf(ErrMissingClaim, err, "the token lacks the required %s claim", claim)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fail(ErrWrongIssuer, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fail(ErrWrongAudience, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail(ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fail(ErrNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail(ErrIssuedInFuture, err)
	}
	return fail(ErrMalformed, err)
}
