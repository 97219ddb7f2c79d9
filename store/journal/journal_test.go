package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, path string) (*Journal, Opened) {
	t.Helper()
	j, o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, o
}

func appendAll(t *testing.T, j *Journal, payloads ...string) []int64 {
	t.Helper()
	var ends []int64
	for _, p := range payloads {
		end, err := j.Append(context.Background(), []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end)
	}
	return ends
}

func payloads(o Opened) []string {
	var out []string
	for _, r := range o.Records {
		out = append(out, string(r.Payload))
	}
	return out
}

// TestReopenReadsEveryRecord: what was appended is read back in order with its end
// positions, and appends continue after it.
func TestReopenReadsEveryRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, o := open(t, path)
	if len(o.Records) != 0 || j.End() != 0 {
		t.Fatalf("new journal: %d records, end %d", len(o.Records), j.End())
	}
	ends := appendAll(t, j, "one", "two", "three")
	if !slices.Equal(ends, []int64{3, 6, 11}) {
		t.Fatalf("ends %v", ends)
	}
	id := j.ID()
	j.Close()
	j, o = open(t, path)
	if got := payloads(o); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("records %q", got)
	}
	if o.Records[2].End != 11 || j.End() != 11 || j.ID() != id || o.Dropped != 0 {
		t.Fatalf("end %d/%d, id %s (was %s), dropped %d", o.Records[2].End, j.End(), j.ID(), id, o.Dropped)
	}
	if end := appendAll(t, j, "four"); end[0] != 15 {
		t.Fatalf("append after reopen ends at %d", end[0])
	}
}

// TestResetKeepsPositions: a reset journal is empty on disk and continues its positions,
// also across a reopen, and a reset cut short after its header was written drops only
// records that were all applied.
func TestResetKeepsPositions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := open(t, path)
	appendAll(t, j, "aaaa", "bb")
	if err := j.Reset(4); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("reset with a record not applied: %v", err)
	}
	if err := j.Reset(6); err != nil {
		t.Fatal(err)
	}
	if j.Size() != headerSize || j.End() != 6 {
		t.Fatalf("after reset: size %d, end %d", j.Size(), j.End())
	}
	appendAll(t, j, "ccc")
	j.Close()
	j, o := open(t, path)
	if got := payloads(o); !slices.Equal(got, []string{"ccc"}) || o.Records[0].End != 9 || j.End() != 9 {
		t.Fatalf("after reopen: %q, end %d", got, j.End())
	}

	// A crash between the header and the cut: the header says 9 ... and the record
	// ending at 9 is still in the file.
	if err := j.writeHeader(j.ID(), j.End()); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, o = open(t, path)
	if len(o.Records) != 0 || j.End() != 9 || j.Size() != headerSize {
		t.Fatalf("after a cut-short reset: %d records, end %d, size %d", len(o.Records), j.End(), j.Size())
	}
}

// TestTornTailIsKeptAsideAndCut: bytes after the last intact record — a torn append, a
// damaged checksum — are copied beside the journal and cut off; the intact records stay
// and appends continue.
func TestTornTailIsKeptAsideAndCut(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(b []byte, size int64) []byte // size: where the records end
	}{
		{"torn", func(b []byte, size int64) []byte { return b[:size-2] }},
		{"crc", func(b []byte, size int64) []byte { b[size-1] ^= 0xff; return b }},
		{"garbage", func(b []byte, size int64) []byte { copy(b[size+100:], "xyz"); return b }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			j, _ := open(t, path)
			appendAll(t, j, "keep", "last")
			size := j.Size()
			j.Close()
			b, _ := os.ReadFile(path)
			os.WriteFile(path, damage.do(b, size), 0o600)
			j, o := open(t, path)
			want := []string{"keep"}
			if damage.name == "garbage" {
				want = []string{"keep", "last"}
			}
			if got := payloads(o); !slices.Equal(got, want) {
				t.Fatalf("records %q, want %q", got, want)
			}
			if o.Dropped == 0 {
				t.Fatal("nothing reported dropped")
			}
			if kept, err := os.ReadFile(o.DamagedPath); err != nil || int64(len(kept)) != o.Dropped {
				t.Fatalf("damaged tail kept: %d bytes, %v; dropped %d", len(kept), err, o.Dropped)
			}
			appendAll(t, j, "next")
			j.Close()
			_, o = open(t, path)
			if got := payloads(o); !slices.Equal(got, append(want, "next")) || o.Dropped != 0 {
				t.Fatalf("after append: %q, dropped %d", got, o.Dropped)
			}
		})
	}
}

