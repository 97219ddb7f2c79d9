package sqlstore

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"pudong.gov.cn/gateway"
)

// blockVersion opens every encoded block, so that a later encoding is a new version and
// old blocks stay readable. Version 1 (every field of every event written out) is still
// read; blocks are written in version 2.
const (
	blockVersion1 = 1
	blockVersion  = 2
)

// EncodeBlock writes consecutive events of one chain as one audit block: the row format
// of audit_blocks.events. One row per append instead of one per event is what makes the
// audit cheap (docs/PERFORMANCE.md); the format is documented here so that a tool
// outside the gateway can read the chain from the database.
//
// A block (version 2) is the byte 2, a flags byte (1: the events' hashes are present;
// a journal record's block, EncodeRecord, has 0), then per event, in Seq order (the
// first event's Seq is the row's first_seq, each next one is one more):
//
//	mask      uvarint: bit i (0–10) says string field i below differs from the previous
//	          event's in the block (for the first event: is not empty); bit 11 says the
//	          event's PrevHash is written
//	At        Unix microseconds minus the previous event's (0 for the first),
//	          varint (zig-zag, encoding/binary)
//	the string fields whose bit is set, in this order, each a uvarint length and the
//	          UTF-8 bytes: 0 Consumer, 1 EndUser, 2 Purpose, 3 RequestID,
//	          4 ClientRequestID, 5 TraceID, 6 Code, 7 Owner, 8 Subject, 9 Decision,
//	          10 GrantID; a field whose bit is clear is the previous event's
//	PrevHash  when bit 11 is set: a uvarint length and the raw bytes of the hex digest
//	          (0 for the empty PrevHash of a chain's first event). When it is clear,
//	          PrevHash is the previous event's Hash. The encoder sets it for the first
//	          event and for any event not linked to the one before it.
//	Hash      when the flags say so: a uvarint length and the raw bytes (32 for SHA-256)
//
// An answer's events share their caller, purpose, request and subject, so most of an
// event is its code and its hash. Version 1, written before, is the byte 1, then per
// event At (absolute) and all eleven string fields, PrevHash and Hash, each as above,
// with both hashes empty in a journal record.
func EncodeBlock(dst []byte, events []gateway.AuditEvent) ([]byte, error) {
	return encodeEvents(dst, events, true)
}

// encodedSize is about the bytes of one event in a block (with its hashes), to size
// the buffer once.
const encodedSize = 64

const (
	stringFields = 11        // the string fields of an encoded event, Consumer to GrantID
	maskPrevHash = 1 << 11   // the mask's bit for a written PrevHash
	flagHashes   = byte(0x1) // the flags byte's bit for present hashes
)

// strings returns e's string fields in the encoded order.
func eventStrings(e *gateway.AuditEvent) [stringFields]string {
	return [...]string{e.Consumer, e.EndUser, e.Purpose, e.RequestID, e.ClientRequestID, e.TraceID,
		e.Code, e.Owner, e.Subject, string(e.Decision), e.GrantID}
}

// encodeEvents writes a block of events; without hashes none is written, as a journal
// record holds its events before the chain assigns them (EncodeRecord).
func encodeEvents(dst []byte, events []gateway.AuditEvent, withHashes bool) ([]byte, error) {
	dst = slices.Grow(dst, 2+len(events)*encodedSize)
	flags := byte(0)
	if withHashes {
		flags = flagHashes
	}
	dst = append(dst, blockVersion, flags)
	var prev [stringFields]string
	var prevAt int64
	prevHash := ""
	for i := range events {
		e := &events[i]
		cur := eventStrings(e)
		mask := uint64(0)
		for f := range cur {
			if cur[f] != prev[f] {
				mask |= 1 << f
			}
		}
		if withHashes && (i == 0 || e.PrevHash != prevHash) {
			mask |= maskPrevHash
		}
		dst = binary.AppendUvarint(dst, mask)
		at := e.At.UnixMicro()
		dst = binary.AppendVarint(dst, at-prevAt)
		for f := range cur {
			if mask&(1<<f) != 0 {
				dst = binary.AppendUvarint(dst, uint64(len(cur[f])))
				dst = append(dst, cur[f]...)
			}
		}
		prev, prevAt = cur, at
		if !withHashes {
			continue
		}
		var err error
		if mask&maskPrevHash != 0 {
			if dst, err = appendHash(dst, e.PrevHash); err != nil {
				return nil, fmt.Errorf("event %d: previous hash %q is not hex: %w", e.Seq, e.PrevHash, err)
			}
		}
		if dst, err = appendHash(dst, e.Hash); err != nil {
			return nil, fmt.Errorf("event %d: hash %q is not hex: %w", e.Seq, e.Hash, err)
		}
		prevHash = e.Hash
	}
	return dst, nil
}

// appendHash writes a hex digest as a uvarint length and its raw bytes.
func appendHash(dst []byte, h string) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(h)/2))
	return hex.AppendDecode(dst, []byte(h))
}

