package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway/internal/fsync"
)

// Head reads the head of a chain: the Seq and Hash of its last event, 0 and "" when it
// has none. The store implements it.
type Head interface {
	AuditHead(ctx context.Context, chain string) (seq int64, hash string, err error)
}

// CheckpointOptions configure a Checkpointer (docs/operators.md, "audit.checkpoints").
type CheckpointOptions struct {
	Chain    string        // the chain this replica appends to ("" is the default chain)
	Every    int           // checkpoint after at most this many events; default 1000
	Interval time.Duration // and at least this often while events arrive; default 1m
	Dir      string        // the primary sink: the append-only checkpoint file's directory
	Mirror   string        // an optional second sink, e.g. on another volume
	Signer   *Signer
	Log      *slog.Logger
	Now      func() time.Time
}

// Checkpointer signs the head of its chain and appends the checkpoint to a file in each
// sink: after Every events, every Interval, and when closed. A checkpoint is written
// only when the head moved since the last one.
type Checkpointer struct {
	head  Head
	opts  CheckpointOptions
	log   *slog.Logger
	files []*checkpointFile

	pending atomic.Int64  // events recorded since the last checkpoint
	nudge   chan struct{} // Every reached
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	mu      sync.Mutex // one checkpoint at a time
	lastSeq int64
	written atomic.Uint64
	failed  atomic.Uint64
}

// checkpointFile is one sink's file: opened for appending only.
type checkpointFile struct {
	path string
	f    *os.File
	prev string      // link of the last checkpoint in the file
	last *Checkpoint // the last checkpoint in the file, nil for a new file
}

// NewCheckpointer opens (or creates) the checkpoint file of the chain in each sink and
// starts the loop that writes checkpoints until Close.
func NewCheckpointer(h Head, o CheckpointOptions) (*Checkpointer, error) {
	if o.Signer == nil || o.Dir == "" {
		return nil, errors.New("checkpointer: a signer and a directory are required")
	}
	if o.Every <= 0 {
		o.Every = 1000
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Checkpointer{head: h, opts: o, log: o.Log, nudge: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, dir := range []string{o.Dir, o.Mirror} {
		if dir == "" {
			continue
		}
		cf, err := openCheckpointFile(filepath.Join(dir, ChainFile(o.Chain)))
		if err != nil {
			c.closeFiles()
			return nil, err
		}
		c.files = append(c.files, cf)
	}
	go c.loop()
	return c, nil
}

// openCheckpointFile opens path for appending and reads the link of its last line, so
// the chain of checkpoints continues across restarts.
func openCheckpointFile(path string) (*checkpointFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	cf := &checkpointFile{path: path}
	if err := cutTornLine(path); err != nil {
		return nil, fmt.Errorf("checkpoint file %s: %w", path, err)
	}
	r, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("checkpoint file: %w", err)
	default:
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), maxCheckpointLine)
		for sc.Scan() {
			var cp Checkpoint
			if json.Unmarshal(sc.Bytes(), &cp) == nil && len(cp.Sig) > 0 {
				cf.prev, cf.last = cp.link(), &cp
			}
		}
		err := sc.Err()
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("checkpoint file %s: %w", path, err)
		}
	}
	// O_APPEND: every write lands at the end, whatever else has the file open.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	// A new file's name is durable once its directory is: a checkpoint synced into a
	// file whose name a crash then lost would be lost with it.
	if err := fsync.Dir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	cf.f = f
	return cf, nil
}

// cutTornLine removes a last line without its newline from the checkpoint file at path:
// a checkpoint whose write a crash cut short (a whole line is written, newline
// included, and synced before it counts as written). Left in place, the next checkpoint
// would be appended to it, and both would read as one unreadable line. The torn bytes
// are kept beside the file (PATH.damaged-TIME), as the audit journal keeps its own.
func cutTornLine(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	n := min(size, maxCheckpointLine+1)
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, size-n); err != nil {
		return err
	}
	if n == 0 || tail[n-1] == '\n' {
		return nil
	}
	torn := tail[bytes.LastIndexByte(tail, '\n')+1:]
	if err := os.WriteFile(fmt.Sprintf("%s.damaged-%d", path, time.Now().UnixNano()), torn, 0o600); err != nil {
		return fmt.Errorf("keep the torn line: %w", err)
	}
	if err := f.Truncate(size - int64(len(torn))); err != nil {
		return fmt.Errorf("cut the torn line: %w", err)
	}
	return f.Sync()
}

