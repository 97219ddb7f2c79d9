package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// Report is the outcome of checking the audit hash chains.
type Report struct {
	Checked  int64  // events read, up to and including the first broken one
	LastSeq  int64  // Seq of the last event read
	LastHash string // stored Hash of the last event read
	Broken   *Break // the first of Findings; nil when everything checks out
	// Findings are every problem found: the first broken link (the scan stops there),
	// then the checkpoints' own problems, then chains cut short or never checkpointed.
	Findings []Break
	// Chains reports each chain read, by name ("" is the default chain).
	Chains []ChainReport
	// Notes are what the reader should know that breaks nothing: a checkpoint line being
	// written, or torn by a crash, which proves nothing either way.
	Notes []string
}

// ChainReport is what verification found of one chain.
type ChainReport struct {
	Chain    string
	Events   int64  // events read of this chain
	LastSeq  int64  // Seq of its last event read
	LastHash string // stored Hash of its last event read
	// Checkpoint is the latest valid checkpoint of the chain the events matched; nil
	// when verification had none.
	Checkpoint *Checkpoint
	// Uncovered counts the events after Checkpoint: intact as far as the chain shows, but
	// no signature proves they were not cut off or re-hashed (docs/audit.md).
	Uncovered int64
}

// OK reports whether the chain checked out.
func (r Report) OK() bool { return r.Broken == nil }

// BreakKind says how a link of the chain, or its anchoring, is broken.
type BreakKind string

// The ways a chain breaks: an event altered after it was written (its hash no longer
// matches its fields), an event missing or inserted (a gap or repeat in Seq), or a link
// rewritten (PrevHash is not the previous event's Hash). The kinds after those need
// signed checkpoints (docs/audit.md): events cut off the tail, a chain rebuilt with
// recomputed hashes, a checkpoint whose signature does not verify, a checkpoint file
// missing or shortened.
const (
	HashMismatch      BreakKind = "hash mismatch"
	SeqGap            BreakKind = "seq gap"
	PrevHashMismatch  BreakKind = "prev hash mismatch"
	Truncated         BreakKind = "truncated"
	Rehashed          BreakKind = "rehashed"
	ForgedCheckpoint  BreakKind = "forged checkpoint"
	MissingCheckpoint BreakKind = "missing checkpoint"
	CheckpointGap     BreakKind = "checkpoint gap"
)

// Break describes the first broken link found.
type Break struct {
	Chain    string // the chain it is in ("" is the default chain)
	Seq      int64  // the first event not proven intact
	Kind     BreakKind
	Expected string // what an intact chain has there (a hash, or the expected Seq)
	Found    string // what is stored
}

func (b *Break) String() string {
	chain := ""
	if b.Chain != "" {
		chain = " of chain " + b.Chain
	}
	return fmt.Sprintf("audit chain broken at seq %d%s: %s: expected %s, found %s", b.Seq, chain, b.Kind, b.Expected, b.Found)
}

// errStop ends a scan at the first break; it never leaves Verify.
var errStop = errors.New("stop")

// Verify recomputes every hash of every chain in Seq order and reports the first broken
// link. A broken chain is a finding, not an error: the error is for failing to read the
// chain at all.
//
// The chain alone proves that no event was altered, removed or inserted before the last
// one; cutting events off the end, or rebuilding the chain with recomputed hashes, takes
// the signed checkpoints of VerifyAnchored to reveal.
func Verify(ctx context.Context, s store.Store) (Report, error) {
	return VerifyAnchored(ctx, s, nil)
}

// Scanner reads a chain's events in Seq order: a Store, or an exported Slice.
type Scanner interface {
	ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error
}

// chainState is the verification of one chain during the scan.
type chainState struct {
	rep      ChainReport
	base     int64 // Seq before the first event read: 0 unless partial
	prev     string
	v2       bool         // an event in the current format was seen: no v1 event may follow
	cps      []Checkpoint // valid checkpoints of the chain, ascending Seq
	next     int          // index of the next checkpoint to meet
	provenTo int64        // Seq of the last checkpoint matched
}

// VerifyAnchored is Verify against signed checkpoints: each checkpoint's event must be
// stored with the signed hash (else the chain was rebuilt: Rehashed), and every chain
// must reach its latest checkpoint (else its tail was cut off: Truncated). With a
// non-nil Anchors, a chain that has events but no checkpoint is reported as
// MissingCheckpoint, and so are the problems the checkpoints' reading found.
func VerifyAnchored(ctx context.Context, s Scanner, a *Anchors) (Report, error) {
	return verify(ctx, s, a, false)
}

