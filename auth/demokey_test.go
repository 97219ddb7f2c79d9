package auth

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLoadOrCreateDemoKey checks the first run creates private files, later runs get the
// same key back, and the public file verifies what the key mints.
func TestLoadOrCreateDemoKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
	dir := filepath.Join(t.TempDir(), "data", "keys") // does not exist yet

	first, err := LoadOrCreateDemoKey(dir)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	modes := []struct {
		path string
		want os.FileMode
	}{
		{path: dir, want: 0o700},
		{path: filepath.Join(dir, "demo-signing-key.pem"), want: 0o600},
		{path: DemoPublicKeyFile(dir), want: 0o644},
	}
	for _, m := range modes {
		info, err := os.Stat(m.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != m.want {
			t.Errorf("%s: mode %04o, want %04o", m.path, got, m.want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("dir holds %v; want only the two key files (no temporary leftovers)", entries)
	}

	second, err := LoadOrCreateDemoKey(dir)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if !first.Equal(second) {
		t.Fatal("second call returned another key")
	}

	if err := os.Remove(DemoPublicKeyFile(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateDemoKey(dir); err != nil {
		t.Fatalf("after deleting the public file: %v", err)
	}

	v, err := NewVerifier(Config{Issuer: DemoIssuer, Audience: DemoAudience,
		KeyFiles: []string{DemoPublicKeyFile(dir)}}, knownConsumers)
	if err != nil {
		t.Fatalf("verifier from the demo public key: %v", err)
	}
	tok, err := Mint(second, kidOf(t, second.Public()), Claims{Subject: "dev", Consumer: "online-hall"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("demo token refused: %v", err)
	}
}

// TestLoadOrCreateDemoKeyRefuses checks that a key file anyone else could read or that
// is not what the demo mode wrote is refused rather than used.
func TestLoadOrCreateDemoKeyRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
	ecDER := must[[]byte](t)(x509.MarshalPKCS8PrivateKey(genEC(t, elliptic.P256())))
	tests := []struct {
		name  string
		setup func(t *testing.T, keyFile string)
		want  string
	}{
		{name: "world-readable", want: "readable by others", setup: func(t *testing.T, keyFile string) {
			if err := os.Chmod(keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "group-readable", want: "readable by others", setup: func(t *testing.T, keyFile string) {
			if err := os.Chmod(keyFile, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "not Ed25519", want: "not an Ed25519 key", setup: func(t *testing.T, keyFile string) {
			data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
			if err := os.WriteFile(keyFile, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "not PEM", want: "not a PKCS#8 PEM", setup: func(t *testing.T, keyFile string) {
			if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateDemoKey(dir); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, filepath.Join(dir, "demo-signing-key.pem"))
			key, err := LoadOrCreateDemoKey(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadOrCreateDemoKey = %v, %v; want error containing %q", key != nil, err, tt.want)
			}
		})
	}
}
