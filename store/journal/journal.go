// Package journal is an append-only file of records that are durable when Append
// returns: the audit trail's write-ahead journal (docs/audit.md, "The journal"). A
// record costs one write and one fdatasync of a file that only grows, instead of a
// database transaction; the database catches up from it in the background, in batches,
// and reads it back after a crash.
//
// Every record carries its logical position: the journal's positions only grow, also
// across Reset, which empties the file once everything in it has been applied
// elsewhere. A consumer stores the end position of what it applied, atomically with
// applying it, and replays only the records past it.
//
// The file is locked (flock) while open, so two processes never append to one journal.
package journal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"pudong.gov.cn/gateway/internal/fsync"
)

// ErrLocked is returned by Open when another open Journal holds the file.
var ErrLocked = errors.New("journal is in use by another process")

// MaxRecord bounds one record's payload, so that a damaged length cannot make Open
// allocate without bound.
const MaxRecord = 64 << 20

const (
	magic      = "GWAJ"
	version    = 1
	headerSize = 32 // magic, version, 3 reserved, 16 bytes id, 8 bytes base
	recordHead = 16 // payload length (4), CRC-32C (4) of start and payload, start (8)
	// preallocate is how far ahead of the records the file is filled with zeros, so
	// that an append overwrites blocks the file already has and its fdatasync flushes
	// data alone, without a change to the file's size (a third less CPU per append).
	preallocate = 1 << 20
	// gather is how long a flush waits for more records before it starts, when the
	// previous flush covered more than one (records are arriving together). Each
	// fdatasync costs kernel CPU, so fewer, fuller flushes leave more CPU to requests: at
	// 250 µs, a CPU-bound gateway served 5–15 % more audited requests, with a lower p99
	// (docs/PERFORMANCE.md, Audit cost and replicas). A lone writer never waits for it.
	gather = 250 * time.Microsecond
	// closeWait bounds how long Close waits for a running flush.
	closeWait = 10 * time.Second
)

var zeros = make([]byte, 64<<10)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Record is one record read back by Open: its payload and the logical position just
// past it.
type Record struct {
	Payload []byte
	End     int64
}

// Journal is one open journal file.
type Journal struct {
	mu       sync.Mutex
	f        *os.File
	path     string
	id       string
	synced   int64 // logical position up to which the records are on the disk
	flushing bool  // a flush is running; it alone writes to the file meanwhile
	// ended is closed when the running flush ends or the journal closes, and replaced
	// by a new one: a caller waits on it together with its context.
	ended   chan struct{}
	failed  error  // set when a flush failed: no more records are taken
	size    int64  // bytes of header and records, those in buf included
	alloc   int64  // bytes in the file: records are written over zeros written ahead (preallocate)
	end     int64  // logical position past the last record
	buf     []byte // records written since the last flush took them, from file offset size-len(buf)
	records int    // records in buf
	group   int    // records the last flush covered
	spare   []byte // the previous flush's buffer, for reuse
	// fdatasync, fsync and closeWait are the system call a flush ends with, the one that
	// makes a Reset durable, and Close's bound on waiting for either; tests stand in a
	// disk that stops answering.
	fdatasync func(*os.File) error
	fsync     func(*os.File) error
	closeWait time.Duration
}

// Opened is what Open found in an existing file.
type Opened struct {
	Records []Record // every intact record, in order
	// Dropped is the number of bytes after the last intact record: an append that a
	// crash interrupted (it never returned), or damage. They are kept in DamagedPath.
	Dropped     int64
	DamagedPath string
}

// Open opens (creating if needed) the journal at path, locks it, and returns its intact
// records. A torn or damaged tail is copied aside and cut off, so appends continue
// after the last intact record.
func Open(path string) (*Journal, Opened, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, Opened{}, fmt.Errorf("journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, Opened{}, fmt.Errorf("journal %s: %w", path, ErrLocked)
		}
		return nil, Opened{}, fmt.Errorf("journal %s: lock: %w", path, err)
	}
	j := &Journal{f: f, path: path, fdatasync: fdatasync, fsync: (*os.File).Sync, closeWait: closeWait}
	j.ended = make(chan struct{})
	opened, err := j.load()
	if err != nil {
		f.Close()
		return nil, Opened{}, fmt.Errorf("journal %s: %w", path, err)
	}
	j.synced = j.end // what survived in the file is on the disk
	return j, opened, nil
}

