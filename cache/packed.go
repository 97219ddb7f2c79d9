package cache

import (
	"encoding/binary"
	"time"

	"pudong.gov.cn/gateway/adapters"
)

// packed is an Entry as the in-process layer keeps it: each record one string of
// length-prefixed field names and values, instead of a map per record. A Go map of a
// dozen strings costs several hundred bytes of buckets and headers before its values,
// and every record of every entry had one; a packed record costs its bytes and one
// string header. Serving decodes a record into a fresh map whose strings share the
// packed bytes (the copy that keeps callers from changing the cache is made anyway),
// so a hit allocates one map per record and no strings.
type packed struct {
	recs     []string
	loadedAt int64 // unix nanoseconds
	total    int   // a page's total count
	found    bool
}

// entryOverhead approximates, in bytes, what an entry costs besides its packed records
// and key strings: the packed struct, the LRU's list element and map slot, the key
// struct. It makes the byte bound hold for entries with tiny records too.
const entryOverhead = 160

func pack(e Entry) packed {
	p := packed{loadedAt: e.LoadedAt.UnixNano(), total: e.Total, found: e.Found}
	if len(e.Records) > 0 {
		p.recs = make([]string, len(e.Records))
	}
	var buf []byte
	for i, rec := range e.Records {
		buf = buf[:0]
		for k, v := range rec {
			buf = binary.AppendUvarint(buf, uint64(len(k)))
			buf = append(buf, k...)
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
		}
		p.recs[i] = string(buf)
	}
	return p
}

// size is what p costs in memory under key k, for the byte bound.
func (p packed) size(k entryKey) int {
	n := entryOverhead + len(k.op) + len(k.key) + 16*len(p.recs)
	for _, r := range p.recs {
		n += len(r)
	}
	return n
}

// meta is p without its records: enough to judge freshness.
func (p packed) meta() Entry {
	return Entry{Found: p.found, Total: p.total, LoadedAt: time.Unix(0, p.loadedAt)}
}

// entry decodes p into fresh records.
func (p packed) entry() Entry {
	e := p.meta()
	if len(p.recs) > 0 {
		e.Records = make([]adapters.Record, len(p.recs))
		for i, r := range p.recs {
			e.Records[i] = unpackRecord(r)
		}
	}
	return e
}

// unpackRecord sizes the map for its fields first: grown one insertion at a time, a
// record of more than eight fields was allocated twice over (docs/PERFORMANCE.md, "Warm
// and cold paths: profile and fixes").
func unpackRecord(s string) adapters.Record {
	n := 0
	for t := s; len(t) > 0; n++ {
		next(&t)
		next(&t)
	}
	rec := make(adapters.Record, n)
	for len(s) > 0 {
		k := next(&s)
		rec[k] = next(&s)
	}
	return rec
}

// next reads one length-prefixed string off the front of s. pack wrote s, so a
// malformed s cannot occur; a truncated one would end the record early, not panic.
func next(s *string) string {
	var n uint64
	w := 0
	for shift := 0; w < len(*s) && shift < 64; shift += 7 {
		b := (*s)[w]
		w++
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			break
		}
	}
	if uint64(len(*s)-w) < n {
		*s = ""
		return ""
	}
	v := (*s)[w : w+int(n)]
	*s = (*s)[w+int(n):]
	return v
}
