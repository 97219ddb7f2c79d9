// Package csvdrop adapts department systems that publish batch exports as CSV files
// dropped into a directory, each made complete by a marker file (shebao_20261127.csv is
// ready once shebao_20261127.csv.done exists). The adapter indexes the newest complete
// export and answers lookups from it; a newer export is parsed and indexed off to the
// side and swapped in atomically, so lookups never wait and never see a half-built
// index.
//
// An export is served only when it is whole (docs/operators.md, "CSV exports"): settled
// (unchanged for the settle time), what its marker promises (a row count, a SHA-256),
// well formed, and not shrunk beyond maxShrink against the export it would replace
// unless an operator accepted it. Otherwise it is rejected, logged at level ERROR and
// counted, and the previous export keeps serving; its age (SnapshotTime) lets the
// gateway mark it stale once its owner's cycle has passed.
//
// Everything department-specific comes from the binding: the directory (Dir), the field
// map and code tables, and per operation the params keyColumn (the legacy column the
// operation is keyed by), pattern (a glob of export names), marker (default ".done"),
// poll (default 2s), settle (default 1s) and maxShrink (default 10%).
package csvdrop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// Source serves one department's CSV exports. It is safe for concurrent use.
type Source struct {
	cfg *settings
	log *slog.Logger

	current  atomic.Pointer[export] // nil until a complete export has loaded
	rejected [3]atomic.Int64        // by reasonIndex

	scanMu  sync.Mutex           // one scan at a time: the poller's or Rescan's
	bad     map[fileID]string    // rejected exports and why, not read again; guarded by scanMu
	seen    map[fileID]time.Time // when each version was first seen, to tell a settled file; guarded by scanMu
	lastErr string               // last scan failure logged, to log each only once; guarded by scanMu

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ adapters.Source   = (*Source)(nil)
	_ adapters.Pager    = (*Source)(nil)
	_ adapters.Snapshot = (*Source)(nil)
)

// reasonIndex numbers the rejection reasons, for the counters.
var reasonIndex = map[string]int{ReasonMalformed: 0, ReasonIncomplete: 1, ReasonShrunk: 2}

// fileID tells one version of an export from another: an export rewritten under the
// same name, or given a new marker, is a new export, and a rejected one is not read
// again until it changes.
type fileID struct {
	name        string
	size        int64
	modTime     time.Time
	markerSize  int64
	markerMTime time.Time
}

// Open validates the binding, indexes the newest complete export in d.Dir and starts
// watching the directory for newer ones until Close. Finding no export (or no readable
// directory) is not an error: Fetch answers ErrUnavailable until one arrives. A nil log
// discards logs.
func Open(ctx context.Context, d config.Department, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := parseBinding(d, log)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:  cfg,
		log:  log.With("department", cfg.dept, "adapter", "csvdrop"),
		bad:  map[fileID]string{},
		seen: map[fileID]time.Time{},
		done: make(chan struct{}),
	}
	// An export indexed before a restart serves at once; a newer one is built by the
	// poller meanwhile. Only when no export has an index yet, and the newest is small
	// enough to read in moments, does Open read it itself: a district's export takes
	// minutes, and the gateway must not wait for it to serve the other departments.
	s.scanMu.Lock()
	_, err = s.scan(ctx, true)
	s.scanMu.Unlock()
	if s.current.Load() == nil && s.newestIsSmall() {
		if err := s.Rescan(ctx); err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("csvdrop %s: %w", cfg.dept, err)
		}
	}
	if s.current.Load() == nil {
		s.log.Warn("csvdrop: no complete export indexed yet; lookups are unavailable until one is",
			"dir", cfg.dir, "pattern", cfg.pattern, "marker", cfg.marker)
	}
	pollCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.poll(pollCtx)
	return s, nil
}

// syncOpenBytes is the largest export Open indexes before returning when it has none
// indexed: the demo's (5 MiB) and the tests' take well under a second; a larger one is
// indexed in the background.
const syncOpenBytes = 64 << 20

