// Package csvdrop adapts department systems that publish batch exports as CSV files
// dropped into a directory, each made complete by a marker file (shebao_20261127.csv is
// ready once shebao_20261127.csv.done exists). The adapter indexes the newest complete
// export in memory and answers lookups from it; a newer export is parsed and indexed off
// to the side and swapped in atomically, so lookups never wait and never see a
// half-built index. A malformed export is rejected whole and the previous one keeps
// serving.
//
// Everything department-specific comes from the binding: the directory (Dir), the field
// map and code tables, and per operation the params keyColumn (the legacy column the
// operation is keyed by), pattern (a glob of export names), marker (default ".done") and
// poll (default 2s).
package csvdrop

import (
	"context"
	"errors"
	"fmt"
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
	rejected atomic.Int64

	scanMu  sync.Mutex          // one scan at a time: the poller's or Rescan's
	bad     map[fileID]struct{} // rejected exports, not parsed again; guarded by scanMu
	lastErr string              // last scan failure logged, to log each only once; guarded by scanMu

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ adapters.Source = (*Source)(nil)
	_ adapters.Pager  = (*Source)(nil)
)

// fileID tells one version of an export file from another: an export rewritten under the
// same name is a new export, and a rejected one is not parsed again until it changes.
type fileID struct {
	name    string
	size    int64
	modTime time.Time
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
		bad:  map[fileID]struct{}{},
		done: make(chan struct{}),
	}
	if err := s.Rescan(ctx); err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("csvdrop %s: %w", cfg.dept, err)
	}
	if s.current.Load() == nil {
		s.log.Warn("csvdrop: no complete export yet; lookups are unavailable until one arrives",
			"dir", cfg.dir, "pattern", cfg.pattern, "marker", cfg.marker)
	}
	pollCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.poll(pollCtx)
	return s, nil
}

// Close stops watching the directory and waits for a scan in progress to end. Lookups
// keep answering from the export in memory.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
	})
	return nil
}

func (s *Source) poll(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Rescan logs what went wrong; the poller simply tries again next tick.
			_ = s.Rescan(ctx)
		}
	}
}

// Fetch looks keys up in the current export. Keys the export does not hold are absent
// from the result.
func (s *Source) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	rows, e, err := s.lookup(ctx, op)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]adapters.Record, len(keys))
	for _, k := range keys {
		if _, done := out[k]; done {
			continue
		}
		hits := rows[k]
		if len(hits) == 0 {
			continue
		}
		recs := make([]adapters.Record, len(hits))
		for i, r := range hits {
			recs[i] = e.record(s.cfg.layout.fields, r)
		}
		out[k] = recs
	}
	return out, nil
}

// Page lists the records of one key page by page, in export order, for keys that may
// hold many records (an employer's insured staff).
func (s *Source) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	rows, e, err := s.lookup(ctx, op)
	if err != nil {
		return adapters.Page{}, err
	}
	hits := rows[key]
	p := adapters.Page{Total: len(hits)}
	if offset < 0 || limit <= 0 || offset >= len(hits) {
		return p, nil
	}
	for _, r := range hits[offset:min(offset+limit, len(hits))] {
		p.Records = append(p.Records, e.record(s.cfg.layout.fields, r))
	}
	return p, nil
}

// lookup returns op's index in the current export. Reading the pointer once is what
// keeps a call on one export even if a swap happens meanwhile.
func (s *Source) lookup(ctx context.Context, op string) (map[string][]int32, *export, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w: %w", s.cfg.dept, op, adapters.ErrUnavailable, err)
	}
	e := s.current.Load()
	if e == nil {
		return nil, nil, fmt.Errorf("%s %s: no complete export in %s yet: %w",
			s.cfg.dept, op, s.cfg.dir, adapters.ErrUnavailable)
	}
	rows, ok := e.index[op]
	if !ok {
		return nil, nil, fmt.Errorf("%s %s: operation is not configured: %w", s.cfg.dept, op, adapters.ErrUnavailable)
	}
	return rows, e, nil
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

// Rejected counts the malformed exports rejected since Open, each counted once.
func (s *Source) Rejected() int64 { return s.rejected.Load() }

// Rescan looks for a newer complete export now, instead of at the next poll, and swaps
// it in before returning if it is well formed. It returns an error only when the scan
// could not run (the directory cannot be read, ctx ended); a rejected export is logged
// and counted, not returned.
func (s *Source) Rescan(ctx context.Context) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	err := s.scan(ctx)
	if err != nil && ctx.Err() == nil {
		if msg := err.Error(); msg != s.lastErr {
			s.log.Error("csvdrop: scan failed; serving the previous export", "dir", s.cfg.dir, "err", err)
			s.lastErr = msg
		}
	} else if err == nil {
		s.lastErr = ""
	}
	return err
}

// scan tries the complete exports newer than the current one, newest first, and keeps
// the first that loads. Export names carry their date, so name order is age order.
func (s *Source) scan(ctx context.Context) error {
	candidates, err := s.complete()
	if err != nil {
		return err
	}
	for id := range s.bad {
		if !slices.Contains(candidates, id) {
			delete(s.bad, id) // gone or changed: forget it, so the set stays small
		}
	}
	cur := s.current.Load()
	for _, id := range candidates {
		if cur != nil && (id.name < cur.id.name || id == cur.id) {
			return nil
		}
		if _, ok := s.bad[id]; ok {
			continue
		}
		start := time.Now()
		e, err := s.load(ctx, id, cur)
		if err == nil {
			e.loadedAt = time.Now()
			s.current.Store(e)
			s.log.Info("csvdrop: export loaded", "file", id.name, "rows", e.rows,
				"took", e.loadedAt.Sub(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if m, ok := errors.AsType[*malformedError](err); ok {
			s.bad[id] = struct{}{}
			s.rejected.Add(1)
			attrs := []any{"file", id.name, "err", m.err}
			if m.line > 0 {
				attrs = append(attrs, "line", m.line)
			}
			s.log.Error("csvdrop: export rejected; the previous export keeps serving", attrs...)
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we looked: not an export any more
		}
		return err
	}
	return nil
}

// complete lists the complete exports in the directory, newest first.
func (s *Source) complete() ([]fileID, error) {
	entries, err := os.ReadDir(s.cfg.dir)
	if err != nil {
		return nil, fmt.Errorf("list exports: %w", err)
	}
	names := make(map[string]bool, len(entries))
	for _, de := range entries {
		names[de.Name()] = true
	}
	var out []fileID
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() || strings.HasSuffix(name, s.cfg.marker) || !names[name+s.cfg.marker] {
			continue
		}
		if ok, _ := filepath.Match(s.cfg.pattern, name); !ok {
			continue
		}
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list exports: %w", err)
		}
		out = append(out, fileID{name, info.Size(), info.ModTime()})
	}
	slices.SortFunc(out, func(a, b fileID) int { return strings.Compare(b.name, a.name) })
	return out, nil
}

// load parses and indexes one export off to the side; the caller swaps it in.
func (s *Source) load(ctx context.Context, id fileID, prev *export) (*export, error) {
	f, err := os.Open(filepath.Join(s.cfg.dir, id.name))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", id.name, err)
	}
	defer f.Close()
	hint := 0
	if prev != nil {
		hint = prev.rows
	}
	e, err := s.cfg.layout.parse(ctx, f, hint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id.name, err)
	}
	e.id = id
	return e, nil
}