// verify checks the chains s reads against a. With partial, each chain may start at any
// Seq, linked to whatever PrevHash its first event has (an exported slice): the
// checkpoint at its end still proves every event before it, as each hash covers the
// previous one.
func verify(ctx context.Context, s Scanner, a *Anchors, partial bool) (Report, error) {
	var rep Report
	chains := map[string]*chainState{}
	var order []string
	get := func(name string) *chainState {
		c, ok := chains[name]
		if !ok {
			c = &chainState{rep: ChainReport{Chain: name}}
			if a != nil {
				c.cps = a.valid[name]
			}
			chains[name] = c
			order = append(order, name)
		}
		return c
	}
	if a != nil {
		for name := range a.valid {
			get(name)
		}
	}
	err := s.ScanAudit(ctx, func(e gateway.AuditEvent) error {
		c := get(e.Chain)
		if partial && c.rep.Events == 0 {
			c.startAt(e)
		}
		rep.Checked++
		c.rep.Events++
		rep.LastSeq, rep.LastHash = e.Seq, e.Hash
		c.rep.LastSeq, c.rep.LastHash = e.Seq, e.Hash
		rep.Broken = c.link(e)
		if rep.Broken == nil {
			rep.Broken = c.meetCheckpoints(e)
		}
		if rep.Broken != nil {
			rep.Broken.Chain = e.Chain
			return errStop
		}
		c.prev = e.Hash
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, fmt.Errorf("verify audit chain: %w", err)
	}
	if rep.Broken != nil {
		rep.Findings = append(rep.Findings, *rep.Broken)
	}
	if a != nil {
		rep.Findings = append(rep.Findings, a.problems...)
		rep.Notes = a.notes
	}
	sort.Strings(order)
	for _, name := range order {
		c := chains[name]
		c.rep.Uncovered = c.rep.LastSeq - c.provenTo
		rep.Chains = append(rep.Chains, c.rep)
		if a == nil || (rep.Broken != nil && rep.Broken.Chain == name) {
			continue
		}
		if f := c.anchorFinding(); f != nil {
			rep.Findings = append(rep.Findings, *f)
		}
	}
	if rep.Broken == nil && len(rep.Findings) > 0 {
		rep.Broken = &rep.Findings[0]
	}
	return rep, nil
}

// startAt makes a partial chain start at e, linked to whatever PrevHash e has;
// the checkpoints before it prove nothing read here.
func (c *chainState) startAt(e gateway.AuditEvent) {
	c.base, c.prev, c.provenTo = e.Seq-1, e.PrevHash, e.Seq-1
	for c.next < len(c.cps) && c.cps[c.next].Seq <= c.base {
		c.next++
	}
}

// link checks that e, the chain's latest event (already counted), follows the
// one before it: the next Seq, its hash as PrevHash, and a hash of its own
// that covers it.
func (c *chainState) link(e gateway.AuditEvent) *Break {
	want := c.base + c.rep.Events // Seq counts from 1 without gaps in each chain
	switch {
	case e.Seq != want:
		return &Break{Seq: e.Seq, Kind: SeqGap, Expected: fmt.Sprint(want), Found: fmt.Sprint(e.Seq)}
	case e.PrevHash != c.prev:
		return &Break{Seq: e.Seq, Kind: PrevHashMismatch, Expected: c.prev, Found: e.PrevHash}
	}
	h := e.ComputeHash()
	switch {
	case h == e.Hash:
		c.v2 = true
	case c.v2 || e.Chain != "" || e.ClientRequestID != "" || e.TraceID != "" || e.ComputeHashV1() != e.Hash:
		// v1 covers none of the fields that came with v2, so an event that has
		// them, or follows a v2 event, must be v2 (docs/audit.md).
		return &Break{Seq: e.Seq, Kind: HashMismatch, Expected: h, Found: e.Hash}
	}
	return nil
}

// meetCheckpoints moves past the checkpoints up to e, which must match the one
// signed at its Seq.
func (c *chainState) meetCheckpoints(e gateway.AuditEvent) *Break {
	for c.next < len(c.cps) && c.cps[c.next].Seq <= e.Seq {
		cp := c.cps[c.next]
		if cp.Seq == e.Seq && cp.Hash != e.Hash {
			// The chain is consistent with itself but not with what was signed: it
			// was rebuilt somewhere after the last checkpoint it still matches.
			return &Break{Seq: c.provenTo + 1, Kind: Rehashed,
				Expected: fmt.Sprintf("hash %s at seq %d (checkpoint of %s)", cp.Hash, cp.Seq, cp.At.Format(timeLayout)), Found: e.Hash}
		}
		c.provenTo = cp.Seq
		c.rep.Checkpoint = &c.cps[c.next]
		c.next++
	}
	return nil
}

// anchorFinding reports a chain, read to its end, that stops short of its
// latest checkpoint (Truncated) or has events but no checkpoint at all.
func (c *chainState) anchorFinding() *Break {
	switch {
	case c.next < len(c.cps):
		last := c.cps[len(c.cps)-1]
		return &Break{Chain: c.rep.Chain, Seq: c.rep.LastSeq + 1, Kind: Truncated,
			Expected: fmt.Sprintf("events up to seq %d (checkpoint of %s)", last.Seq, last.At.Format(timeLayout)),
			Found:    fmt.Sprintf("the chain ends at seq %d", c.rep.LastSeq)}
	case len(c.cps) == 0 && c.rep.Events > 0:
		return &Break{Chain: c.rep.Chain, Seq: 1, Kind: MissingCheckpoint,
			Expected: "a signed checkpoint of the chain", Found: fmt.Sprintf("none for its %d events", c.rep.Events)}
	}
	return nil
}