// TestWrittenAheadSpaceIsNotDamage: the zeros written ahead of the records are taken for
// free space at the next open, not for a damaged tail, and appends go on over them.
func TestWrittenAheadSpaceIsNotDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := open(t, path)
	appendAll(t, j, "a", "b")
	fi, _ := os.Stat(path)
	if fi.Size() < preallocate || j.Size() >= fi.Size() {
		t.Fatalf("file %d bytes, records end at %d: nothing written ahead", fi.Size(), j.Size())
	}
	j.Close()
	j, o := open(t, path)
	if got := payloads(o); !slices.Equal(got, []string{"a", "b"}) || o.Dropped != 0 {
		t.Fatalf("reopened: %q, dropped %d", got, o.Dropped)
	}
	big := string(make([]byte, preallocate)) // past the space written ahead
	appendAll(t, j, "c", big, "d")
	j.Close()
	_, o = open(t, path)
	if got := payloads(o); len(got) != 5 || got[4] != "d" || o.Dropped != 0 {
		t.Fatalf("after growing: %d records, dropped %d", len(got), o.Dropped)
	}
}

// TestOneOpenAtATime: a second Open of a journal in use fails with ErrLocked, and
// succeeds once the first is closed.
func TestOneOpenAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := open(t, path)
	if _, _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	j.Close()
	open(t, path)
}

// TestRefusesOtherFiles: a file that is not a journal, or whose records do not start at
// its base, is refused rather than overwritten.
func TestRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("SQLite format 3\x00 and more than thirty-two bytes"), 0o600)
	if _, _, err := Open(other); err == nil {
		t.Fatal("opened a file that is not a journal")
	}
	path := filepath.Join(dir, "j")
	j, _ := open(t, path)
	appendAll(t, j, "x")
	j.writeHeader(j.ID(), 100) // a base past records that end at 1
	j.Close()
	if _, _, err := Open(path); err == nil {
		t.Fatal("opened a journal whose records do not start at its base")
	}
	if _, err := j.Append(context.Background(), []byte("after close")); err == nil {
		t.Fatal("append after close succeeded")
	}
}

// TestRecordBound: a payload over MaxRecord is refused.
func TestRecordBound(t *testing.T) {
	j, _ := open(t, filepath.Join(t.TempDir(), "j"))
	if _, err := j.Append(context.Background(), make([]byte, MaxRecord+1)); err == nil {
		t.Fatal(fmt.Sprint("appended ", MaxRecord+1, " bytes"))
	}
}

