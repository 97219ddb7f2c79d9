package auth

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"pudong.gov.cn/gateway/internal/keyfile"
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
// any setup. The private key is PKCS#8 PEM with mode 0600, written whole or not at all;
// its public half is (re)written next to it with mode 0644 (keyfile.ReadOrCreatePair). A
// key file that others can read, or that is not Ed25519, is refused rather than trusted:
// anyone who can read it can mint tokens for any consumer.
func LoadOrCreateDemoKey(dir string) (ed25519.PrivateKey, error) {
	key, err := keyfile.ReadOrCreatePair(filepath.Join(dir, demoKeyFile), DemoPublicKeyFile(dir))
	if err != nil {
		return nil, fmt.Errorf("auth: demo key: %w", err)
	}
	return key, nil
}
