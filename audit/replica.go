package audit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/internal/fsync"
)

// replicaFile is the file in the data directory that keeps a replica's audit chain.
const replicaFile = "replica-id"

// ReplicaChain returns the audit chain of the replica whose data directory is dir: the
// name kept in dir/replica-id, which the first call creates ("R-" and 10 random base-32
// characters). The name is kept, not derived from the host, so a restarted replica goes
// on with its own chain, and a copied data directory is the only way to share one.
func ReplicaChain(dir string) (string, error) {
	path := filepath.Join(dir, replicaFile)
	name, err := readChain(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return name, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("audit chain: %w", err)
	}
	// Written whole to a file of its own, then linked into place: a link either
	// appears complete or fails because another process's name is already there.
	f, err := os.CreateTemp(dir, replicaFile+".*")
	if err != nil {
		return "", fmt.Errorf("audit chain: %w", err)
	}
	defer os.Remove(f.Name())
	name = "R-" + rand.Text()[:10]
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if err == nil {
		// The link is kept only once the directory is on the disk: a crash must not
		// start a second chain for a replica whose events are already in the first.
		err = fsync.Dir(dir)
	}
	if errors.Is(err, fs.ErrExist) {
		// Another process on the same directory was first: both use its name.
		return readChain(path)
	}
	if err != nil {
		return "", fmt.Errorf("audit chain: write %s: %w", path, err)
	}
	return name, nil
}

func readChain(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("audit chain: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if !gateway.ValidChain(name) {
		return "", fmt.Errorf("audit chain: %s holds %q, not a chain name (letters, digits, '.', '_', '-'; delete the file to make a new one)", path, name)
	}
	return name, nil
}
