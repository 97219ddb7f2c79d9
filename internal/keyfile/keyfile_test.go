package keyfile

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// A created key reads back as itself, from a file only its owner may read in a directory
// only its owner may enter, with no temporary file left beside it; a second Create does
// not replace it.
func TestCreateThenRead(t *testing.T) {
	needModes(t)
	dir := filepath.Join(t.TempDir(), "data", "keys") // does not exist yet
	path := filepath.Join(dir, "key.pem")
	created, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	read, err := Read(path)
	if err != nil || !read.Equal(created) {
		t.Fatalf("Read after Create: %v (same key: %v)", err, read.Equal(created))
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %04o", p, info.Mode().Perm(), err, want)
		}
	}
	if _, err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing key: %v, want fs.ErrExist", err)
	}
	if again, err := ReadOrCreate(path); err != nil || !again.Equal(created) {
		t.Errorf("ReadOrCreate of an existing key: %v (same key: %v)", err, again.Equal(created))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %v; want only the key (no temporary leftovers)", entries)
	}
}

// Of processes that start on a fresh data directory together, every one ends with the
// key that is on disk: none replaces another's.
func TestReadOrCreateConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	keys := make([]ed25519.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := ReadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	onDisk, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if !onDisk.Equal(k) {
			t.Errorf("caller %d holds a key that is not the one on disk", i)
		}
	}
}

// Every refusal names the file and its reason; a missing file is fs.ErrNotExist, which
// the callers that may create or skip the key rely on.
func TestReadRefuses(t *testing.T) {
	needModes(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	tests := []struct {
		name string
		data []byte // nil: no file
		mode os.FileMode
		want string
	}{
		{name: "missing", want: "no such file"},
		{name: "world-readable", mode: 0o644, want: "readable by others (mode 0644)"},
		{name: "group-readable", mode: 0o640, want: "readable by others (mode 0640)"},
		{name: "not PEM", data: []byte("not a key"), want: "not a PKCS#8 PEM private key"},
		{name: "a public key", data: pemOf("PUBLIC KEY", []byte{1}), want: "not a PKCS#8 PEM private key"},
		{name: "bad PKCS#8", data: pemOf("PRIVATE KEY", []byte("garbage")), want: "does not parse"},
		{name: "ECDSA", data: pemOf("PRIVATE KEY", ecDER), want: "holds an ECDSA key, not an Ed25519 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.pem")
			if tt.mode != 0 {
				if _, err := Create(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			key, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read = %v, %v; want an error naming %s and containing %q", key != nil, err, path, tt.want)
			}
			if missing := errors.Is(err, fs.ErrNotExist); missing != (tt.name == "missing") {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v: %v", missing, err)
			}
			if _, err := ReadOrCreate(path); tt.name != "missing" && err == nil {
				t.Errorf("ReadOrCreate replaced or accepted a refused key")
			}
		})
	}
}

// The public half is written beside the key for verifiers, repaired when deleted or
// stale, and readable by anyone.
func TestReadOrCreatePair(t *testing.T) {
	needModes(t)
	dir := t.TempDir()
	path, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub.pem")
	key, err := ReadOrCreatePair(path, pub)
	if err != nil {
		t.Fatal(err)
	}
	want := EncodePublic(key.Public().(ed25519.PublicKey))
	check := func(when string) {
		t.Helper()
		got, err := os.ReadFile(pub)
		info, serr := os.Stat(pub)
		if err != nil || serr != nil || string(got) != string(want) || info.Mode().Perm() != 0o644 {
			t.Errorf("%s: public file %q %v %v", when, got, err, serr)
		}
	}
	check("created")
	for when, damage := range map[string]func() error{
		"deleted": func() error { return os.Remove(pub) },
		"stale":   func() error { return os.WriteFile(pub, []byte("old"), 0o644) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		again, err := ReadOrCreatePair(path, pub)
		if err != nil || !again.Equal(key) {
			t.Fatalf("%s: %v", when, err)
		}
		check(when)
	}
}

// needModes skips a test of file modes where they are not enforced.
func needModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
}

// DecodePublic takes every Ed25519 "PUBLIC KEY" block in order, skips other blocks, and
// refuses another algorithm's key or a file without one.
func TestDecodePublic(t *testing.T) {
	a, _, _ := ed25519.GenerateKey(nil)
	b, _, _ := ed25519.GenerateKey(nil)
	other := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")})
	keys, err := DecodePublic(slices.Concat(EncodePublic(a), other, EncodePublic(b)))
	if err != nil || len(keys) != 2 || !a.Equal(keys[0]) || !b.Equal(keys[1]) {
		t.Fatalf("decoded %d keys, err %v; want a and b in order", len(keys), err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if _, err := DecodePublic(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err == nil {
		t.Error("an RSA public key was taken as an Ed25519 key")
	}
	if _, err := DecodePublic(other); err == nil {
		t.Error("a file without a public key decoded")
	}
}
