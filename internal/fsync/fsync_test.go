package fsync

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Dir(dir); err != nil {
		t.Errorf("syncing a directory: %v", err)
	}
	if err := Dir(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory synced without an error")
	}
}
