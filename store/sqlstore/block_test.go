package sqlstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

func blockEvents() []gateway.AuditEvent {
	e := gateway.AuditEvent{
		Chain: "R-1", Seq: 41, At: time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC), Consumer: "online-hall",
		EndUser: "clerk-7", Purpose: "administrative-approval", RequestID: "req-1", ClientRequestID: "client-1",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Code: "310115-PSB-RK01-002", Owner: "psb",
		Subject: "310115198503120012", Decision: gateway.Masked, GrantID: "GR-20261127-0000000001",
	}
	e.Hash = e.ComputeHash()
	f := e
	f.Seq, f.PrevHash, f.Owner, f.Subject, f.Decision, f.GrantID = 42, e.Hash, "hrss", "张伟", gateway.Allow, ""
	f.Hash = f.ComputeHash()
	return []gateway.AuditEvent{e, f}
}

// TestBlockRoundTrip: what EncodeBlock writes, DecodeBlock reads back field for field,
// with Chain and Seq from the row.
func TestBlockRoundTrip(t *testing.T) {
	in := blockEvents()
	b := mustEncode(t, in)
	if out := decodeAll(t, b); !reflect.DeepEqual(out, in) {
		t.Errorf("decoded\n %+v\nwant\n %+v", out, in)
	}
	stop := errors.New("stop")
	n := 0
	if err := DecodeBlock("R-1", 41, b, func(gateway.AuditEvent) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("DecodeBlock after fn's error: %v after %d events", err, n)
	}
}

// TestBlockDecodeRejectsDamage: a cut block or an unknown format is an error, never a
// short chain.
func TestBlockDecodeRejectsDamage(t *testing.T) {
	b, err := EncodeBlock(nil, blockEvents())
	if err != nil {
		t.Fatal(err)
	}
	ok := func(gateway.AuditEvent) error { return nil }
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], b[:len(b)/2]} {
		if err := DecodeBlock("R-1", 41, bad, ok); err == nil {
			t.Errorf("DecodeBlock accepted %d bytes of a %d-byte block", len(bad), len(b))
		}
	}
	e := blockEvents()[:1]
	e[0].Hash = "not hex"
	if _, err := EncodeBlock(nil, e); err == nil || !strings.Contains(err.Error(), "not hex") {
		t.Errorf("EncodeBlock of a non-hex hash: %v", err)
	}
}

// TestBlockDecodeKeeps: decodeBlock builds only the events keep wants, each as
// DecodeBlock does, and still refuses a cut block whatever it keeps.
func TestBlockDecodeKeeps(t *testing.T) {
	in := blockEvents()
	b, err := EncodeBlock(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var out []gateway.AuditEvent
	hrss := func(code, owner, subject []byte) bool { return string(owner) == "hrss" && string(subject) == "张伟" }
	if err := decodeBlock("R-1", 41, b, hrss, func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in[1:]) {
		t.Errorf("kept\n %+v\nwant\n %+v", out, in[1:])
	}
	none := func(code, owner, subject []byte) bool { return false }
	if err := decodeBlock("R-1", 41, b[:len(b)-1], none, func(gateway.AuditEvent) error { return nil }); err == nil {
		t.Error("decodeBlock keeping nothing accepted a cut block")
	}
}

// encodeVersion1 writes a block as gateways before version 2 did (EncodeBlock's
// documentation): every field of every event.
func encodeVersion1(events []gateway.AuditEvent, withHashes bool) []byte {
	dst := []byte{blockVersion1}
	for i := range events {
		e := &events[i]
		dst = binary.AppendVarint(dst, e.At.UnixMicro())
		for _, s := range eventStrings(e) {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
		if !withHashes {
			dst = append(dst, 0, 0)
			continue
		}
		for _, h := range []string{e.PrevHash, e.Hash} {
			dst, _ = appendHash(dst, h)
		}
	}
	return dst
}

func decodeAll(t *testing.T, b []byte) []gateway.AuditEvent {
	t.Helper()
	var out []gateway.AuditEvent
	if err := DecodeBlock("R-1", 41, b, func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBlockVersion1StillReads: blocks and journal records written before version 2 read
// back as they were written.
func TestBlockVersion1StillReads(t *testing.T) {
	in := blockEvents()
	if out := decodeAll(t, encodeVersion1(in, true)); !reflect.DeepEqual(out, in) {
		t.Errorf("version 1 block decoded\n %+v\nwant\n %+v", out, in)
	}
	var record []byte
	record = binary.AppendUvarint(record, uint64(len("R-1")))
	record = append(record, "R-1"...)
	block := encodeVersion1(in, false)
	record = binary.AppendUvarint(record, uint64(len(block)))
	record = append(record, block...)
	got, err := DecodeRecord(record)
	if err != nil || len(got) != len(in) {
		t.Fatalf("version 1 journal record: %d events, %v", len(got), err)
	}
	for i := range got {
		want := in[i]
		want.Seq, want.PrevHash, want.Hash = 0, "", ""
		if got[i] != want {
			t.Errorf("record event %d: %+v, want %+v", i, got[i], want)
		}
	}
}

// TestBlockKeepsWhatItIsGiven: the encoding leaves out what repeats, never what
// differs: an event not linked to the one before it (as a tampered chain would hold)
// and fields that change back and forth read back as given.
func TestBlockKeepsWhatItIsGiven(t *testing.T) {
	in := blockEvents()
	g := in[1]
	g.Seq, g.PrevHash, g.Owner, g.Subject, g.GrantID = 43, strings.Repeat("ab", 32), "psb", "", "GR-1"
	g.At = in[0].At.Add(-time.Second) // earlier than the one before: a negative step
	g.Hash = g.ComputeHash()
	in = append(in, g)
	if out := decodeAll(t, mustEncode(t, in)); !reflect.DeepEqual(out, in) {
		t.Errorf("decoded\n %+v\nwant\n %+v", out, in)
	}
}

func mustEncode(t *testing.T, events []gateway.AuditEvent) []byte {
	t.Helper()
	b, err := EncodeBlock(nil, events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBlockIsCompact: the twelve events of one answer (the harness's S1) share their
// request's fields, so a block holds little more than their codes and hashes: under a
// third of version 1's bytes, and a journal record (no hashes) under a quarter.
func TestBlockIsCompact(t *testing.T) {
	base := blockEvents()[0]
	var events []gateway.AuditEvent
	prev := ""
	for i := range 12 {
		e := base
		e.Seq, e.PrevHash = int64(41+i), prev
		e.Code = fmt.Sprintf("310115-PSB-RK01-%03d", i)
		if i >= 6 {
			e.Owner, e.Code = "hrss", fmt.Sprintf("310115-RSJ-SB01-%03d", i)
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		events = append(events, e)
	}
	v1, v2 := encodeVersion1(events, true), mustEncode(t, events)
	t.Logf("12 events: version 1 %d bytes, version 2 %d bytes", len(v1), len(v2))
	if len(v2)*3 > len(v1) {
		t.Errorf("version 2 holds %d bytes against version 1's %d", len(v2), len(v1))
	}
	rec, err := EncodeRecord(events)
	if err != nil {
		t.Fatal(err)
	}
	if v1rec := encodeVersion1(events, false); len(rec)*4 > len(v1rec) {
		t.Errorf("a journal record of 12 events holds %d bytes against version 1's %d", len(rec), len(v1rec))
	}
	if !reflect.DeepEqual(decodeAll(t, v2), events) {
		t.Error("the compact block does not read back")
	}
}