// newestIsSmall reports whether the newest complete export, if any, is small enough for
// Open to index it before returning. A directory that cannot be read counts as small:
// Rescan then reports why.
func (s *Source) newestIsSmall() bool {
	c, err := s.complete()
	return err != nil || len(c) == 0 || c[0].size <= syncOpenBytes
}

// Close stops watching the directory, waits for a scan in progress to end and closes
// the index being served; lookups then answer ErrUnavailable. The index files stay for
// the next start.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		if e := s.current.Load(); e != nil {
			e.close()
		}
	})
	return nil
}

func (s *Source) poll(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.poll)
	defer t.Stop()
	first := make(chan time.Time, 1)
	first <- time.Now() // at once: Open may have served an older indexed export
	for {
		select {
		case <-ctx.Done():
			return
		case <-first:
		case <-t.C:
		}
		// A failed scan is logged; the poller simply tries again next tick, which is
		// also its second look at an export that has not settled yet.
		s.scanMu.Lock()
		_, err := s.scan(ctx, false)
		s.logScan(ctx, err)
		s.scanMu.Unlock()
	}
}

// Fetch looks keys up in the current export. Keys the export does not hold are absent
// from the result.
func (s *Source) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	e, release, err := s.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer release()
	out := make(map[string][]adapters.Record, len(keys))
	for _, k := range keys {
		if _, done := out[k]; done || k == "" {
			continue
		}
		recs, err := records(ctx, e.fetch[op], s.cfg.layout.fields, k)
		if err != nil {
			return nil, s.unavailable(op, err)
		}
		if len(recs) > 0 {
			out[k] = recs
		}
	}
	return out, nil
}

// Page lists the records of one key page by page, in export order, for keys that may
// hold many records (an employer's insured staff).
func (s *Source) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	e, release, err := s.acquire(ctx, op)
	if err != nil {
		return adapters.Page{}, err
	}
	defer release()
	var p adapters.Page
	if err := e.count[op].QueryRowContext(ctx, key).Scan(&p.Total); err != nil {
		return adapters.Page{}, s.unavailable(op, err)
	}
	if offset < 0 || limit <= 0 || offset >= p.Total {
		return p, nil
	}
	if p.Records, err = records(ctx, e.page[op], s.cfg.layout.fields, key, limit, offset); err != nil {
		return adapters.Page{}, s.unavailable(op, err)
	}
	return p, nil
}

func (s *Source) unavailable(op string, err error) error {
	return fmt.Errorf("%s %s: reading the index: %w: %w", s.cfg.dept, op, adapters.ErrUnavailable, err)
}

// acquire returns the current export for a lookup of op, held open until release. A
// lookup that read the pointer just before a swap finds that export retired and reads
// the pointer again, so a call stays on one export and never sees a closed one.
func (s *Source) acquire(ctx context.Context, op string) (*export, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w: %w", s.cfg.dept, op, adapters.ErrUnavailable, err)
	}
	for {
		e := s.current.Load()
		if e == nil {
			return nil, nil, fmt.Errorf("%s %s: no complete export in %s yet: %w",
				s.cfg.dept, op, s.cfg.dir, adapters.ErrUnavailable)
		}
		if _, ok := e.fetch[op]; !ok {
			return nil, nil, fmt.Errorf("%s %s: operation is not configured: %w", s.cfg.dept, op, adapters.ErrUnavailable)
		}
		e.mu.RLock()
		if !e.closed {
			return e, e.mu.RUnlock, nil
		}
		e.mu.RUnlock()
		if s.current.Load() == e {
			return nil, nil, fmt.Errorf("%s %s: the source is closed: %w", s.cfg.dept, op, adapters.ErrUnavailable)
		}
	}
}

// Current describes the export being served: its file name, when it was loaded and how
// many rows it has. All are zero before the first export loads.
func (s *Source) Current() (file string, loadedAt time.Time, rows int) {
	e := s.current.Load()
	if e == nil {
		return "", time.Time{}, 0
	}
	return e.id.name, e.loadedAt, e.rows
}

