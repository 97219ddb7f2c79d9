package audit_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
)

// TestReplicaChainIsKept: the first call creates the replica's chain name in the data
// directory, later calls (a restart) and concurrent ones (two processes starting on one
// directory) return the same name.
func TestReplicaChainIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	names := make([]string, 8)
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() {
			n, err := audit.ReplicaChain(dir)
			if err != nil {
				t.Error(err)
			}
			names[i] = n
		})
	}
	wg.Wait()
	if !gateway.ValidChain(names[0]) {
		t.Fatalf("ReplicaChain = %q, not a valid chain name", names[0])
	}
	for _, n := range names {
		if n != names[0] {
			t.Fatalf("concurrent calls on one directory returned %v", names)
		}
	}
	again, err := audit.ReplicaChain(dir)
	if err != nil || again != names[0] {
		t.Errorf("after a restart ReplicaChain = %q, %v; want %q", again, err, names[0])
	}
	other, err := audit.ReplicaChain(t.TempDir())
	if err != nil || other == names[0] {
		t.Errorf("another data directory got %q, %v; want a chain of its own", other, err)
	}
}

// TestReplicaChainRejectsAnEditedFile: a file that does not hold a chain name is an
// error that says what to do, not a silent new chain.
func TestReplicaChainRejectsAnEditedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "replica-id"), []byte("two words\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := audit.ReplicaChain(dir); err == nil {
		t.Errorf("ReplicaChain accepted %q", n)
	}
}

// TestRecorderStampsItsChain: events go to the Recorder's chain whatever the caller set.
func TestRecorderStampsItsChain(t *testing.T) {
	s, _ := newStore(t)
	r := audit.NewRecorder(s, audit.Options{Chain: "R-TESTCHAIN1"}, slog.New(slog.DiscardHandler))
	evs := events("stamped", 3)
	evs[1].Chain = "someone-else"
	if err := r.Record(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range all(t, s) {
		if e.Chain != "R-TESTCHAIN1" {
			t.Errorf("event %d is on chain %q, want the Recorder's", e.Seq, e.Chain)
		}
	}
	if evs[1].Chain != "someone-else" {
		t.Error("Record modified the caller's events")
	}
}