// load reads the header (writing one into an empty file) and the records.
func (j *Journal) load() (Opened, error) {
	b, err := io.ReadAll(j.f)
	if err != nil {
		return Opened{}, err
	}
	if len(b) < headerSize {
		if len(b) > 0 && string(b[:min(len(b), 4)]) != magic[:min(len(b), 4)] {
			return Opened{}, fmt.Errorf("not a journal (starts %q)", b[:min(len(b), 4)])
		}
		// New, or a creation that a crash interrupted before anything was appended.
		id := make([]byte, 16)
		rand.Read(id)
		if err := j.writeHeader(hex.EncodeToString(id), 0); err != nil {
			return Opened{}, err
		}
		return Opened{}, fsync.Dir(filepath.Dir(j.path))
	}
	if string(b[:4]) != magic || b[4] != version {
		return Opened{}, fmt.Errorf("not a journal of version %d (starts %q, version %d)", version, b[:4], b[4])
	}
	j.id = hex.EncodeToString(b[8:24])
	base := int64(binary.BigEndian.Uint64(b[24:32]))
	var o Opened
	off := int64(headerSize)
	for {
		rec, next, ok := j.parse(b, off, len(o.Records) == 0)
		if !ok {
			break
		}
		o.Records = append(o.Records, rec)
		j.end, off = rec.End, next
	}
	j.size, j.alloc = off, int64(len(b))
	if tail := b[off:]; len(tail) > 0 && !allZero(tail) {
		if err := j.cut(tail, &o); err != nil {
			return Opened{}, err
		}
	}
	return j.settle(o, base)
}

// settle checks the records' positions against the header's base: records start at the
// base, or are all before it (a Reset that a crash cut short: they were applied, and
// are dropped now).
func (j *Journal) settle(o Opened, base int64) (Opened, error) {
	switch {
	case len(o.Records) == 0:
		j.end = base
		return o, nil
	case o.Records[0].End-int64(len(o.Records[0].Payload)) == base:
		return o, nil
	case j.end == base:
		j.end = base
		o.Records = nil
		if err := j.f.Truncate(headerSize); err != nil {
			return Opened{}, err
		}
		j.size, j.alloc = headerSize, headerSize
		return o, j.f.Sync()
	}
	return Opened{}, fmt.Errorf("records from position %d to %d do not start at the journal's base %d: move the file aside and restart",
		o.Records[0].End-int64(len(o.Records[0].Payload)), j.end, base)
}

// allZero reports whether b holds only zeros: space written ahead, not a damaged tail.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parse reads the record at off, reporting whether it is intact and (unless it is the
// first) continues the journal's positions.
func (j *Journal) parse(b []byte, off int64, first bool) (Record, int64, bool) {
	rest := b[off:]
	if len(rest) < recordHead {
		return Record{}, 0, false
	}
	n := int64(binary.LittleEndian.Uint32(rest[0:4]))
	if n > MaxRecord || int64(len(rest)) < recordHead+n {
		return Record{}, 0, false
	}
	start := int64(binary.LittleEndian.Uint64(rest[8:16]))
	if crc32.Checksum(rest[8:recordHead+n], crcTable) != binary.LittleEndian.Uint32(rest[4:8]) || (!first && start != j.end) {
		return Record{}, 0, false
	}
	payload := rest[recordHead : recordHead+n]
	return Record{Payload: payload, End: start + n}, off + recordHead + n, true
}

// cut keeps the bytes after the last intact record in a file beside the journal and
// removes them from it.
func (j *Journal) cut(tail []byte, o *Opened) error {
	o.Dropped = int64(len(tail))
	o.DamagedPath = fmt.Sprintf("%s.damaged-%d", j.path, time.Now().UnixNano())
	if err := os.WriteFile(o.DamagedPath, tail, 0o600); err != nil {
		return fmt.Errorf("keep the damaged tail: %w", err)
	}
	if err := j.f.Truncate(j.size); err != nil {
		return fmt.Errorf("cut the damaged tail: %w", err)
	}
	j.alloc = j.size
	return j.f.Sync()
}

// header is the header of journal id whose records start at base.
func header(id string, base int64) ([]byte, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return nil, fmt.Errorf("journal id %q", id)
	}
	h := make([]byte, headerSize)
	copy(h, magic)
	h[4] = version
	copy(h[8:24], raw)
	binary.BigEndian.PutUint64(h[24:32], uint64(base))
	return h, nil
}

