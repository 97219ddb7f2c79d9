package gateway

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strconv"
	"time"
)

// auditHashTag opens every hashed encoding so that a future change of the format is a
// new tag, never a silent reinterpretation of old chains.
const auditHashTag = "pudong-gateway-audit-v1"

// ComputeHash returns the hex SHA-256 that links e into the audit hash chain. The
// stored Hash of an intact event equals it, and the next event's PrevHash equals the
// stored Hash; `gateway audit verify` recomputes it, so the encoding below is a stable
// format, not an implementation detail.
//
// The hash input is a sequence of fields, each written as its length in bytes (8-byte
// unsigned big-endian) followed by its UTF-8 bytes, in this order:
//
//	"pudong-gateway-audit-v1" (format tag)
//	Seq        decimal, no sign or padding ("1", "42")
//	At         UTC, RFC 3339 with nanoseconds as Go's time.RFC3339Nano writes it
//	           (trailing zeros of the fraction dropped, "2026-11-27T03:04:05.123Z")
//	Consumer, EndUser, Purpose, RequestID, Code, Owner, Subject
//	Decision   ALLOW, MASK or DENY
//	GrantID
//	PrevHash   lowercase hex, "" for the first event
//
// The length prefixes make the encoding unambiguous: no choice of field values can make
// two different events encode to the same bytes. The Hash field itself is not an input.
func (e *AuditEvent) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(h hash.Hash, s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(h, auditHashTag)
	field(h, strconv.FormatInt(e.Seq, 10))
	field(h, e.At.UTC().Format(time.RFC3339Nano))
	field(h, e.Consumer)
	field(h, e.EndUser)
	field(h, e.Purpose)
	field(h, e.RequestID)
	field(h, e.Code)
	field(h, e.Owner)
	field(h, e.Subject)
	field(h, string(e.Decision))
	field(h, e.GrantID)
	field(h, e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}
