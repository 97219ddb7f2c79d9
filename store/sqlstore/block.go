package sqlstore

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"pudong.gov.cn/gateway"
)

// blockVersion opens every encoded block, so that a later encoding is a new version and
// old blocks stay readable.
const blockVersion = 1

// EncodeBlock writes consecutive events of one chain as one audit block: the row format
// of audit_blocks.events. One row per append instead of one per event is what makes the
// audit cheap (docs/PERFORMANCE.md); the format is documented here so that a tool
// outside the gateway can read the chain from the database.
//
// A block is the byte blockVersion (1), then per event, in Seq order (the first event's
// Seq is the row's first_seq, each next one is one more):
//
//	At        Unix microseconds, varint (zig-zag, encoding/binary)
//	Consumer, EndUser, Purpose, RequestID, ClientRequestID, TraceID, Code, Owner,
//	Subject, Decision, GrantID
//	          each a uvarint length and the UTF-8 bytes
//	PrevHash, Hash
//	          each a uvarint length and the raw bytes of the hex digest (32 for SHA-256,
//	          0 for the empty PrevHash of a chain's first event)
func EncodeBlock(dst []byte, events []gateway.AuditEvent) ([]byte, error) {
	return encodeEvents(dst, events, true)
}

// encodedSize is about the bytes of one event in a block (with its hashes), to size
// the buffer once.
const encodedSize = 240

// encodeEvents writes a block of events; without hashes both are written empty, as a
// journal record holds its events before the chain assigns them (EncodeRecord).
func encodeEvents(dst []byte, events []gateway.AuditEvent, withHashes bool) ([]byte, error) {
	dst = slices.Grow(dst, 1+len(events)*encodedSize)
	dst = append(dst, blockVersion)
	for i := range events {
		e := &events[i]
		dst = binary.AppendVarint(dst, e.At.UnixMicro())
		for _, s := range [...]string{e.Consumer, e.EndUser, e.Purpose, e.RequestID, e.ClientRequestID, e.TraceID,
			e.Code, e.Owner, e.Subject, string(e.Decision), e.GrantID} {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
		if !withHashes {
			dst = append(dst, 0, 0)
			continue
		}
		for _, h := range [...]string{e.PrevHash, e.Hash} {
			dst = binary.AppendUvarint(dst, uint64(len(h)/2))
			var err error
			if dst, err = hex.AppendDecode(dst, []byte(h)); err != nil {
				return nil, fmt.Errorf("event %d: hash %q is not hex: %w", e.Seq, h, err)
			}
		}
	}
	return dst, nil
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
	if len(b) == 0 || b[0] != blockVersion {
		return fmt.Errorf("audit block of chain %q at seq %d: unknown format", chain, firstSeq)
	}
	b = b[1:]
	var f [fields][]byte
	for seq := firstSeq; len(b) > 0; seq++ {
		at, k := binary.Varint(b)
		if k <= 0 {
			return fmt.Errorf("audit block of chain %q, seq %d: %w", chain, seq, errShortBlock)
		}
		b = b[k:]
		for i := range f {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return fmt.Errorf("audit block of chain %q, seq %d: %w", chain, seq, errShortBlock)
			}
			f[i], b = b[k:k+int(n)], b[k+int(n):]
		}
		if keep != nil && !keep(f[fCode], f[fOwner], f[fSubject]) {
			continue
		}
		e := gateway.AuditEvent{Chain: chain, Seq: seq, At: time.UnixMicro(at).UTC(),
			Consumer: string(f[fConsumer]), EndUser: string(f[fEndUser]), Purpose: string(f[fPurpose]),
			RequestID: string(f[fRequestID]), ClientRequestID: string(f[fClientRequestID]), TraceID: string(f[fTraceID]),
			Code: string(f[fCode]), Owner: string(f[fOwner]), Subject: string(f[fSubject]),
			Decision: gateway.Outcome(f[fDecision]), GrantID: string(f[fGrantID]),
			PrevHash: hex.EncodeToString(f[fPrevHash]), Hash: hex.EncodeToString(f[fHash])}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
