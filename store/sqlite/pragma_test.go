package sqlite

import (
	"path/filepath"
	"testing"
)

// TestWriterIsDurable checks the per-connection settings AppendAudit's promise rests on:
// a commit is on disk when it returns (synchronous=FULL, 2), foreign keys hold, and no
// commit stops to checkpoint the log (wal_autocheckpoint=0; the store checkpoints in the
// background).
func TestWriterIsDurable(t *testing.T) {
	w, r, err := openDBs(filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for pragma, want := range map[string]int{"synchronous": 2, "foreign_keys": 1, "wal_autocheckpoint": 0} {
		var got int
		if err := w.QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writer connection: PRAGMA %s = %d, want %d", pragma, got, want)
		}
	}
}