// SnapshotTime is when the export being served was written (its file's modification
// time), zero before the first export loads: the data is as old as that, whenever it
// was read.
func (s *Source) SnapshotTime() time.Time {
	e := s.current.Load()
	if e == nil {
		return time.Time{}
	}
	return e.id.modTime
}

// Rejected counts the exports rejected since Open, each version counted once.
func (s *Source) Rejected() int64 {
	var n int64
	for i := range s.rejected {
		n += s.rejected[i].Load()
	}
	return n
}

// RejectedFor counts the exports rejected since Open for one of the Reasons.
func (s *Source) RejectedFor(reason string) int64 {
	i, ok := reasonIndex[reason]
	if !ok {
		return 0
	}
	return s.rejected[i].Load()
}

// Rescan looks for a newer complete export now, instead of at the next poll, and swaps
// it in before returning if it is whole and well formed. An export written less than
// the settle time ago is looked at again once it has had that time to settle, so Rescan
// may wait that long (never past ctx). It returns an error only when the scan could not
// run (the directory cannot be read, ctx ended); a rejected export is logged and
// counted, not returned.
func (s *Source) Rescan(ctx context.Context) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	wait, err := s.scan(ctx, false)
	if err == nil && wait > 0 {
		t := time.NewTimer(min(wait, s.cfg.settle))
		select {
		case <-t.C:
			_, err = s.scan(ctx, false)
		case <-ctx.Done():
			t.Stop()
			err = context.Cause(ctx)
		}
	}
	s.logScan(ctx, err)
	return err
}

// logScan logs a failed scan, each distinct failure once. Guarded by scanMu.
func (s *Source) logScan(ctx context.Context, err error) {
	if err != nil && ctx.Err() == nil {
		if msg := err.Error(); msg != s.lastErr {
			s.log.Error("csvdrop: scan failed; serving the previous export", "dir", s.cfg.dir, "err", err)
			s.lastErr = msg
		}
	} else if err == nil {
		s.lastErr = ""
	}
}

// errChanged says that the file changed while it was read: not rejected, read again
// once it settles.
var errChanged = errors.New("the export changed while it was read")

// scan tries the complete exports newer than the current one, newest first, and keeps
// the first that loads. Export names carry their date, so name order is age order. An
// export is read only once it has settled: unchanged (size, time, marker) for the
// settle time, so that a file still being written is not served in part however early
// its marker appeared. wait is how long until an unsettled newer export has settled.
//
// With indexedOnly, only exports that already have an index are considered: they were
// checked when it was built, and opening one takes no time.
func (s *Source) scan(ctx context.Context, indexedOnly bool) (wait time.Duration, err error) {
	candidates, err := s.complete()
	if err != nil {
		return 0, err
	}
	for id := range s.bad {
		if !slices.Contains(candidates, id) {
			delete(s.bad, id) // gone or changed: forget it, so the set stays small
		}
	}
	for id := range s.seen {
		if !slices.Contains(candidates, id) {
			delete(s.seen, id)
		}
	}
	now := time.Now()
	cur := s.current.Load()
	for _, id := range candidates {
		if cur != nil && (id.name < cur.id.name || id == cur.id) {
			return wait, nil
		}
		if reason, ok := s.bad[id]; ok && (reason != ReasonShrunk || !s.accepted(id)) {
			continue
		}
		if indexedOnly {
			if _, err := os.Stat(filepath.Join(s.cfg.index, s.cfg.layout.indexName(id))); err != nil {
				continue
			}
		} else if left := s.unsettled(id, now); left > 0 {
			wait = max(wait, left)
			continue
		}
		start := time.Now()
		e, err := s.load(ctx, id, cur)
		if err == nil {
			e.loadedAt = time.Now()
			if old := s.current.Swap(e); old != nil {
				go old.retire(s.cfg.index, e)
			}
			s.log.Info("csvdrop: export loaded", "file", id.name, "rows", e.rows, "index", e.origin,
				"took", e.loadedAt.Sub(start).Round(time.Millisecond))
			return wait, nil
		}
		if ctx.Err() != nil {
			return 0, err
		}
		if errors.Is(err, errChanged) {
			wait = max(wait, s.cfg.settle)
			continue
		}
		if r, ok := errors.AsType[*rejection](err); ok {
			s.reject(id, r, cur)
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we looked: not an export any more
		}
		return 0, err
	}
	return wait, nil
}