// writeHeader writes the header with base as the position of an empty journal, and
// syncs it.
func (j *Journal) writeHeader(id string, base int64) error {
	h, err := header(id, base)
	if err != nil {
		return err
	}
	if _, err := j.f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := j.fsync(j.f); err != nil {
		return fmt.Errorf("sync header: %w", err)
	}
	j.id = id
	if j.size < headerSize {
		j.size = headerSize
	}
	j.alloc = max(j.alloc, headerSize)
	return nil
}

// ID identifies the journal file: a consumer keys the position it applied by it, so
// that a journal and a database that do not belong together are not confused.
func (j *Journal) ID() string { return j.id }

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// End is the logical position past the last record.
func (j *Journal) End() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.end
}

// Size is the bytes of the header and the records (the file is longer by the zeros
// written ahead).
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Append writes payload as one record and returns once it is on the disk (or ctx ends),
// with the logical position just past it: Write, then Sync.
func (j *Journal) Append(ctx context.Context, payload []byte) (int64, error) {
	end, err := j.Write(payload)
	if err != nil {
		return 0, err
	}
	return end, j.Sync(ctx, end)
}

// Write adds payload as one record, without waiting for the disk, and returns the
// logical position just past it; Sync(ctx, end) makes it durable. Records keep the order of
// the calls. Write only copies the record into memory: the next flush writes all that
// gathered with one system call, so a request pays for no write of its own.
func (j *Journal) Write(payload []byte) (int64, error) {
	if len(payload) > MaxRecord {
		return 0, fmt.Errorf("journal: record of %d bytes exceeds %d", len(payload), MaxRecord)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usable(); err != nil {
		return 0, err
	}
	n := recordHead + len(payload)
	j.buf = slices.Grow(j.buf, n)
	rec := j.buf[len(j.buf) : len(j.buf)+n]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(rec[8:16], uint64(j.end))
	copy(rec[recordHead:], payload)
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(rec[8:], crcTable))
	j.buf = j.buf[:len(j.buf)+n]
	j.size += int64(n)
	j.end += int64(len(payload))
	j.records++
	return j.end, nil
}

// usable reports why the journal takes no more records: closed, or failed.
func (j *Journal) usable() error {
	if j.f == nil {
		return errors.New("journal: closed")
	}
	return j.failed
}

// Sync returns once every record up to end is on the disk, or once ctx ends (the
// record may still reach the disk later). It is a group commit: one flush runs at a
// time, in a goroutine of its own, and covers everything written before it began (after
// waiting gather for more, when records arrive together), so a caller whose record a
// flush already covered returns at once, and callers arriving during a flush wait for it
// to end and then share the next. One flush at a time makes each cover as many records
// as it can: a second concurrent one shortens the wait but halves the records per flush,
// and each fdatasync costs kernel CPU; with two, a CPU-bound gateway served 10–15 %
// fewer audited requests (docs/PERFORMANCE.md, Audit cost and replicas). A failed flush
// leaves it unknown what reached the disk, so the journal then refuses every later
// record (fail closed).
func (j *Journal) Sync(ctx context.Context, end int64) error {
	j.mu.Lock()
	for {
		if err := j.usable(); err != nil {
			j.mu.Unlock()
			return err
		}
		if j.synced >= end {
			j.mu.Unlock()
			return nil
		}
		if !j.flushing {
			j.flushing = true
			go j.flushGathered(j.group > 1)
		}
		ended := j.ended
		j.mu.Unlock()
		// A disk that stops answering holds the flush, not the callers.
		select {
		case <-ended:
		case <-ctx.Done():
			return fmt.Errorf("journal: waiting for the disk: %w", ctx.Err())
		}
		j.mu.Lock()
	}
}

// signalEnded wakes every caller waiting for the running flush; j.mu is held.
func (j *Journal) signalEnded() {
	close(j.ended)
	j.ended = make(chan struct{})
}

