// Package keyfile reads and writes the gateway's Ed25519 private keys: the demo's token
// key, the seal key (docs/sealed-answers.md) and the audit signing key (docs/audit.md,
// "The signing key"). Each is PKCS #8 in PEM, in a file only its owner may read: whoever
// reads it can sign as the gateway, so a file others can read is refused rather than
// used (docs/SECURITY.md, T2).
package keyfile

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"pudong.gov.cn/gateway/internal/fsync"
)

// maxSize bounds what Read reads: an Ed25519 key in PEM is about 120 bytes.
const maxSize = 64 << 10

// Read reads the Ed25519 private key at path. The error names the file and says what to
// do; it wraps os.ErrNotExist when there is no file.
func Read(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	defer f.Close()
	// The mode of the file opened, not of whatever the path names a moment later.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("key file %s is readable by others (mode %04o), and whoever reads it can sign as the gateway: "+
			"run chmod 600 on it, or replace the key", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return parse(path, data)
}

// parse decodes a PEM "PRIVATE KEY" block holding a PKCS #8 Ed25519 key.
func parse(path string, data []byte) (ed25519.PrivateKey, error) {
	const howto = "write one with `openssl genpkey -algorithm ed25519 -out KEY.pem`"
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key file %s is not a PKCS#8 PEM private key (a \"PRIVATE KEY\" block); %s", path, howto)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: its PRIVATE KEY block does not parse (%v); %s", path, err, howto)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s holds %s, not an Ed25519 key; %s", path, kind(parsed), howto)
	}
	return key, nil
}

// kind names the sort of key a PKCS #8 block held.
func kind(k any) string {
	switch k.(type) {
	case *rsa.PrivateKey:
		return "an RSA key"
	case *ecdsa.PrivateKey:
		return "an ECDSA key"
	case *ecdh.PrivateKey:
		return "an X25519 key"
	}
	return fmt.Sprintf("a %T", k)
}

// Create generates a key and writes it to path with mode 0600, creating its directory
// (mode 0700) if needed. The file appears whole or not at all, never with looser
// permissions, and an existing file is never replaced: of two processes creating the
// same key, one gets an error wrapping os.ErrExist.
func Create(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key file %s: generate: %w", path, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("key file %s: encode: %w", path, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := write(path, data, 0o600, false); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// ReadOrCreate reads the key at path, creating it first when there is none.
func ReadOrCreate(path string) (ed25519.PrivateKey, error) {
	key, err := Read(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	key, err = Create(path)
	if errors.Is(err, os.ErrExist) { // another process created it meanwhile
		return Read(path)
	}
	return key, err
}

// ReadOrCreatePair is ReadOrCreate that also keeps the key's public half in pubPath
// (EncodePublic, mode 0644) for whoever verifies what the key signs: the file is
// rewritten when it is missing or holds another key, and left alone otherwise.
func ReadOrCreatePair(path, pubPath string) (ed25519.PrivateKey, error) {
	key, err := ReadOrCreate(path)
	if err != nil {
		return nil, err
	}
	if err := WritePublic(pubPath, key.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}
	return key, nil
}

// WritePublic keeps pub in path (EncodePublic, mode 0644): the file is rewritten, whole
// or not at all, when it is missing or holds anything else (another key, or a write a
// crash cut short), and left alone otherwise.
func WritePublic(path string, pub ed25519.PublicKey) error {
	data := EncodePublic(pub)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := write(path, data, 0o644, true); err != nil {
		return fmt.Errorf("public key file %s: %w", path, err)
	}
	return nil
}

// DecodePublic returns the Ed25519 keys of every PEM "PUBLIC KEY" block (PKIX) in data,
// in order; other blocks are skipped. At least one is required, and every one must be
// Ed25519.
func DecodePublic(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an Ed25519 public key", k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New(`no PEM "PUBLIC KEY" block`)
	}
	return keys, nil
}

// EncodePublic is pub as a PEM "PUBLIC KEY" (PKIX), the form public keys are read in.
func EncodePublic(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// write puts data at path through a temporary file in the same directory, so that
// readers see either no file or the whole of it with mode perm. With replace an existing
// file is replaced; without, the error wraps os.ErrExist.
func write(path string, data []byte, perm os.FileMode, replace bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone once renamed or linked; a leftover otherwise
	_, err = tmp.Write(data)
	if err = errors.Join(err, tmp.Chmod(perm), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path) // fails with os.ErrExist rather than replace
	}
	if err != nil {
		return err
	}
	// The key is on the disk; its name is once the directory is. A key lost in a crash
	// after it signed checkpoints or sealed answers would leave them unverifiable.
	return fsync.Dir(dir)
}