// unsettled returns how long id must still stay as it is before it may be read: zero
// once it has not changed for the settle time, judged by its modification time or, for
// a clock that disagrees, by when this source first saw this very version.
func (s *Source) unsettled(id fileID, now time.Time) time.Duration {
	first, ok := s.seen[id]
	if !ok {
		s.seen[id] = now
		first = now
	}
	since := now.Sub(id.modTime)
	if id.markerMTime.After(id.modTime) {
		since = now.Sub(id.markerMTime)
	}
	return max(s.cfg.settle-max(since, now.Sub(first)), 0)
}

// accepted reports whether an operator has created id's override file.
func (s *Source) accepted(id fileID) bool {
	_, err := os.Stat(filepath.Join(s.cfg.dir, id.name+AcceptSuffix))
	return err == nil
}

// reject remembers, counts and logs a rejected export, once per version.
func (s *Source) reject(id fileID, r *rejection, cur *export) {
	s.bad[id] = r.reason
	s.rejected[reasonIndex[r.reason]].Add(1)
	attrs := []any{"file", id.name, "reason", r.reason, "err", r.err}
	if r.line > 0 {
		attrs = append(attrs, "line", r.line)
	}
	if r.reason == ReasonShrunk {
		attrs = append(attrs, "override", "create "+id.name+AcceptSuffix+" in "+s.cfg.dir+" to load it anyway")
	}
	if cur != nil {
		attrs = append(attrs, "serving", cur.id.name)
	}
	s.log.Error("csvdrop: export rejected; the previous export keeps serving", attrs...)
}

// complete lists the complete exports in the directory, newest first.
func (s *Source) complete() ([]fileID, error) {
	entries, err := os.ReadDir(s.cfg.dir)
	if err != nil {
		return nil, fmt.Errorf("list exports: %w", err)
	}
	markers := make(map[string]fs.DirEntry, len(entries))
	for _, de := range entries {
		if strings.HasSuffix(de.Name(), s.cfg.marker) {
			markers[de.Name()] = de
		}
	}
	var out []fileID
	for _, de := range entries {
		name := de.Name()
		m := markers[name+s.cfg.marker]
		if de.IsDir() || strings.HasSuffix(name, s.cfg.marker) || m == nil {
			continue
		}
		if ok, _ := filepath.Match(s.cfg.pattern, name); !ok {
			continue
		}
		info, err := de.Info()
		var minfo fs.FileInfo
		if err == nil {
			minfo, err = m.Info()
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list exports: %w", err)
		}
		out = append(out, fileID{name, info.Size(), info.ModTime(), minfo.Size(), minfo.ModTime()})
	}
	slices.SortFunc(out, func(a, b fileID) int { return strings.Compare(b.name, a.name) })
	return out, nil
}

// load opens id's index, building it first if this export has none yet: read and
// checked off to the side; the caller swaps it in. Beyond the content, the build checks
// what the marker promises (rows, checksum) and that the file did not change while it
// was read; only an export that passes gets an index under its final name, so an index
// found on disk is one that passed. Either way the export must not have shrunk beyond
// maxShrink against the one it would replace, unless an operator accepted it.
func (s *Source) load(ctx context.Context, id fileID, prev *export) (*export, error) {
	l := s.cfg.layout
	final := filepath.Join(s.cfg.index, l.indexName(id))
	e, err := l.openIndex(final, id)
	switch {
	case err == nil:
		e.origin = "kept"
	case errors.Is(err, fs.ErrNotExist):
		return s.build(ctx, id, final, prev)
	default:
		// Unreadable (a disk error, a foreign file): build it again rather than serve
		// nothing.
		s.log.Warn("csvdrop: index unreadable; building it again", "file", id.name, "index", final, "err", err)
		os.Remove(final)
		return s.build(ctx, id, final, prev)
	}
	if err := s.checkShrink(id, e.rows, prev); err != nil {
		e.db.Close()
		return nil, err
	}
	return e, nil
}