// Check compares the chain head with the last checkpoint written before this start: a
// head behind it, or at its Seq with another hash, means the chain was cut or rebuilt
// while the gateway was down (or restored from an older backup). It returns that
// finding, nil when the head is consistent or nothing was checkpointed yet; the full
// check is `gateway audit verify` (docs/audit.md).
func (c *Checkpointer) Check(ctx context.Context) (*Break, error) {
	if len(c.files) == 0 || c.files[0].last == nil {
		return nil, nil
	}
	last := c.files[0].last
	seq, hash, err := c.head.AuditHead(ctx, c.opts.Chain)
	if err != nil {
		return nil, fmt.Errorf("read chain head: %w", err)
	}
	c.mu.Lock()
	c.lastSeq = last.Seq
	c.mu.Unlock()
	switch {
	case seq < last.Seq:
		return &Break{Chain: last.Chain, Seq: seq + 1, Kind: Truncated,
			Expected: fmt.Sprintf("events up to seq %d (checkpoint of %s)", last.Seq, last.At.Format(timeLayout)),
			Found:    fmt.Sprintf("the chain ends at seq %d", seq)}, nil
	case seq == last.Seq && hash != last.Hash:
		return &Break{Chain: last.Chain, Seq: seq, Kind: Rehashed, Expected: last.Hash, Found: hash}, nil
	}
	return nil, nil
}

// Observe counts n events the recorder made durable; reaching Every wakes the loop.
func (c *Checkpointer) Observe(n int) {
	if c.pending.Add(int64(n)) >= int64(c.opts.Every) {
		select {
		case c.nudge <- struct{}{}:
		default:
		}
	}
}

// Written counts the checkpoints written, Failed those that could not be.
func (c *Checkpointer) Written() uint64 { return c.written.Load() }

// Failed counts checkpoints that could not be read, signed or written to every sink.
func (c *Checkpointer) Failed() uint64 { return c.failed.Load() }

func (c *Checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.nudge:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Interval)
		if err := c.Checkpoint(ctx); err != nil {
			c.log.Error("audit checkpoint failed; the next one will cover these events", "err", err)
		}
		cancel()
	}
}

// Checkpoint signs the chain head now and appends it to every sink, unless the head has
// not moved since the last checkpoint.
func (c *Checkpointer) Checkpoint(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.pending.Swap(0)
	seq, hash, err := c.head.AuditHead(ctx, c.opts.Chain)
	if err != nil {
		c.pending.Add(n)
		c.failed.Add(1)
		return fmt.Errorf("read chain head: %w", err)
	}
	if seq == 0 || seq == c.lastSeq {
		return nil
	}
	var errs []error
	for _, cf := range c.files {
		cp := Checkpoint{Chain: c.opts.Chain, Seq: seq, Hash: hash, At: c.opts.Now().UTC(), Prev: cf.prev}
		c.opts.Signer.Sign(&cp)
		line, err := json.Marshal(cp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// One write of the whole line, then fsync: a checkpoint is either in the file
		// and durable, or reported as failed.
		if _, err := cf.f.Write(append(line, '\n')); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cf.path, err))
			continue
		}
		if err := cf.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cf.path, err))
			continue
		}
		cf.prev = cp.link()
	}
	if err := errors.Join(errs...); err != nil {
		c.failed.Add(1)
		return fmt.Errorf("write checkpoint: %w", err)
	}
	c.lastSeq = seq
	c.written.Add(1)
	return nil
}

// Close stops the loop and writes the shutdown checkpoint, so that a clean stop leaves
// every event covered. Call it after the recorder is closed. Calling it again is
// harmless.
func (c *Checkpointer) Close(ctx context.Context) error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		err = c.Checkpoint(ctx)
		c.closeFiles()
	})
	return err
}

func (c *Checkpointer) closeFiles() {
	for _, cf := range c.files {
		cf.f.Close()
	}
}
