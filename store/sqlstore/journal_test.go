package sqlstore

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

// TestJournalRecordRoundTrip: a record holds every field of its events but the ones the
// chain assigns (Seq, PrevHash, Hash), across runs of several chains, in order.
func TestJournalRecordRoundTrip(t *testing.T) {
	in := blockEvents()
	in = append(in, in[0])
	in[1].Chain, in[2].Chain = "R-2", "R-1"
	rec, err := EncodeRecord(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]gateway.AuditEvent, len(in))
	for i, e := range in {
		e.Seq, e.PrevHash, e.Hash = 0, "", ""
		want[i] = e
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, want)
	}
	if _, err := DecodeRecord(rec[:len(rec)-3]); err == nil {
		t.Fatal("a cut record decoded")
	}
}

// TestJournalRoomIsBounded: an append that finds the journal maxBehind bytes ahead of the
// tables waits only as long as its context allows, goes on once the applier has caught
// up, and fails at once after Close.
func TestJournalRoomIsBounded(t *testing.T) {
	jn := &journaled{moved: make(chan struct{}), behind: maxBehind}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := jn.room(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("full journal: %v, want the context's deadline", err)
	}
	go func() {
		jn.mu.Lock()
		jn.behind = 0
		close(jn.moved)
		jn.moved = make(chan struct{})
		jn.mu.Unlock()
	}()
	if err := jn.room(context.Background()); err != nil {
		t.Fatalf("after catching up: %v", err)
	}
	jn.closed = true
	if err := jn.room(context.Background()); !errors.Is(err, errJournalClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// TestBatchOf: a batch takes whole records up to applyBatch events, at least one.
func TestBatchOf(t *testing.T) {
	rec := func(n int) pendingRecord { return pendingRecord{events: make([]gateway.AuditEvent, n)} }
	for _, c := range []struct {
		recs []pendingRecord
		want int
	}{
		{nil, 0},
		{[]pendingRecord{rec(applyBatch + 1), rec(1)}, 1},
		{[]pendingRecord{rec(applyBatch / 2), rec(applyBatch / 2), rec(1)}, 2},
		{[]pendingRecord{rec(1), rec(1), rec(1)}, 3},
	} {
		if got := batchOf(c.recs); got != c.want {
			t.Errorf("batchOf(%d records) = %d, want %d", len(c.recs), got, c.want)
		}
	}
}
