package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Names of the demo key files inside the data directory.
const (
	demoKeyFile    = "demo-signing-key.pem"
	demoPubKeyFile = "demo-signing-key.pub.pem"
)

// DemoPublicKeyFile is where LoadOrCreateDemoKey keeps the public half of the demo key in
// dir: the demo mode configures it as Config.KeyFiles.
func DemoPublicKeyFile(dir string) string { return filepath.Join(dir, demoPubKeyFile) }

// LoadOrCreateDemoKey returns the demo mode's signing key, creating it in dir on first use,
// so that a gateway and the token command pointed at the same data directory agree without
// any setup. The private key is PKCS#8 PEM with mode 0600, written to a temporary file and
// renamed so that a crash never leaves half a key; its public half is (re)written next to it
// with mode 0644. A key file that others can read, or that is not Ed25519, is refused rather
// than trusted: anyone who can read it can mint tokens for any consumer.
func LoadOrCreateDemoKey(dir string) (ed25519.PrivateKey, error) {
	return LoadOrCreateKey(dir, demoKeyFile, demoPubKeyFile)
}

// LoadOrCreateKey is LoadOrCreateDemoKey for another Ed25519 key of the data directory
// (the seal key, say), kept in its own files keyFile and pubFile under dir, with the
// same permissions and the same refusals.
func LoadOrCreateKey(dir, keyFile, pubFile string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: key directory: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	key, err := ReadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createDemoKey(dir, path)
	}
	if err != nil {
		return nil, err
	}
	if err := writeDemoPublicKey(dir, filepath.Join(dir, pubFile), key.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}
	return key, nil
}

// ReadKey reads an Ed25519 private key (PKCS#8 PEM) that only its owner may read; the
// error wraps fs.ErrNotExist when there is none.
func ReadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("auth: key %s is readable by others (mode %04o); run chmod 600 on it or delete it to create a new one", path, perm)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("auth: key %s is not a PKCS#8 PEM private key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: key %s: %w", path, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: key %s is a %T, not an Ed25519 key; delete it to create a new one", path, parsed)
	}
	return key, nil
}

// createDemoKey generates a new key and stores it at path.
func createDemoKey(dir, path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate demo key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode demo key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeAtomic(dir, path, data, 0o600); err != nil {
		return nil, fmt.Errorf("auth: write demo key: %w", err)
	}
	return key, nil
}

// writeDemoPublicKey writes the public key file unless it already holds exactly pub, so a
// deleted or stale public file is repaired and an intact one is left untouched.
func writeDemoPublicKey(dir, path string, pub ed25519.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("auth: encode demo public key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := writeAtomic(dir, path, data, 0o644); err != nil {
		return fmt.Errorf("auth: write demo public key: %w", err)
	}
	return nil
}

// writeAtomic writes data to path through a temporary file in dir and a rename, so readers
// see either no file or the whole file, never one with looser permissions than perm.
func writeAtomic(dir, path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*") // created 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
