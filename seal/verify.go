package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"pudong.gov.cn/gateway/internal/keyfile"
)

// Errors Verify returns; compare them with errors.Is.
var (
	ErrNoSeal       = errors.New("the answer carries no seal (extensions.seal)")
	ErrBadSignature = errors.New("the seal's signature does not match the answer: a value was changed, or the key is not the gateway's")
	ErrUnknownKey   = errors.New("the seal names a key that is not among the given public keys")
)

// Verified is what a valid seal attests.
type Verified struct {
	Attestation Attestation
	// Values lists every value of the sealed answer, one "path = value" line each, in
	// path order: exactly what the seal attests.
	Values []string
}

// Verify checks the seal of a saved answer (the response body as the gateway sent it,
// or the same JSON re-indented) against the gateway's seal public keys.
func Verify(answer []byte, keys ...ed25519.PublicKey) (*Verified, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("seal: the answer is not a JSON object: %w", err)
	}
	ext, _ := doc["extensions"].(map[string]any)
	sealObj, _ := ext[Extension].(map[string]any)
	if sealObj == nil {
		return nil, ErrNoSeal
	}
	jws, _ := sealObj["jws"].(string)
	delete(sealObj, "jws")
	unsigned, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	payload, err := Canonical(unsigned)
	if err != nil {
		return nil, err
	}
	if err := VerifyDetached(jws, payload, keys...); err != nil {
		return nil, err
	}

	v := &Verified{}
	ab, _ := json.Marshal(sealObj)
	if err := json.Unmarshal(ab, &v.Attestation); err != nil {
		return nil, fmt.Errorf("seal: the attestation does not decode: %w", err)
	}
	v.Attestation.JWS = jws
	delete(ext, Extension)
	flatten("", doc, &v.Values)
	sort.Strings(v.Values)
	return v, nil
}

// VerifyDetached checks a detached JWS made by the seal key over payload.
func VerifyDetached(jws string, payload []byte, keys ...ed25519.PublicKey) error {
	head, sig, ok := strings.Cut(jws, "..")
	if !ok || strings.Contains(sig, ".") {
		return fmt.Errorf("seal: the signature is not a detached JWS (header..signature)")
	}
	var h protectedHeader
	hb, err := base64.RawURLEncoding.DecodeString(head)
	if err == nil {
		err = json.Unmarshal(hb, &h)
	}
	if err != nil {
		return fmt.Errorf("seal: the JWS header does not decode: %w", err)
	}
	if h.Alg != "EdDSA" {
		return fmt.Errorf("seal: the JWS algorithm is %q, seals use EdDSA", h.Alg)
	}
	sb, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("seal: the JWS signature does not decode: %w", err)
	}
	var key ed25519.PublicKey
	for _, k := range keys {
		if KeyID(k) == h.Kid {
			key = k
		}
	}
	if key == nil {
		return fmt.Errorf("%w (kid %s)", ErrUnknownKey, h.Kid)
	}
	if !ed25519.Verify(key, []byte(head+"."+base64.RawURLEncoding.EncodeToString(payload)), sb) {
		return ErrBadSignature
	}
	return nil
}

// flatten writes one "path = value" line per scalar of v.
func flatten(path string, v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(path, k), e, out)
		}
	case []any:
		for i, e := range x {
			flatten(join(path, strconv.Itoa(i)), e, out)
		}
	default:
		b, _ := json.Marshal(x)
		*out = append(*out, path+" = "+string(b))
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key.
func thumbprint(pub ed25519.PublicKey) string {
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ReadPublicKey reads an Ed25519 public key in PEM (PKIX), as the demo writes
// PublicKeyFile; of a file with several, the first.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: public key: %w", err)
	}
	keys, err := keyfile.DecodePublic(data)
	if err != nil {
		return nil, fmt.Errorf("seal: %s: %w", path, err)
	}
	return keys[0], nil
}
