package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
)

// auth.jwksURL end to end: the identity provider rotates its key while the gateway runs;
// tokens of the new key are served at once, tokens of the old one refused, no restart.
func TestJWKSRotationWithoutRestart(t *testing.T) {
	var mu sync.Mutex
	var published []jwkset.JWKMarshal
	publish := func(key *ecdsa.PrivateKey, kid string) {
		j, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256}})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		published = []jwkset.JWKMarshal{j.Marshal()}
		mu.Unlock()
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: published})
	}))
	defer idp.Close()
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	publish(oldKey, "idp-2026-11")

	g := Start(t, func(c *config.Config) { c.Auth.JWKSURL = idp.URL })
	mint := func(key *ecdsa.PrivateKey, kid string) string {
		tok, err := auth.Mint(key, kid, auth.Claims{Subject: "clerk-7", Consumer: "online-hall", Purpose: "administrative-approval"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	q := `{ me { consumer } }`
	oldTok := mint(oldKey, "idp-2026-11")
	if r := g.Post(oldTok, q, nil); r.Status != http.StatusOK {
		t.Fatalf("a token of the published key: %d %s", r.Status, r.Raw)
	}
	if r := g.Post(g.Token("online-hall"), q, nil); r.Status != http.StatusOK {
		t.Fatalf("the configured key keeps working beside the JWKS URL: %d", r.Status)
	}

	publish(newKey, "idp-2026-12")
	if r := g.Post(mint(newKey, "idp-2026-12"), q, nil); r.Status != http.StatusOK {
		t.Errorf("a token of the rotated-in key: %d %s", r.Status, r.Raw)
	}
	r := g.Post(oldTok, q, nil)
	if r.Status != http.StatusUnauthorized || len(r.Errors) == 0 || r.Errors[0].Extensions["reason"] != "unknown_key" {
		t.Errorf("a token of the rotated-out key: %d %s", r.Status, r.Raw)
	}
}