// The fields of an encoded event after At, in EncodeBlock's order.
const (
	fConsumer = iota
	fEndUser
	fPurpose
	fRequestID
	fClientRequestID
	fTraceID
	fCode
	fOwner
	fSubject
	fDecision
	fGrantID
	fPrevHash
	fHash
	fields // how many
)

var errShortBlock = errors.New("audit block ends inside an event")

// DecodeBlock calls fn for each event of a block written by EncodeBlock, with Chain and
// Seq filled in from the row (chain, firstSeq). An error from fn stops it and is
// returned as is.
func DecodeBlock(chain string, firstSeq int64, b []byte, fn func(gateway.AuditEvent) error) error {
	return decodeBlock(chain, firstSeq, b, nil, fn)
}

// keepFunc tells decodeBlock, from an event's code, owner and subject as stored, whether
// the event is wanted.
type keepFunc func(code, owner, subject []byte) bool

// decodeBlock is DecodeBlock for the events keep wants (nil: all). The others are
// stepped over without building them: most events of a block an owner's query reads
// are another owner's, or about another person.
func decodeBlock(chain string, firstSeq int64, b []byte, keep keepFunc, fn func(gateway.AuditEvent) error) error {
	switch {
	case len(b) > 0 && b[0] == blockVersion1:
		return decodeBlock1(chain, firstSeq, b[1:], keep, fn)
	case len(b) > 1 && b[0] == blockVersion && b[1]&^flagHashes == 0:
		return decodeBlock2(chain, firstSeq, b[2:], b[1]&flagHashes != 0, keep, fn)
	}
	return fmt.Errorf("audit block of chain %q at seq %d: unknown format", chain, firstSeq)
}

// blockReader reads the parts of an encoded block, remembering the first error.
type blockReader struct {
	b   []byte
	err error
}

func (r *blockReader) varint() int64 { return readVarint(r, binary.Varint) }

func (r *blockReader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

// readVarint reads one number with decode (binary.Varint or binary.Uvarint).
func readVarint[T int64 | uint64](r *blockReader, decode func([]byte) (T, int)) T {
	v, k := decode(r.b)
	if k <= 0 {
		r.err = errShortBlock
		return 0
	}
	r.b = r.b[k:]
	return v
}

// bytes reads a uvarint length and that many bytes.
func (r *blockReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.err = errShortBlock
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// event builds the event from its encoded fields.
func event(chain string, seq, at int64, f *[fields][]byte) gateway.AuditEvent {
	return gateway.AuditEvent{Chain: chain, Seq: seq, At: time.UnixMicro(at).UTC(),
		Consumer: string(f[fConsumer]), EndUser: string(f[fEndUser]), Purpose: string(f[fPurpose]),
		RequestID: string(f[fRequestID]), ClientRequestID: string(f[fClientRequestID]), TraceID: string(f[fTraceID]),
		Code: string(f[fCode]), Owner: string(f[fOwner]), Subject: string(f[fSubject]),
		Decision: gateway.Outcome(f[fDecision]), GrantID: string(f[fGrantID]),
		PrevHash: hex.EncodeToString(f[fPrevHash]), Hash: hex.EncodeToString(f[fHash])}
}

func decodeBlock2(chain string, firstSeq int64, b []byte, hashes bool, keep keepFunc, fn func(gateway.AuditEvent) error) error {
	r := blockReader{b: b}
	var f [fields][]byte
	var at int64
	for seq := firstSeq; len(r.b) > 0; seq++ {
		mask := r.uvarint()
		at += r.varint()
		for i := range stringFields {
			if mask&(1<<i) != 0 {
				f[i] = r.bytes()
			}
		}
		if hashes {
			if mask&maskPrevHash != 0 {
				f[fPrevHash] = r.bytes()
			} else {
				f[fPrevHash] = f[fHash]
			}
			f[fHash] = r.bytes()
		}
		if r.err != nil || mask >= maskPrevHash<<1 || (!hashes && mask&maskPrevHash != 0) {
			return fmt.Errorf("audit block of chain %q, seq %d: %w", chain, seq, cmp.Or(r.err, errBadMask))
		}
		if keep != nil && !keep(f[fCode], f[fOwner], f[fSubject]) {
			continue
		}
		if err := fn(event(chain, seq, at, &f)); err != nil {
			return err
		}
	}
	return nil
}

var errBadMask = errors.New("audit block event has an unknown field bit")

func decodeBlock1(chain string, firstSeq int64, b []byte, keep keepFunc, fn func(gateway.AuditEvent) error) error {
	r := blockReader{b: b}
	var f [fields][]byte
	for seq := firstSeq; len(r.b) > 0; seq++ {
		at := r.varint()
		for i := range f {
			f[i] = r.bytes()
		}
		if r.err != nil {
			return fmt.Errorf("audit block of chain %q, seq %d: %w", chain, seq, r.err)
		}
		if keep != nil && !keep(f[fCode], f[fOwner], f[fSubject]) {
			continue
		}
		if err := fn(event(chain, seq, at, &f)); err != nil {
			return err
		}
	}
	return nil
}
