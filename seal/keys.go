package seal

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
)

// KeysPath is where the gateway publishes its seal public key (docs/sealed-answers.md).
const KeysPath = "/seal/keys"

// JWK is one seal public key as RFC 8037 writes an Ed25519 key, with its RFC 7638
// thumbprint as kid: the kid a seal's JWS header names.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// PublicKey is the seal key's public half, or nil when the gateway has no seal key.
func (s *Sealer) PublicKey() ed25519.PublicKey {
	if s == nil || s.o.Key == nil {
		return nil
	}
	return s.o.Key.Public().(ed25519.PublicKey)
}

// KeySet is the JWK Set (RFC 7517) of keys: what KeysHandler serves.
func KeySet(keys ...ed25519.PublicKey) map[string][]JWK {
	set := map[string][]JWK{"keys": {}}
	for _, k := range keys {
		if k == nil {
			continue
		}
		set["keys"] = append(set["keys"], JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k), Kid: KeyID(k), Alg: "EdDSA", Use: "sig"})
	}
	return set
}

// KeysHandler serves the seal public keys as a JWK Set, to anyone: a public key is
// what a verifier needs, without a token, to check a saved answer later (the
// playground verifies sealed answers in the browser with it). An empty set means the
// gateway seals nothing.
func KeysHandler(keys ...ed25519.PublicKey) http.Handler {
	body, _ := json.Marshal(KeySet(keys...))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// A key is replaced only by an operator's rotation; a verifier that meets an
		// unknown kid asks again.
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(body)
	})
}
