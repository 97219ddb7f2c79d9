package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://idp.pudong.gov.cn"
	testAudience = "pudong-gateway"
)

// knownConsumers is the consumer directory the test verifiers use.
func knownConsumers(name string) bool {
	return slices.Contains([]string{"online-hall", "ipudong-portal"}, name)
}

// fixture holds generated keys, their files and verifiers built from them.
type fixture struct {
	ed, stranger      ed25519.PrivateKey
	ec256             *ecdsa.PrivateKey
	rsa               *rsa.PrivateKey
	jwksEd            ed25519.PrivateKey // in the JWKS as kid "jwks-ed"
	jwksEC            *ecdsa.PrivateKey  // P-384, in the JWKS as kid "jwks-ec384"
	jwksRSA           *rsa.PrivateKey    // in the JWKS as kid "jwks-rsa", alg PS256 only
	edPEM             []byte             // the Ed25519 public key file's bytes
	edFile, ecFile    string
	rsaFile, jwksFile string
	all               *Verifier // every key above but stranger
	edOnly            *Verifier // the Ed25519 PEM key alone
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		ed:       genEd(t),
		stranger: genEd(t),
		ec256:    genEC(t, elliptic.P256()),
		rsa:      genRSA(t, 2048),
		jwksEd:   genEd(t),
		jwksEC:   genEC(t, elliptic.P384()),
		jwksRSA:  genRSA(t, 2048),
	}
	f.edFile = writePublicPEM(t, dir, "ed.pem", f.ed.Public())
	f.ecFile = writePublicPEM(t, dir, "ec.pem", f.ec256.Public())
	f.rsaFile = writePublicPEM(t, dir, "rsa.pem", f.rsa.Public())
	f.edPEM = must[[]byte](t)(os.ReadFile(f.edFile))
	f.jwksFile = writeJWKS(t, dir, "keys.json",
		jwkOf(t, f.jwksEd.Public(), "jwks-ed", ""),
		jwkOf(t, f.jwksEC.Public(), "jwks-ec384", ""),
		jwkOf(t, f.jwksRSA.Public(), "jwks-rsa", jwkset.AlgPS256),
	)
	var err error
	f.all, err = NewVerifier(Config{
		Issuer: testIssuer, Audience: testAudience,
		KeyFiles: []string{f.edFile, f.ecFile, f.rsaFile},
		JWKSFile: f.jwksFile,
	}, knownConsumers)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	f.edOnly, err = NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, KeyFiles: []string{f.edFile}}, knownConsumers)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return f
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func genEd(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func genEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	return must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(c, rand.Reader))
}

func genRSA(t testing.TB, bits int) *rsa.PrivateKey {
	return must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, bits))
}

func writePublicPEM(t testing.TB, dir, name string, pub crypto.PublicKey) string {
	t.Helper()
	der := must[[]byte](t)(x509.MarshalPKIXPublicKey(pub))
	return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func jwkOf(t testing.TB, pub crypto.PublicKey, kid string, alg jwkset.ALG) jwkset.JWKMarshal {
	t.Helper()
	k, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg}})
	if err != nil {
		t.Fatal(err)
	}
	return k.Marshal()
}

func writeJWKS(t testing.TB, dir, name string, keys ...jwkset.JWKMarshal) string {
	t.Helper()
	data := must[[]byte](t)(json.Marshal(jwkset.JWKSMarshal{Keys: keys}))
	return writeFile(t, dir, name, data)
}

func kidOf(t testing.TB, pub crypto.PublicKey) string {
	return must[string](t)(KeyID(pub))
}

// baseClaims are valid claims for the test verifiers at now; tests edit a copy.
func baseClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":      testIssuer,
		"aud":      testAudience,
		"sub":      "clerk-0042",
		"consumer": "online-hall",
		"purpose":  "administrative-approval",
		"iat":      now.Unix(),
		"nbf":      now.Unix(),
		"exp":      now.Add(time.Hour).Unix(),
	}
}

// craft signs claims with method and key, setting kid when not empty; it is how tests build
// tokens that Mint would refuse to make.
func craft(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// edit returns base with the changes applied: a nil value deletes the claim.
func edit(base jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// mintFor mints with the test issuer and audience.
func mintFor(t testing.TB, key crypto.Signer, kid string, c Claims, now time.Time) string {
	t.Helper()
	c.Issuer, c.Audience = testIssuer, testAudience
	if c.Subject == "" {
		c.Subject = "clerk-0042"
	}
	if c.Consumer == "" {
		c.Consumer = "online-hall"
	}
	tok, err := Mint(key, kid, c, now)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}
