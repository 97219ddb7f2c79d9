package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/store/sqlstore"
	"pudong.gov.cn/gateway/store/storetest"
)

// anchored is a chain of ten events (appends of 3, 5 and 2) with a checkpoint after each
// append (seq 3, 8 and 10), written to a primary and a mirror sink.
type anchored struct {
	s              *sqlstore.Store
	db             *sql.DB
	dir, mirror    string
	key            *audit.Signer
	keys           audit.KeySet
	checkpointFile string
}

func newAnchored(t *testing.T) *anchored {
	t.Helper()
	s, db := emptyChain(t)
	root := t.TempDir()
	a := &anchored{s: s, db: db, dir: filepath.Join(root, "checkpoints"), mirror: filepath.Join(root, "mirror")}
	var err error
	if a.key, err = audit.LoadSigningKey(filepath.Join(root, "keys", "audit-signing.pem"), true); err != nil {
		t.Fatal(err)
	}
	a.keys = audit.KeySet{}
	a.keys.Add(a.key.Public())
	a.checkpointFile = filepath.Join(a.dir, audit.ChainFile(""))
	cp := a.checkpointer(t, a.key)
	for _, n := range []int{3, 5, 2} {
		if err := s.AppendAudit(context.Background(), events(fmt.Sprint("append-", n), n)); err != nil {
			t.Fatal(err)
		}
		if err := cp.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := cp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *anchored) checkpointer(t *testing.T, key *audit.Signer) *audit.Checkpointer {
	t.Helper()
	cp, err := audit.NewCheckpointer(a.s, audit.CheckpointOptions{Dir: a.dir, Mirror: a.mirror, Signer: key, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close(context.Background()) })
	return cp
}

func (a *anchored) verify(t *testing.T, keys audit.KeySet) audit.Report {
	t.Helper()
	anchors, err := audit.ReadAnchors(keys, audit.Sink{Dir: a.dir, Mirror: a.mirror})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyAnchored(context.Background(), a.s, anchors)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// emptyChain is a store with a second handle on its file for tampering.
func emptyChain(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	s, path := newStore(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

// rebuild replaces the stored chain with the events edit returns, renumbered and
// re-hashed with hash: what an attacker who knows the documented format can do.
func rebuild(t *testing.T, s *sqlstore.Store, db *sql.DB, edit func([]gateway.AuditEvent) []gateway.AuditEvent, hash func(i int, e *gateway.AuditEvent) string) {
	t.Helper()
	var evs []gateway.AuditEvent
	if err := s.ScanAudit(context.Background(), func(e gateway.AuditEvent) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	evs = edit(evs)
	prev := ""
	for i := range evs {
		e := &evs[i]
		e.Seq, e.PrevHash = int64(i+1), prev
		e.Hash = hash(i, e)
		prev = e.Hash
	}
	storetest.Tamper(t, db, false, "", func([]gateway.AuditEvent) []gateway.AuditEvent { return evs })
}

func v2(_ int, e *gateway.AuditEvent) string { return e.ComputeHash() }

func TestCheckpointedChainVerifies(t *testing.T) {
	a := newAnchored(t)
	rep := a.verify(t, a.keys)
	if !rep.OK() || len(rep.Chains) != 1 {
		t.Fatalf("intact anchored chain: %+v, broken %v", rep, rep.Broken)
	}
	c := rep.Chains[0]
	if c.Checkpoint == nil || c.Checkpoint.Seq != 10 || c.Uncovered != 0 {
		t.Errorf("chain report %+v: want the checkpoint at seq 10 covering everything", c)
	}
	// The shutdown checkpoint adds nothing when the head has not moved.
	lines, _ := os.ReadFile(a.checkpointFile)
	if n := bytes.Count(lines, []byte("\n")); n != 3 {
		t.Errorf("checkpoint file has %d lines, want 3 (one per head)", n)
	}
}

func TestCheckpointsDetect(t *testing.T) {
	for _, tc := range checkpointTampers {
		t.Run(tc.name, func(t *testing.T) {
			a := newAnchored(t)
			tc.tamper(t, a)
			rep := a.verify(t, a.keys)
			if rep.OK() {
				t.Fatalf("verification found nothing: %+v", rep)
			}
			if b := rep.Broken; b.Kind != tc.want.Kind || (tc.want.Seq != 0 && b.Seq != tc.want.Seq) {
				t.Errorf("found %v, want %s at seq %d", b, tc.want.Kind, tc.want.Seq)
			}
		})
	}
}

// checkpointTampers are changes to an anchored chain of 10 events (checkpoints
// at seq 3, 8 and 10) and what verifying it must find.
var checkpointTampers = []struct {
	name   string
	tamper func(t *testing.T, a *anchored)
	want   audit.Break // Seq is checked when Kind is
}{
	{
		// A shorter intact chain: only the signed head at seq 10 shows it was longer.
		name:   "truncation",
		tamper: func(t *testing.T, a *anchored) { truncate(t, a.db, 8) },
		want:   audit.Break{Seq: 9, Kind: audit.Truncated},
	},
	{
		name:   "truncation to nothing",
		tamper: func(t *testing.T, a *anchored) { truncate(t, a.db, 0) },
		want:   audit.Break{Seq: 1, Kind: audit.Truncated},
	},
	{
		// Everything after the checkpoint at seq 3 is unproven.
		name:   "re-hashing",
		tamper: rehashWithoutEvent5,
		want:   audit.Break{Seq: 4, Kind: audit.Rehashed},
	},
	{
		name:   "forged checkpoint",
		tamper: forgeHeadAt8,
		want:   audit.Break{Seq: 8, Kind: audit.ForgedCheckpoint},
	},
	{
		name:   "checkpoint signed by an untrusted key",
		tamper: resignWithUntrustedKey,
		want:   audit.Break{Seq: 8, Kind: audit.ForgedCheckpoint},
	},
	{
		name:   "missing checkpoint files",
		tamper: removeCheckpointFiles,
		want:   audit.Break{Seq: 1, Kind: audit.MissingCheckpoint},
	},
	{
		// The mirror still anchors the chain, and the missing file is reported.
		name:   "checkpoint file missing in one sink",
		tamper: func(t *testing.T, a *anchored) { os.Remove(a.checkpointFile) },
		want:   audit.Break{Kind: audit.MissingCheckpoint},
	},
	{
		name: "checkpoint removed from the middle of the file",
		tamper: func(t *testing.T, a *anchored) {
			b, _ := os.ReadFile(a.checkpointFile)
			lines := strings.SplitAfter(string(b), "\n")
			os.WriteFile(a.checkpointFile, []byte(lines[0]+lines[2]), 0o600)
		},
		want: audit.Break{Seq: 10, Kind: audit.CheckpointGap},
	},
}

// rehashWithoutEvent5 deletes event 5 and re-hashes the chain with the
// documented format: the chain is valid-looking, Verify without checkpoints
// finds nothing, and the checkpoint at seq 8 no longer matches.
func rehashWithoutEvent5(t *testing.T, a *anchored) {
	rebuild(t, a.s, a.db, func(evs []gateway.AuditEvent) []gateway.AuditEvent {
		return append(evs[:4:4], evs[5:]...)
	}, v2)
	if rep, err := audit.Verify(context.Background(), a.s); err != nil || !rep.OK() {
		t.Fatalf("the rebuilt chain does not look valid on its own: %v %v", rep.Broken, err)
	}
}

// forgeHeadAt8 is someone who can write the files but does not hold the key:
// they cut the tail and move the signed head back to seq 8.
func forgeHeadAt8(t *testing.T, a *anchored) {
	truncate(t, a.db, 8)
	for _, path := range []string{a.checkpointFile, filepath.Join(a.mirror, audit.ChainFile(""))} {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var cp audit.Checkpoint
		json.Unmarshal([]byte(lines[2]), &cp)
		cp.Seq, cp.Hash = 8, "forged"
		out, _ := json.Marshal(cp)
		lines[2] = string(out)
		os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	}
}

// resignWithUntrustedKey cuts the tail and replaces the checkpoints with ones
// signed by a key the verifier does not trust.
func resignWithUntrustedKey(t *testing.T, a *anchored) {
	truncate(t, a.db, 8)
	removeCheckpointFiles(t, a)
	_, k, _ := ed25519.GenerateKey(nil)
	a.checkpointer(t, audit.NewSigner(k)).Checkpoint(context.Background())
}

// removeCheckpointFiles removes the checkpoints from both sinks.
func removeCheckpointFiles(t *testing.T, a *anchored) {
	os.Remove(a.checkpointFile)
	os.Remove(filepath.Join(a.mirror, audit.ChainFile("")))
}

// A rotated key: the checkpoints of the old key still verify while it stays in the
// trusted set (docs/audit.md), and are reported as forged once it is dropped.
func TestCheckpointsAcrossAKeyRotation(t *testing.T) {
	a := newAnchored(t)
	_, k, _ := ed25519.GenerateKey(nil)
	next := audit.NewSigner(k)
	cp := a.checkpointer(t, next)
	if err := a.s.AppendAudit(context.Background(), events("after-rotation", 4)); err != nil {
		t.Fatal(err)
	}
	if err := cp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	both := audit.KeySet{}
	both.Add(a.key.Public())
	both.Add(next.Public())
	if rep := a.verify(t, both); !rep.OK() || rep.Chains[0].Checkpoint.Seq != 14 || rep.Chains[0].Checkpoint.KeyID != next.KeyID() {
		t.Errorf("with both keys: %+v, broken %v", rep.Chains, rep.Broken)
	}
	onlyNew := audit.KeySet{}
	onlyNew.Add(next.Public())
	if rep := a.verify(t, onlyNew); rep.OK() || rep.Broken.Kind != audit.ForgedCheckpoint {
		t.Errorf("without the old key: %v, want its checkpoints reported", rep.Broken)
	}
}

// A checkpoint line a crash cut short (power lost during its write) once stayed at the
// end of the file, and the next start appended its checkpoints to it: the torn line and
// the next checkpoint read as one unreadable line, and `gateway audit verify` reported
// the trail BROKEN for good. The next start now cuts the torn line off (keeping it
// beside the file), and the trail verifies with the checkpoints written after it.
func TestTornCheckpointLineIsCutAtStart(t *testing.T) {
	a := newAnchored(t)
	for _, path := range []string{a.checkpointFile, filepath.Join(a.mirror, audit.ChainFile(""))} {
		lines, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		last := lines[bytes.LastIndexByte(lines[:len(lines)-1], '\n')+1:]
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(last[:len(last)-1]) // a whole checkpoint but its newline: torn all the same
		f.Close()
	}
	cp := a.checkpointer(t, a.key)
	if err := a.s.AppendAudit(context.Background(), events("after the crash", 2)); err != nil {
		t.Fatal(err)
	}
	if err := cp.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := cp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := a.verify(t, a.keys)
	if !rep.OK() || rep.Chains[0].Checkpoint == nil || rep.Chains[0].Checkpoint.Seq != 12 {
		t.Fatalf("after a torn checkpoint line: %+v, broken %v", rep, rep.Broken)
	}
	if kept, _ := filepath.Glob(a.checkpointFile + ".damaged-*"); len(kept) != 1 {
		t.Errorf("the torn line kept beside the file: %v", kept)
	}
}

// `audit verify` run between a crash that tore a checkpoint line and the next start (or
// while a checkpoint is being written) reported a forged checkpoint. An incomplete last
// line is now a note; an unreadable line with its newline is still a finding.
func TestVerifyNotesAnIncompleteLastCheckpointLine(t *testing.T) {
	a := newAnchored(t)
	appendTo := func(path, text string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(a.checkpointFile, `{"chain":"","seq":13,"ha`)
	rep := a.verify(t, a.keys)
	if !rep.OK() || len(rep.Findings) != 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "incomplete") {
		t.Fatalf("an incomplete last line: findings %v, notes %q; want no finding and one note", rep.Findings, rep.Notes)
	}
	if rep.Chains[0].Checkpoint == nil || rep.Chains[0].Checkpoint.Seq != 10 {
		t.Errorf("the checkpoints before it no longer anchor the chain: %+v", rep.Chains)
	}
	appendTo(a.checkpointFile, "\n")
	rep = a.verify(t, a.keys)
	if len(rep.Notes) != 0 || len(rep.Findings) != 1 || rep.Findings[0].Kind != audit.ForgedCheckpoint {
		t.Fatalf("an unreadable whole line: findings %v, notes %q; want it found as forged", rep.Findings, rep.Notes)
	}
}

// A published key file a crash cut short (os.WriteFile is not atomic) was left as it
// was at every later start, since it existed, and `gateway audit verify` then refused
// to run: LoadKeys cannot read it. PublishKey now writes the key whole or not at all,
// and writes again a file that holds anything else.
func TestTornPublishedKeyIsWrittenAgain(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(nil)
	path := filepath.Join(dir, "keys", audit.KeyID(pub)+".pem")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	pem := audit.EncodePublicKey(pub)
	if err := os.WriteFile(path, pem[:len(pem)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := audit.PublishKey(dir, pub); err != nil {
		t.Fatal(err)
	}
	keys, err := audit.LoadKeys(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatalf("the published keys after a torn write: %v", err)
	}
	if _, ok := keys[audit.KeyID(pub)]; !ok || len(keys) != 1 {
		t.Errorf("published keys %v, want %s", keys, audit.KeyID(pub))
	}
}

func TestCheckpointerTriggers(t *testing.T) {
	s, _ := emptyChain(t)
	_, k, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	cp, err := audit.NewCheckpointer(s, audit.CheckpointOptions{Dir: dir, Signer: audit.NewSigner(k), Every: 5, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close(context.Background())
	if err := s.AppendAudit(context.Background(), events("a", 5)); err != nil {
		t.Fatal(err)
	}
	cp.Observe(4)
	cp.Observe(1) // Every reached: the loop writes one now, not in an hour
	deadline := time.Now().Add(5 * time.Second)
	for cp.Written() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint 5 s after Every events")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Interval: a checkpoint arrives without any Observe.
	cp2, err := audit.NewCheckpointer(s, audit.CheckpointOptions{Dir: t.TempDir(), Signer: audit.NewSigner(k), Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cp2.Close(context.Background())
	for cp2.Written() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint 5 s after start with a 20 ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVerifyAcceptsV1EventsOnlyBeforeV2(t *testing.T) {
	s, db := emptyChain(t)
	if err := s.AppendAudit(context.Background(), events("a", 10)); err != nil {
		t.Fatal(err)
	}
	v1 := func(_ int, e *gateway.AuditEvent) string { return e.ComputeHashV1() }
	rebuild(t, s, db, func(e []gateway.AuditEvent) []gateway.AuditEvent { return e }, v1)
	if rep, _ := audit.Verify(context.Background(), s); !rep.OK() {
		t.Errorf("a chain written in format v1: %v", rep.Broken)
	}
	rebuild(t, s, db, func(e []gateway.AuditEvent) []gateway.AuditEvent { return e }, func(i int, e *gateway.AuditEvent) string {
		if i < 5 {
			return e.ComputeHashV1()
		}
		return e.ComputeHash()
	})
	if rep, _ := audit.Verify(context.Background(), s); !rep.OK() {
		t.Errorf("v1 events then v2 events (an upgrade): %v", rep.Broken)
	}
	rebuild(t, s, db, func(e []gateway.AuditEvent) []gateway.AuditEvent { return e }, func(i int, e *gateway.AuditEvent) string {
		if i < 5 {
			return e.ComputeHash()
		}
		return e.ComputeHashV1()
	})
	if rep, _ := audit.Verify(context.Background(), s); rep.OK() || rep.Broken.Seq != 6 || rep.Broken.Kind != audit.HashMismatch {
		t.Errorf("a v1 event after v2 events: %v, want a hash mismatch at seq 6", rep.Broken)
	}
}

func TestExportedSliceVerifiesWithItsKeyAlone(t *testing.T) {
	a := newAnchored(t)
	anchors, err := audit.ReadAnchors(a.keys, audit.Sink{Dir: a.dir})
	if err != nil {
		t.Fatal(err)
	}
	// The first three seconds hold events 1 to 3 (first append: the checkpoint at seq 3
	// ends the slice) and 4 to 6 (second append: the slice runs on to seq 8).
	from, to := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 27, 10, 0, 3, 0, time.UTC)
	sl, err := audit.Export(context.Background(), a.s, anchors, a.keys, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(sl.PublicKeys) != 1 || len(sl.Checkpoints) == 0 {
		t.Fatalf("slice: %d keys, %d checkpoints", len(sl.PublicKeys), len(sl.Checkpoints))
	}
	// Round trip through JSON: the inspector gets a file.
	b, _ := json.Marshal(sl)
	var got audit.Slice
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifySlice(context.Background(), &got, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("exported slice: %v %v", rep.Broken, err)
	}
	if rep.Checked == 0 || got.Events[len(got.Events)-1].Seq != got.Checkpoints[len(got.Checkpoints)-1].Seq {
		t.Errorf("slice of %d events ends at seq %d, checkpoints %+v", rep.Checked, got.Events[len(got.Events)-1].Seq, got.Checkpoints)
	}

	// An event edited in the slice, its hash and links recomputed to the end: the
	// signed checkpoint at the end no longer matches.
	bad := got
	bad.Events = append([]gateway.AuditEvent(nil), got.Events...)
	bad.Events[0].Subject = "310115199001010029"
	for i := range bad.Events {
		if i > 0 {
			bad.Events[i].PrevHash = bad.Events[i-1].Hash
		}
		bad.Events[i].Hash = bad.Events[i].ComputeHash()
	}
	if rep, _ := audit.VerifySlice(context.Background(), &bad, nil); rep.OK() || rep.Broken.Kind != audit.Rehashed {
		t.Errorf("edited slice: %v, want rehashed", rep.Broken)
	}
	// A slice whose key is not the trusted one fails.
	other := audit.KeySet{}
	_, k, _ := ed25519.GenerateKey(nil)
	other.Add(k.Public().(ed25519.PublicKey))
	if rep, _ := audit.VerifySlice(context.Background(), &got, other); rep.OK() {
		t.Error("slice verified against a trusted set without its key")
	}
	// Events after the last checkpoint cannot be exported yet.
	if err := a.s.AppendAudit(context.Background(), events("late", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Export(context.Background(), a.s, anchors, a.keys, time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)); !errors.Is(err, audit.ErrNotCovered) {
		t.Errorf("export past the last checkpoint: %v, want ErrNotCovered", err)
	}
}

func TestSigningKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "signing-key.pem")
	if _, err := audit.LoadSigningKey(path, false); err == nil {
		t.Error("a missing key without create: no error")
	}
	k1, err := audit.LoadSigningKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := audit.LoadSigningKey(path, true)
	if err != nil || k2.KeyID() != k1.KeyID() {
		t.Errorf("reloading the key: %v, id %s then %s", err, k1.KeyID(), k2.KeyID())
	}
	os.Chmod(path, 0o644)
	if _, err := audit.LoadSigningKey(path, false); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a key readable by others: %v", err)
	}
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := audit.LoadSigningKey(path, false); err == nil {
		t.Error("a file that is not a key: no error")
	}
}

// A restart notices a chain cut while the gateway was down.
func TestCheckpointerChecksTheHeadAtStart(t *testing.T) {
	a := newAnchored(t)
	if b, err := a.checkpointer(t, a.key).Check(context.Background()); b != nil || err != nil {
		t.Fatalf("intact chain: %v %v", b, err)
	}
	truncate(t, a.db, 7)
	b, err := a.checkpointer(t, a.key).Check(context.Background())
	if err != nil || b == nil || b.Kind != audit.Truncated || b.Seq != 8 {
		t.Errorf("cut chain: %v %v, want truncated at seq 8", b, err)
	}
}

// truncate cuts the default chain after its first n events, behind the store's back,
// head row included, as an attacker covering their tracks would.
func truncate(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	storetest.Tamper(t, db, false, "", func(evs []gateway.AuditEvent) []gateway.AuditEvent { return evs[:n] })
}
