// Package auth establishes who is calling: it verifies the bearer JWT of every request
// against configured public keys (docs/operators.md, auth), turns its claims into a
// gateway.Caller, and carries that caller in the request context. It also owns the demo
// signing key and the minting of tokens with it, so the demo mode and its token command
// share one definition of what a valid token is.
package auth

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	// JWKSURL is the identity provider's published JWK Set, fetched every JWKSRefresh
	// (DefaultJWKSRefresh) and, at most every JWKSUnknownKID (DefaultJWKSUnknownKID), when
	// a token names a kid the gateway does not hold; a failed fetch keeps the last good
	// set. Tokens verified with it must name their key (kid). Configured files keep
	// working beside it. Close stops the refreshing.
	JWKSURL        string
	JWKSRefresh    time.Duration
	JWKSUnknownKID time.Duration
	JWKSTimeout    time.Duration // one fetch; default DefaultJWKSTimeout
	JWKSClient     *http.Client  // nil: a client with JWKSTimeout
	// Log receives failed JWKS fetches; nil discards them.
	Log *slog.Logger
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
	remote   *remoteKeys // the provider's JWK Set; nil without JWKSURL
	algs     []string    // every algorithm the parser accepts
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
	// remoteKID and remotePub name the provider's key that verified the token, if it
	// came from JWKSURL: once that key is rotated out the token no longer passes.
	remoteKID string
	remotePub crypto.PublicKey
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

	keys, remote, err := loadKeys(cfg)
	if err != nil {
		return nil, err
	}

	verified, _ := lru.New[[32]byte, verifiedToken](verifiedCacheSize)
	v := &Verifier{
		leeway:   cfg.Leeway,
		now:      time.Now,
		verified: verified,
		maxBytes: cfg.MaxTokenBytes,
		known:    known,
		remote:   remote,
		byKID:    make(map[string]*verifyKey, len(keys)),
		byAlg:    make(map[string]jwt.VerificationKeySet),
	}
	if err := v.index(keys); err != nil {
		return nil, err
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	)
	v.keyfunc = v.selectKey // bound once: a method value allocates on every use
	return v, nil
}

// loadKeys loads the keys of the PEM files and the JWKS file, and prepares the
// remote JWKS, if any; at least one source of keys is required.
func loadKeys(cfg Config) ([]*verifyKey, *remoteKeys, error) {
	var keys []*verifyKey
	for _, path := range cfg.KeyFiles {
		k, err := loadPEMKey(path)
		if err != nil {
			return nil, nil, fmt.Errorf("auth: %w", err)
		}
		keys = append(keys, k)
	}
	if cfg.JWKSFile != "" {
		ks, err := loadJWKS(cfg.JWKSFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth: %w", err)
		}
		keys = append(keys, ks...)
	}
	var remote *remoteKeys
	if cfg.JWKSURL != "" {
		var err error
		if remote, err = newRemoteKeys(cfg); err != nil {
			return nil, nil, fmt.Errorf("auth: %w", err)
		}
	}
	if len(keys) == 0 && remote == nil {
		return nil, nil, errors.New("auth: no verification keys configured (KeyFiles, JWKSFile or JWKSURL)")
	}

	return keys, remote, nil
}

// index files the keys by key id (each once) and by algorithm, and fixes the
// accepted algorithms: the keys' and, with a remote JWKS, those it may use.
func (v *Verifier) index(keys []*verifyKey) error {
	for _, k := range keys {
		if _, dup := v.byKID[k.kid]; dup {
			return fmt.Errorf("auth: key id %q is configured twice", k.kid)
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
	if v.remote != nil {
		algs = append(algs, remoteAlgs...)
	}
	slices.Sort(algs)
	algs = slices.Compact(algs)
	v.algs = algs
	return nil
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
		if t.remoteKID != "" && !v.remote.holds(t.remoteKID, t.remotePub) {
			v.verified.Remove(sum)
			return nil, fail(ErrUnknownKey, nil)
		}
		c := t.caller
		c.Roles = slices.Clone(c.Roles)
		return &c, nil
	}
	var c tokenClaims
	keyfunc := v.keyfunc
	var remoteKID string
	var remotePub crypto.PublicKey
	if v.remote != nil {
		// Remember which of the provider's keys verified the token, for the cache above.
		keyfunc = func(t *jwt.Token) (any, error) {
			k, err := v.selectKey(t)
			if kid, ok := t.Header["kid"].(string); ok && err == nil && v.byKID[kid] == nil {
				remoteKID, remotePub = kid, k
			}
			return k, err
		}
	}
	tok, err := v.parser.ParseWithClaims(token, &c, keyfunc)
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
	v.verified.Add(sum, verifiedToken{caller: caller, exp: c.ExpiresAt.Time, remoteKID: remoteKID, remotePub: remotePub})
	caller.Roles = slices.Clone(caller.Roles)
	return &caller, nil
}

// JWKSFetchFailures is how many fetches of the JWKSURL key set have failed (the last good
// set then stays in use); 0 without a JWKSURL.
func (v *Verifier) JWKSFetchFailures() uint64 {
	if v.remote == nil {
		return 0
	}
	return v.remote.failures.Load()
}

// Close stops refreshing the JWKSURL key set; a Verifier without one needs no Close.
func (v *Verifier) Close() {
	if v.remote != nil {
		v.remote.close()
	}
}

// selectKey is the parser's key lookup. A kid selects exactly one key (a configured one,
// else the provider's), and the token's algorithm must be one that key was configured
// for; without a kid every configured key of the token's algorithm is tried.
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
		if v.remote != nil {
			return v.remote.key(t, kid)
		}
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
			if !slices.Contains(v.algs, tok.Method.Alg()) {
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
