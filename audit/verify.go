package audit

import (
	"context"
	"errors"
	"fmt"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// Report is the outcome of checking the audit hash chain.
type Report struct {
	Checked  int64  // events read, up to and including the first broken one
	LastSeq  int64  // Seq of the last event read
	LastHash string // stored Hash of the last event read: anchor it elsewhere to detect truncation later
	Broken   *Break // the first broken link; nil when the chain is intact
}

// OK reports whether the chain checked out.
func (r Report) OK() bool { return r.Broken == nil }

// BreakKind says how a link of the chain is broken.
type BreakKind string

// The ways a chain breaks: an event altered after it was written (its hash no longer
// matches its fields), an event missing or inserted (a gap or repeat in Seq), or a link
// rewritten (PrevHash is not the previous event's Hash).
const (
	HashMismatch     BreakKind = "hash mismatch"
	SeqGap           BreakKind = "seq gap"
	PrevHashMismatch BreakKind = "prev hash mismatch"
)

// Break describes the first broken link found.
type Break struct {
	Seq      int64 // the event at which the chain breaks
	Kind     BreakKind
	Expected string // what an intact chain has there (a hash, or the expected Seq)
	Found    string // what is stored
}

func (b *Break) String() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s: expected %s, found %s", b.Seq, b.Kind, b.Expected, b.Found)
}

// errStop ends a scan at the first break; it never leaves Verify.
var errStop = errors.New("stop")

// Verify recomputes every hash of the chain in Seq order and reports the first broken
// link. A broken chain is a finding, not an error: the error is for failing to read the
// chain at all.
//
// The chain proves that no event was altered, removed or inserted before the last one;
// removing events from the end leaves a shorter intact chain, which only a LastHash
// recorded elsewhere (a log, a signed daily digest) can reveal.
func Verify(ctx context.Context, s store.Store) (Report, error) {
	var rep Report
	prev, chain, n := "", "", int64(0)
	err := s.ScanAudit(ctx, func(e gateway.AuditEvent) error {
		// ScanAudit gives the chains one after another; each starts afresh.
		if e.Chain != chain || rep.Checked == 0 {
			prev, chain, n = "", e.Chain, 0
		}
		rep.Checked++
		n++
		rep.LastSeq, rep.LastHash = e.Seq, e.Hash
		want := n // Seq counts from 1 without gaps, per chain
		switch {
		case e.Seq != want:
			rep.Broken = &Break{Seq: e.Seq, Kind: SeqGap, Expected: fmt.Sprint(want), Found: fmt.Sprint(e.Seq)}
		case e.PrevHash != prev:
			rep.Broken = &Break{Seq: e.Seq, Kind: PrevHashMismatch, Expected: prev, Found: e.PrevHash}
		default:
			if h := e.ComputeHash(); h != e.Hash {
				rep.Broken = &Break{Seq: e.Seq, Kind: HashMismatch, Expected: h, Found: e.Hash}
			}
		}
		if rep.Broken != nil {
			return errStop
		}
		prev = e.Hash
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, fmt.Errorf("verify audit chain: %w", err)
	}
	return rep, nil
}