// flushGathered is the running flush: it takes every record written so far (after
// gather, when wait is set) and writes and syncs them.
func (j *Journal) flushGathered(wait bool) {
	if wait {
		// Records arrive together: let the ones on their way join this flush.
		time.Sleep(gather)
	}
	j.mu.Lock()
	buf, at, target, f := j.buf, j.size-int64(len(j.buf)), j.end, j.f
	j.group, j.records = j.records, 0
	j.buf, j.spare = j.spare[:0], nil
	j.mu.Unlock()
	err := errors.New("closed")
	if f != nil {
		err = j.flush(f, buf, at)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flushing = false
	j.signalEnded()
	if cap(buf) <= preallocate {
		j.spare = buf
	}
	if err != nil {
		if j.failed == nil {
			j.failed = fmt.Errorf("journal: a flush failed, so what reached the disk is unknown; restart to recover from the file: %w", err)
		}
		return
	}
	j.synced = max(j.synced, target)
}

// flush writes the records of buf at file offset at, over zeros written ahead, and
// waits for the disk. Only the running flush touches the file and alloc.
func (j *Journal) flush(f *os.File, buf []byte, at int64) error {
	if at+int64(len(buf)) > j.alloc {
		if err := j.extend(f, at+int64(len(buf))-j.alloc); err != nil {
			return err
		}
	}
	if _, err := f.WriteAt(buf, at); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return j.fdatasync(f)
}

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// Synced is the logical position up to which every record is on the disk.
func (j *Journal) Synced() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.synced
}

// extend fills at least n more bytes of f with zeros, ahead of the records, and syncs
// the file's new size.
func (j *Journal) extend(f *os.File, n int64) error {
	grow := max(preallocate, n+preallocate/2)
	for off := int64(0); off < grow; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), grow-off)], j.alloc+off); err != nil {
			return fmt.Errorf("write ahead: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write ahead: %w", err)
	}
	j.alloc += grow
	return nil
}

// ErrNotApplied is returned by Reset when records past the position it was given are in
// the journal: they are not applied yet, and the file keeps them.
var ErrNotApplied = errors.New("journal: records past the applied position")

// Reset empties the file, keeping its positions: the next record starts at End. applied
// is the position up to which the records have been applied elsewhere; when records
// past it were written meanwhile, Reset leaves the file alone (ErrNotApplied). The header
// is written before the file is cut, so a crash in between leaves records whose
// positions are all applied.
//
// Reset takes the place of the running flush while it writes: records may be written
// meanwhile (they follow the new header), and callers of Sync wait for it with their
// contexts, so a disk that stops answering holds Reset alone, not the writers
// (docs/audit.md, "The journal"). A failed Reset leaves it unknown what the file holds,
// so the journal then refuses every later record, as after a failed flush.
func (j *Journal) Reset(applied int64) error {
	j.mu.Lock()
	if err := j.usable(); err != nil {
		j.mu.Unlock()
		return err
	}
	if j.end != applied {
		j.mu.Unlock()
		return ErrNotApplied
	}
	if j.flushing || len(j.buf) > 0 || j.synced != j.end {
		j.mu.Unlock()
		return errors.New("journal: reset with records not yet on the disk")
	}
	j.flushing = true
	f, id, base := j.f, j.id, j.end
	j.mu.Unlock()
	err := j.truncate(f, id, base)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flushing = false
	j.signalEnded()
	if err == nil && j.f == nil {
		err = errors.New("closed")
	}
	if err != nil {
		if j.failed == nil {
			j.failed = fmt.Errorf("journal: a reset failed, so what the file holds is unknown; restart to recover from the file: %w", err)
		}
		return fmt.Errorf("journal: reset: %w", err)
	}
	// Records written during the reset follow the new header.
	j.size, j.alloc = headerSize+int64(len(j.buf)), headerSize
	return nil
}

// truncate writes the header of an empty journal at base, then cuts the records off,
// syncing each step; only the running flush (here Reset) touches the file meanwhile.
func (j *Journal) truncate(f *os.File, id string, base int64) error {
	h, err := header(id, base)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := j.fsync(f); err != nil {
		return fmt.Errorf("sync header: %w", err)
	}
	if err := f.Truncate(headerSize); err != nil {
		return err
	}
	return j.fsync(f)
}

// Close releases the file and its lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	// Let a running flush (or Reset) end, for at most closeWait: a disk that stops answering must
	// not hold the shutdown. Closing under a flush is safe (os.File keeps the descriptor
	// until the flush's system call returns); the flush then fails.
	timer := time.NewTimer(j.closeWait)
	defer timer.Stop()
	for waiting := true; waiting && j.flushing; {
		ended := j.ended
		j.mu.Unlock()
		select {
		case <-ended:
		case <-timer.C:
			waiting = false
		}
		j.mu.Lock()
	}
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	j.signalEnded() // callers waiting for a flush look again, and find the journal closed
	return err
}
