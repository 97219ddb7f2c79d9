package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
)

// SliceFormat names the format of an exported slice (docs/audit.md, "Exported slices").
const SliceFormat = "pudong-gateway-audit-slice-v1"

// Slice is a verifiable part of the audit trail for an inspector: the events of a time
// window, extended on each chain to the first checkpoint at or after its end, with the
// checkpoints and the public keys that signed them. VerifySlice checks it alone.
type Slice struct {
	Format      string               `json:"format"`
	From        time.Time            `json:"from"`
	To          time.Time            `json:"to"`
	PublicKeys  []string             `json:"publicKeys"` // PEM "PUBLIC KEY" blocks
	Checkpoints []Checkpoint         `json:"checkpoints"`
	Events      []gateway.AuditEvent `json:"events"` // by chain, then Seq
}

// ErrNotCovered is returned by Export when events of the window come after the latest
// checkpoint of their chain: no signature covers them yet.
var ErrNotCovered = errors.New("events of the window are not covered by a checkpoint yet")

// Export collects the slice of [from, to) from s: per chain, the events from the first
// one at or after from up to the first valid checkpoint at or after the last one before
// to. keys must hold every key that signed those checkpoints; they are exported too.
func Export(ctx context.Context, s Scanner, a *Anchors, keys KeySet, from, to time.Time) (*Slice, error) {
	if !to.After(from) {
		return nil, errors.New("export: --to must be after --from")
	}
	type span struct {
		events []gateway.AuditEvent
		lastIn int64 // Seq of the last event inside the window
		done   bool  // past the window and at a checkpoint
	}
	spans := map[string]*span{}
	err := s.ScanAudit(ctx, func(e gateway.AuditEvent) error {
		in := !e.At.Before(from) && e.At.Before(to)
		sp := spans[e.Chain]
		if sp == nil {
			if !in {
				return nil
			}
			sp = &span{}
			spans[e.Chain] = sp
		}
		if sp.done {
			return nil
		}
		sp.events = append(sp.events, e)
		if in {
			sp.lastIn = e.Seq
		}
		// The span ends at the first checkpoint once the window is over.
		sp.done = !e.At.Before(to) && isCheckpoint(a.valid[e.Chain], e.Seq)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	out := &Slice{Format: SliceFormat, From: from.UTC(), To: to.UTC(), Events: []gateway.AuditEvent{}, Checkpoints: []Checkpoint{}}
	chains := make([]string, 0, len(spans))
	for c := range spans {
		chains = append(chains, c)
	}
	sort.Strings(chains)
	usedKeys := map[string]bool{}
	for _, chain := range chains {
		sp := spans[chain]
		// Without a checkpoint after the window, what follows the window goes: the
		// check below then says whether the window itself is covered.
		if !sp.done {
			n := len(sp.events)
			for n > 0 && sp.events[n-1].Seq > sp.lastIn {
				n--
			}
			sp.events = sp.events[:n]
		}
		last := sp.events[len(sp.events)-1].Seq
		if !isCheckpoint(a.valid[chain], last) {
			return nil, fmt.Errorf("export: chain %q: %w (last event seq %d); wait for the next checkpoint", chain, ErrNotCovered, last)
		}
		out.Events = append(out.Events, sp.events...)
		for _, cp := range a.valid[chain] {
			if cp.Seq >= sp.events[0].Seq && cp.Seq <= last {
				out.Checkpoints = append(out.Checkpoints, cp)
				usedKeys[cp.KeyID] = true
			}
		}
	}
	kids := make([]string, 0, len(usedKeys))
	for k := range usedKeys {
		kids = append(kids, k)
	}
	sort.Strings(kids)
	for _, kid := range kids {
		pub, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("export: no public key %s for the checkpoints", kid)
		}
		out.PublicKeys = append(out.PublicKeys, string(EncodePublicKey(pub)))
	}
	return out, nil
}

func isCheckpoint(cps []Checkpoint, seq int64) bool {
	for _, cp := range cps {
		if cp.Seq == seq {
			return true
		}
	}
	return false
}

// ScanAudit makes a Slice a Scanner: its events in order.
func (s *Slice) ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error {
	for _, e := range s.Events {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Keys is the key set of the slice's public keys.
func (s *Slice) Keys() (KeySet, error) {
	ks := KeySet{}
	if err := ks.ParsePublicKeys([]byte(strings.Join(s.PublicKeys, ""))); err != nil {
		return nil, fmt.Errorf("slice public keys: %w", err)
	}
	return ks, nil
}

// VerifySlice checks an exported slice with the keys it carries (and, when trusted is
// not nil, only those of them the trusted set also holds): every hash and link, every
// checkpoint's signature, and that each chain's last event is a signed checkpoint, which
// proves every event before it. Events after the last checkpoint are reported in
// Uncovered and make the report fail.
func VerifySlice(ctx context.Context, s *Slice, trusted KeySet) (Report, error) {
	if s.Format != SliceFormat {
		return Report{}, fmt.Errorf("not an audit slice: format %q, want %q", s.Format, SliceFormat)
	}
	keys, err := s.Keys()
	if err != nil {
		return Report{}, err
	}
	if trusted != nil {
		for kid, pub := range keys {
			if t, ok := trusted[kid]; !ok || !ed25519.PublicKey(t).Equal(pub) {
				delete(keys, kid)
			}
		}
	}
	a := &Anchors{valid: map[string][]Checkpoint{}}
	for _, cp := range s.Checkpoints {
		if b := checkSignature(cp, keys, "the slice"); b != nil {
			a.problems = append(a.problems, *b)
			continue
		}
		a.valid[cp.Chain] = append(a.valid[cp.Chain], cp)
	}
	for c := range a.valid {
		sort.Slice(a.valid[c], func(i, j int) bool { return a.valid[c][i].Seq < a.valid[c][j].Seq })
	}
	rep, err := verify(ctx, s, a, true)
	if err != nil {
		return rep, err
	}
	for _, c := range rep.Chains {
		if rep.Broken == nil && c.Uncovered > 0 {
			rep.Broken = &Break{Chain: c.Chain, Seq: c.LastSeq - c.Uncovered + 1, Kind: MissingCheckpoint,
				Expected: "a checkpoint at the slice's last event", Found: fmt.Sprintf("%d events after the last one", c.Uncovered)}
		}
	}
	return rep, nil
}