// BenchmarkAppend is one durable record of an S1 answer's size.
func BenchmarkAppend(b *testing.B) {
	j, _, err := Open(filepath.Join(b.TempDir(), "j"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	p := make([]byte, 2500)
	for b.Loop() {
		if _, err := j.Append(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentSyncs: appends from many goroutines each return once their record is
// on the disk, with flushes shared or overlapping, and the file holds every record.
func TestConcurrentSyncs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := open(t, path)
	const writers, each = 8, 25
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				end, err := j.Append(context.Background(), []byte(fmt.Sprintf("w%d-%02d", w, i)))
				if err == nil && j.Synced() < end {
					err = fmt.Errorf("append returned at %d before the flush covered it (%d)", end, j.Synced())
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if j.Synced() != j.End() {
		t.Fatalf("synced %d, end %d", j.Synced(), j.End())
	}
	j.Close()
	if _, o := open(t, path); len(o.Records) != writers*each {
		t.Fatalf("%d records after reopening, want %d", len(o.Records), writers*each)
	}
}

// TestFailedFlushFailsClosed: once a flush fails, what reached the disk is unknown, so
// the journal refuses every later write and flush instead of acknowledging them.
func TestFailedFlushFailsClosed(t *testing.T) {
	j, _ := open(t, filepath.Join(t.TempDir(), "j"))
	end, err := j.Write([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	f := j.f
	f.Close() // the flush fails underneath the journal, as on an I/O error
	if err := j.Sync(context.Background(), end); err == nil {
		t.Fatal("a failed flush was acknowledged")
	}
	if _, err := j.Write([]byte("y")); err == nil {
		t.Fatal("a write after a failed flush was taken")
	}
	if err := j.Sync(context.Background(), end); err == nil {
		t.Fatal("a flush after a failed one was acknowledged")
	}
}

// TestFlushWritesWhatGathered: Write only gathers the record; the flush writes every
// gathered record at once, and they read back in order after reopening.
func TestFlushWritesWhatGathered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := open(t, path)
	var end int64
	for i := range 3 {
		e, err := j.Write([]byte(fmt.Sprintf("gathered-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		end = e
	}
	if b, err := os.ReadFile(path); err != nil || bytes.Contains(b, []byte("gathered-")) {
		t.Fatalf("a record reached the file before a flush (read error %v)", err)
	}
	if err := j.Sync(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || bytes.Count(b, []byte("gathered-")) != 3 {
		t.Fatalf("the flush did not write the three records (read error %v)", err)
	}
	j.Close()
	_, o := open(t, path)
	for i, r := range o.Records {
		if want := fmt.Sprintf("gathered-%d", i); string(r.Payload) != want {
			t.Fatalf("record %d is %q, want %q", i, r.Payload, want)
		}
	}
	if len(o.Records) != 3 {
		t.Fatalf("%d records after reopening, want 3", len(o.Records))
	}
}

// TestStalledDiskBoundsEveryWait: a flush whose disk stops answering holds neither its
// callers past their deadlines nor Close past its bound; once the disk answers again,
// the record is durable.
func TestStalledDiskBoundsEveryWait(t *testing.T) {
	j, _ := open(t, filepath.Join(t.TempDir(), "j"))
	stalled, resume := make(chan struct{}), make(chan struct{})
	j.fdatasync = func(f *os.File) error {
		close(stalled)
		<-resume
		return fdatasync(f)
	}
	end, err := j.Write([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := j.Sync(ctx, end); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync under a stalled disk: %v, want the context's deadline", err)
	}
	<-stalled
	close(resume)
	if err := j.Sync(context.Background(), end); err != nil {
		t.Fatalf("once the disk answers: %v", err)
	}

	// Close gives up on a flush that never ends, after closeWait.
	j2, _ := open(t, filepath.Join(t.TempDir(), "j2"))
	j2.fdatasync = func(*os.File) error { select {} }
	j2.closeWait = 20 * time.Millisecond
	end, _ = j2.Write([]byte("y"))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	j2.Sync(ctx2, end) // starts the flush that never ends
	// A caller still waiting for that flush when Close gives up learns that the journal
	// closed, without waiting for its own context.
	waiter := make(chan error, 1)
	go func() { waiter <- j2.Sync(context.Background(), end) }()
	done := make(chan error, 1)
	go func() { done <- j2.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a flush that never ends")
	}
	select {
	case err := <-waiter:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("a caller waiting at Close: %v, want the journal closed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller waiting for the stalled flush was not told the journal closed")
	}
}

// TestStalledResetHoldsNoWriter: a Reset whose disk stops answering once held the
// journal's lock, so every Write, Sync and End (every audited answer) waited for the
// disk, past any deadline. Now it holds only itself: records written meanwhile wait for
// their flush within their contexts, and follow the new header once the disk answers.
func TestStalledResetHoldsNoWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := open(t, path)
	appendAll(t, j, "aaaa")
	stalled, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	j.fsync = func(f *os.File) error {
		once.Do(func() { close(stalled) })
		<-resume
		return f.Sync()
	}
	var resumeOnce sync.Once
	t.Cleanup(func() { resumeOnce.Do(func() { close(resume) }) })
	reset := make(chan error, 1)
	go func() { reset <- j.Reset(4) }()
	<-stalled

	type result struct {
		end int64
		err error
	}
	wrote := make(chan result, 1)
	go func() {
		end, err := j.Write([]byte("bb"))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err = j.Sync(ctx, end)
		}
		wrote <- result{end, err}
	}()
	var end int64
	select {
	case r := <-wrote:
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("a record written during a stalled reset: %v, want its context's deadline", r.err)
		}
		end = r.end
	case <-time.After(5 * time.Second):
		t.Fatal("a write waited for the disk of a stalled reset")
	}

	resumeOnce.Do(func() { close(resume) })
	if err := <-reset; err != nil {
		t.Fatalf("reset once the disk answers: %v", err)
	}
	if err := j.Sync(context.Background(), end); err != nil {
		t.Fatalf("the record written during the reset: %v", err)
	}
	j.Close()
	j, o := open(t, path)
	if got := payloads(o); !slices.Equal(got, []string{"bb"}) || o.Records[0].End != 6 || j.End() != 6 {
		t.Fatalf("after reopen: %q, end %d", got, j.End())
	}
}
