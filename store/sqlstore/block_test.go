package sqlstore

import (
	"errors"
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
	b, err := EncodeBlock(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var out []gateway.AuditEvent
	if err := DecodeBlock("R-1", 41, b, func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
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
