package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"

	"github.com/MicahParks/jwkset"
)

// minRSABits is the smallest RSA modulus accepted: shorter keys are factorable in practice.
const minRSABits = 2048

// verifyKey is one configured public key and the algorithms a token may use with it.
type verifyKey struct {
	kid  string
	pub  crypto.PublicKey
	algs []string
}

// newVerifyKey checks that pub is a key type and size the gateway accepts and derives its
// algorithms from it, so that no token can pick an algorithm the key was not meant for.
// A non-empty alg (a JWK's "alg") narrows the set to that one algorithm.
func newVerifyKey(kid string, pub crypto.PublicKey, alg string) (*verifyKey, error) {
	var algs []string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		default:
			return nil, fmt.Errorf("ECDSA curve %s is not accepted (use P-256 or P-384)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short (at least %d)", k.N.BitLen(), minRSABits)
		}
		algs = []string{"RS256", "PS256"}
	default:
		return nil, fmt.Errorf("key type %T is not accepted (use Ed25519, ECDSA or RSA)", pub)
	}
	if alg != "" {
		if !slices.Contains(algs, alg) {
			return nil, fmt.Errorf("algorithm %q does not fit a %T key", alg, pub)
		}
		algs = []string{alg}
	}
	if kid == "" {
		var err error
		if kid, err = KeyID(pub); err != nil {
			return nil, err
		}
	}
	return &verifyKey{kid: kid, pub: pub, algs: algs}, nil
}

// loadPEMKey reads one public key from a PEM file. Its kid is the key's RFC 7638 thumbprint
// (see KeyID), so it does not change when the file is renamed or moved. A file holding a
// private key is refused: verification keys are public, and a private key in the gateway's
// configuration is a leak waiting to happen.
func loadPEMKey(path string) (*verifyKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key file %s: no PEM block", path)
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, fmt.Errorf("key file %s holds a private key; configure its public key instead", path)
	default:
		return nil, fmt.Errorf("key file %s: PEM block %q is not a public key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k, err := newVerifyKey("", pub, "")
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// loadJWKS reads the public keys of a JWK Set file. Keys carry their own kid (the
// thumbprint when they have none) and, if they name one, their own alg. Encryption keys
// (use "enc") are skipped; symmetric keys and keys with private material are refused,
// because either would mean a secret sits in the gateway's configuration.
func loadJWKS(path string) ([]*verifyKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS file: %w", err)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	var keys []*verifyKey
	for i, m := range set.Keys {
		if m.USE == jwkset.UseEnc {
			continue
		}
		if m.KTY == jwkset.KtyOct {
			return nil, fmt.Errorf("JWKS file %s: key %d is symmetric (oct); only public keys are accepted", path, i)
		}
		if m.D != "" || m.P != "" || m.Q != "" {
			return nil, fmt.Errorf("JWKS file %s: key %d carries private key material; publish only public keys", path, i)
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			return nil, fmt.Errorf("JWKS file %s: key %d: %w", path, i, err)
		}
		k, err := newVerifyKey(m.KID, jwk.Key(), string(m.ALG))
		if err != nil {
			return nil, fmt.Errorf("JWKS file %s: key %d: %w", path, i, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS file %s: no signature keys", path)
	}
	return keys, nil
}

// KeyID is the RFC 7638 JWK thumbprint of a public key (base64url SHA-256 of its canonical
// JWK members). It is the kid the Verifier gives a key loaded from a PEM file, so whoever
// signs with the matching private key can name it in the token header without sharing any
// configuration but the key itself.
func KeyID(pub crypto.PublicKey) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var canonical string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		canonical = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, b64(k))
	case *ecdsa.PublicKey:
		point, err := k.Bytes() // 0x04 || X || Y, coordinates padded to the curve size
		if err != nil {
			return "", fmt.Errorf("key id: %w", err)
		}
		n := (len(point) - 1) / 2
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`,
			k.Curve.Params().Name, b64(point[1:1+n]), b64(point[1+n:]))
	case *rsa.PublicKey:
		e := big.NewInt(int64(k.E)).Bytes()
		canonical = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, b64(e), b64(k.N.Bytes()))
	default:
		return "", errors.New("key id: unsupported key type")
	}
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:]), nil
}