// checkShrink rejects an export of rows rows that has lost more than maxShrink of the
// rows of prev, the export it would replace, unless an operator accepted it.
func (s *Source) checkShrink(id fileID, rows int, prev *export) error {
	if prev == nil || float64(rows) >= float64(prev.rows)*(1-s.cfg.shrink) || s.accepted(id) {
		return nil
	}
	return fmt.Errorf("%s: %w", id.name, &rejection{reason: ReasonShrunk, err: fmt.Errorf(
		"%d rows where %s has %d: more than %.0f%% fewer (maxShrink)", rows, prev.id.name, prev.rows, s.cfg.shrink*100)})
}

// build reads the export into a new index and, only if it passes every check (the
// shrink against prev included), moves the index to final and opens it: an index under
// its final name is one that may be served, even by a restart that has no previous
// export to compare with.
func (s *Source) build(ctx context.Context, id fileID, final string, prev *export) (*export, error) {
	path := filepath.Join(s.cfg.dir, id.name)
	want, err := readMarker(path + s.cfg.marker)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id.name, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", id.name, err)
	}
	defer f.Close()
	var r io.Reader = f
	var sum hash.Hash
	if want.sha256 != nil {
		sum = sha256.New()
		r = io.TeeReader(f, sum)
	}
	// The reading and indexing run on a goroutine of their own at a lower priority, so
	// that a build competing with requests for the cores yields to them.
	type built struct {
		tmp  string
		rows int
		err  error
	}
	done := make(chan built, 1)
	go func() {
		lowerPriority()
		var b built
		b.tmp, b.rows, b.err = s.cfg.layout.build(ctx, s.cfg.index, id, r)
		done <- b
	}()
	b := <-done
	tmp, rows, err := b.tmp, b.rows, b.err
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id.name, err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	if info, err := f.Stat(); err != nil || info.Size() != id.size || !info.ModTime().Equal(id.modTime) {
		return nil, fmt.Errorf("%s: %w", id.name, errChanged)
	}
	if err := want.check(int64(rows), sum); err != nil {
		return nil, fmt.Errorf("%s: %w", id.name, err)
	}
	if err := s.checkShrink(id, rows, prev); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("%s: index: %w", id.name, err)
	}
	e, err := s.cfg.layout.openIndex(final, id)
	if err != nil {
		return nil, err
	}
	e.origin = "built"
	return e, nil
}

// Check validates the binding as Open does and reads the header of the newest complete
// export, without indexing it or writing anything: what `gateway config check` runs
// (docs/operators.md). A binding Open would refuse is an error. A directory without a
// usable export is not (Open serves without one, answering unavailable until one
// arrives); what is wrong with it comes back as a warning.
func Check(d config.Department) (warning string, err error) {
	cfg, err := parseBinding(d, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	s := &Source{cfg: cfg}
	exports, err := s.complete()
	switch {
	case err != nil:
		return fmt.Sprintf("no export can be read yet: %v", err), nil
	case len(exports) == 0:
		return fmt.Sprintf("no complete export (%s with its %s marker) in %s yet", cfg.pattern, cfg.marker, cfg.dir), nil
	}
	f, err := os.Open(filepath.Join(cfg.dir, exports[0].name))
	if err != nil {
		return fmt.Sprintf("newest export %s: %v", exports[0].name, err), nil
	}
	defer f.Close()
	cr, err := openCSV(f)
	if err == nil {
		_, err = cfg.layout.readHeader(cr)
	}
	if err != nil {
		return fmt.Sprintf("newest export %s would be rejected: %v", exports[0].name, err), nil
	}
	return "", nil
}
