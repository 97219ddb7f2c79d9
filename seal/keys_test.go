package seal

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// The published JWK Set holds the key that verifies a seal, under the kid the seal's
// header names, and nothing secret: a verifier that has only the set checks an answer.
func TestKeysHandlerPublishesTheVerifyingKey(t *testing.T) {
	s, pub := newTestSealer(t)
	body := sealed(t, s, &graphql.OperationContext{Extensions: map[string]any{"seal": true}}, answer)

	rec := httptest.NewRecorder()
	KeysHandler(s.PublicKey()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, KeysPath, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var set struct{ Keys []map[string]string }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	k := set.Keys[0]
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] != KeyID(pub) {
		t.Errorf("jwk %v", k)
	}
	if _, secret := k["d"]; secret || len(k) != 6 {
		t.Errorf("the set must hold the public key only: %v", k)
	}
	x, err := base64.RawURLEncoding.DecodeString(k["x"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(body, ed25519.PublicKey(x)); err != nil {
		t.Errorf("the published key does not verify a seal: %v", err)
	}

	// Without a seal key the set is empty, not an error.
	rec = httptest.NewRecorder()
	KeysHandler(New(Options{}).PublicKey()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, KeysPath, nil))
	if rec.Body.String() != `{"keys":[]}` {
		t.Errorf("no key: %s", rec.Body)
	}
	if _, err := Verify(body); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("no keys: %v", err)
	}
}
