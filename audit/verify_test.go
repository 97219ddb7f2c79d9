package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/store/sqlstore"
	"pudong.gov.cn/gateway/store/storetest"
)

// chain stores ten events in three appends and returns the store and a second handle on
// its file, through which tests tamper with the events as someone with access to the
// data directory (but not to the gateway) would.
func chain(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	s, path := newStore(t)
	for _, n := range []int{3, 5, 2} {
		if err := s.AppendAudit(context.Background(), events(fmt.Sprint("append-", n), n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

// edit changes events of the default chain in the database, behind the store's back.
func edit(t *testing.T, db *sql.DB, fn func([]gateway.AuditEvent)) {
	t.Helper()
	storetest.Tamper(t, db, false, "", func(evs []gateway.AuditEvent) []gateway.AuditEvent {
		fn(evs)
		return evs
	})
}

func TestVerifyIntactChain(t *testing.T) {
	s, _ := chain(t)
	rep, err := audit.Verify(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	evs := all(t, s)
	if !rep.OK() || rep.Checked != 10 || rep.LastSeq != 10 || rep.LastHash != evs[9].Hash {
		t.Errorf("Verify of an intact chain = %+v, broken %v", rep, rep.Broken)
	}
}

func TestVerifyEmptyChain(t *testing.T) {
	s, _ := newStore(t)
	rep, err := audit.Verify(context.Background(), s)
	if err != nil || !rep.OK() || rep.Checked != 0 {
		t.Errorf("Verify of an empty chain = %+v, %v", rep, err)
	}
}

func TestVerifyDetects(t *testing.T) {
	for _, tc := range chainTampers {
		t.Run(tc.name, func(t *testing.T) {
			s, db := chain(t)
			tc.tamper(t, db)
			rep, err := audit.Verify(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("Verify found the tampered chain intact: %+v", rep)
			}
			b := rep.Broken
			if b.Seq != tc.want.Seq || b.Kind != tc.want.Kind ||
				(tc.want.Expected != "" && (b.Expected != tc.want.Expected || b.Found != tc.want.Found)) {
				t.Errorf("Verify found %v, want a break at seq %d (%s)", b, tc.want.Seq, tc.want.Kind)
			}
			if b.Expected == b.Found {
				t.Errorf("break %v reports the same expected and found values", b)
			}
			if rep.LastSeq != b.Seq {
				t.Errorf("report %+v does not stop at the break", rep)
			}
		})
	}
}

// chainTampers are changes to a chain of 10 events and the break Verify must find.
var chainTampers = []struct {
	name   string
	tamper func(t *testing.T, db *sql.DB)
	want   audit.Break // Expected and Found are checked when set
}{
	{
		name: "altered field",
		tamper: func(t *testing.T, db *sql.DB) {
			edit(t, db, func(evs []gateway.AuditEvent) { evs[3].Subject = "310115199001010029" })
		},
		want: audit.Break{Seq: 4, Kind: audit.HashMismatch},
	},
	{
		name: "altered last event",
		tamper: func(t *testing.T, db *sql.DB) {
			edit(t, db, func(evs []gateway.AuditEvent) { evs[9].Decision = gateway.Deny })
		},
		want: audit.Break{Seq: 10, Kind: audit.HashMismatch},
	},
	{
		name: "altered time",
		tamper: func(t *testing.T, db *sql.DB) {
			edit(t, db, func(evs []gateway.AuditEvent) { evs[1].At = evs[1].At.Add(time.Microsecond) })
		},
		want: audit.Break{Seq: 2, Kind: audit.HashMismatch},
	},
	{
		// Whoever knows the format can make an altered event consistent with itself,
		// but not with the next event, whose hash covers the old one.
		name: "altered event with its hash recomputed",
		tamper: func(t *testing.T, db *sql.DB) {
			edit(t, db, func(evs []gateway.AuditEvent) {
				evs[5].Consumer = "playground"
				evs[5].Hash = evs[5].ComputeHash()
			})
		},
		want: audit.Break{Seq: 7, Kind: audit.PrevHashMismatch},
	},
	{
		name: "deleted event",
		tamper: func(t *testing.T, db *sql.DB) {
			storetest.Tamper(t, db, false, "", func(evs []gateway.AuditEvent) []gateway.AuditEvent { return slices.Delete(evs, 6, 7) })
		},
		want: audit.Break{Seq: 8, Kind: audit.SeqGap, Expected: "7", Found: "8"},
	},
	{
		name: "deleted first event",
		tamper: func(t *testing.T, db *sql.DB) {
			storetest.Tamper(t, db, false, "", func(evs []gateway.AuditEvent) []gateway.AuditEvent { return evs[1:] })
		},
		want: audit.Break{Seq: 2, Kind: audit.SeqGap, Expected: "1", Found: "2"},
	},
	{
		name: "rewritten link",
		tamper: func(t *testing.T, db *sql.DB) {
			edit(t, db, func(evs []gateway.AuditEvent) { evs[4].PrevHash = evs[4].Hash })
		},
		want: audit.Break{Seq: 5, Kind: audit.PrevHashMismatch},
	},
}

func TestVerifyReportsStorageErrors(t *testing.T) {
	s, _ := newStore(t)
	s.Close()
	if _, err := audit.Verify(context.Background(), s); err == nil {
		t.Error("Verify on a closed store reported no error")
	}
}
