package gateway

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// The format tags open every hashed encoding, so that a change of the format is a new
// tag, never a silent reinterpretation of old chains. docs/audit.md documents both.
const (
	auditHashTagV1 = "pudong-gateway-audit-v1"
	auditHashTagV2 = "pudong-gateway-audit-v2"
)

// ComputeHash returns the hex SHA-256 that links e into the audit hash chain, in the
// current format (v2). The stored Hash of an intact event equals it (or, for events
// written before v2, ComputeHashV1), and the next event's PrevHash equals the stored
// Hash; `gateway audit verify` recomputes it, so the encoding below is a stable format,
// not an implementation detail (docs/audit.md, "The hash of an event").
//
// The hash input is a sequence of fields, each written as its length in bytes (8-byte
// unsigned big-endian) followed by its UTF-8 bytes, in this order:
//
//	"pudong-gateway-audit-v2" (format tag)
//	Chain      "" for the default chain
//	Seq        decimal, no sign or padding ("1", "42")
//	At         UTC, RFC 3339 with nanoseconds as Go's time.RFC3339Nano writes it
//	           (trailing zeros of the fraction dropped, "2026-11-27T03:04:05.123Z")
//	Consumer, EndUser, Purpose, RequestID, ClientRequestID, TraceID, Code, Owner, Subject
//	Decision   ALLOW, MASK or DENY
//	GrantID
//	PrevHash   lowercase hex, "" for the first event
//
// Every field of AuditEvent except Hash is an input. The length prefixes make the
// encoding unambiguous: no choice of field values can make two different events encode
// to the same bytes.
func (e *AuditEvent) ComputeHash() string {
	return e.hash(auditHashTagV2)
}

// ComputeHashV1 is the hash of the first format, which covers neither Chain,
// ClientRequestID nor TraceID. It is kept so that events written before v2 still
// verify; nothing writes it any more.
func (e *AuditEvent) ComputeHashV1() string {
	return e.hash(auditHashTagV1)
}

// hash builds the whole input in one buffer (on the stack for a usual event) and hashes
// it once: no allocation per field, and one pass of SHA-256 over contiguous bytes.
func (e *AuditEvent) hash(tag string) string {
	var stack [768]byte
	b := stack[:0]
	field := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	v2 := tag == auditHashTagV2
	field(tag)
	if v2 {
		field(e.Chain)
	}
	var num [20]byte
	field(string(strconv.AppendInt(num[:0], e.Seq, 10)))
	var at [40]byte
	field(string(e.At.UTC().AppendFormat(at[:0], time.RFC3339Nano)))
	field(e.Consumer)
	field(e.EndUser)
	field(e.Purpose)
	field(e.RequestID)
	if v2 {
		field(e.ClientRequestID)
		field(e.TraceID)
	}
	field(e.Code)
	field(e.Owner)
	field(e.Subject)
	field(string(e.Decision))
	field(e.GrantID)
	field(e.PrevHash)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
