// Package federation is the layer between the resolvers and the protocol adapters: one
// Department per bound system, which splits keys into the system's batch size, bounds
// concurrent calls, applies timeouts and turns failures into SourceErrors; and the
// per-request loaders that batch a request's lookups into as few calls as possible.
package federation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// Error codes that reach GraphQL clients in extensions.code.
const (
	CodeSourceUnavailable = "SOURCE_UNAVAILABLE"
	CodeSourceError       = "SOURCE_ERROR"
)

// SourceError is a department failure as clients see it: on that department's fields
// only, with the department named.
type SourceError struct {
	Department string
	Code       string // CodeSourceUnavailable or CodeSourceError
	Err        error
}

func (e *SourceError) Error() string {
	if e.Code == CodeSourceError {
		return fmt.Sprintf("department %s answered with data the gateway cannot read; its fields are unavailable for now", e.Department)
	}
	return fmt.Sprintf("department %s is unavailable; its fields are missing from this answer, try again later", e.Department)
}

func (e *SourceError) Unwrap() error { return e.Err }

// Department is one department system behind its adapter, with the protections every
// protocol shares.
type Department struct {
	ID      string
	Name    string
	cfg     config.Department
	src     adapters.Source
	timeout time.Duration
	sem     chan struct{}
}

// Defaults for a binding that does not say.
const (
	DefaultTimeout     = 3 * time.Second
	DefaultConcurrency = 8
)

// NewDepartment wraps an adapter with the binding's limits.
func NewDepartment(cfg config.Department, src adapters.Source) *Department {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	return &Department{ID: cfg.ID, Name: cfg.Name, cfg: cfg, src: src, timeout: timeout, sem: make(chan struct{}, conc)}
}

// Source returns the adapter, for tests and for operations that need its own API.
func (d *Department) Source() adapters.Source { return d.src }

func (d *Department) batchSize(op string) int {
	if n := d.cfg.Operations[op].Batch; n > 0 {
		return n
	}
	return 1
}

// HasOperation reports whether the binding defines op.
func (d *Department) HasOperation(op string) bool {
	_, ok := d.cfg.Operations[op]
	return ok
}

// Fetch looks keys up with op: in chunks of the operation's batch size, at most the
// binding's concurrency at once, each call bounded by the timeout. Keys the department
// does not know are absent from the result. Any failed chunk fails the whole fetch with
// a *SourceError, since callers cannot tell a missing key from a failed one otherwise.
func (d *Department) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	if len(keys) == 0 {
		return map[string][]adapters.Record{}, nil
	}
	size := d.batchSize(op)
	if len(keys) <= size {
		return d.call(ctx, op, keys)
	}
	var (
		mu       sync.Mutex
		out      = make(map[string][]adapters.Record, len(keys))
		firstErr error
		wg       sync.WaitGroup
	)
	for start := 0; start < len(keys); start += size {
		chunk := keys[start:min(start+size, len(keys))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := d.call(ctx, op, chunk)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for k, v := range got {
				out[k] = v
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// call makes one upstream call inside the bulkhead and the timeout.
func (d *Department) call(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, d.wrap(fmt.Errorf("%w: waiting for a free connection: %w", adapters.ErrUnavailable, ctx.Err()))
	}
	defer func() { <-d.sem }()
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	got, err := d.src.Fetch(ctx, op, keys)
	if err != nil {
		return nil, d.wrap(err)
	}
	return got, nil
}

// Page lists one page of op's records for key.
func (d *Department) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	p, ok := d.src.(adapters.Pager)
	if !ok {
		return adapters.Page{}, fmt.Errorf("department %s cannot list records page by page", d.ID)
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return adapters.Page{}, d.wrap(fmt.Errorf("%w: %w", adapters.ErrUnavailable, ctx.Err()))
	}
	defer func() { <-d.sem }()
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	page, err := p.Page(ctx, op, key, offset, limit)
	if err != nil {
		return adapters.Page{}, d.wrap(err)
	}
	return page, nil
}

func (d *Department) wrap(err error) error {
	code := CodeSourceUnavailable
	if errors.Is(err, adapters.ErrBadResponse) {
		code = CodeSourceError
	}
	return &SourceError{Department: d.ID, Code: code, Err: err}
}
