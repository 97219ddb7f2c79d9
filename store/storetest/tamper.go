package storetest

import (
	"context"
	"database/sql"
	"strconv"
	"testing"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store/sqlstore"
)

// Tamper rewrites the audit chain named chain in the database behind a store/sqlstore
// Store, as someone with write access to the database (but not to the gateway) would:
// edit gets the chain's events in Seq order and returns what is to be stored instead,
// each event kept at the Seq it carries. Tests of the chain's verification use it to
// alter, remove or re-hash events without knowing how blocks are laid out. postgres
// selects the parameter notation ($1 instead of ?).
func Tamper(t testing.TB, db *sql.DB, postgres bool, chain string, edit func([]gateway.AuditEvent) []gateway.AuditEvent) {
	t.Helper()
	ctx := context.Background()
	p := func(n int) string {
		if postgres {
			return "$" + strconv.Itoa(n)
		}
		return "?"
	}
	var events []gateway.AuditEvent
	rows, err := db.QueryContext(ctx, `SELECT first_seq, events FROM audit_blocks WHERE chain = `+p(1)+` ORDER BY first_seq`, chain)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	for rows.Next() {
		var first int64
		var b []byte
		if err := rows.Scan(&first, &b); err != nil {
			t.Fatalf("tamper: %v", err)
		}
		if err := sqlstore.DecodeBlock(chain, first, b, func(e gateway.AuditEvent) error {
			events = append(events, e)
			return nil
		}); err != nil {
			t.Fatalf("tamper: %v", err)
		}
	}
	rows.Close()
	events = edit(events)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	defer tx.Rollback()
	for _, table := range []string{"audit_blocks", "audit_block_owners", "audit_block_subjects"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE chain = `+p(1), chain); err != nil {
			t.Fatalf("tamper: %v", err)
		}
	}
	// The head row follows the last event kept, as an attacker covering their tracks
	// would leave it.
	head, hash := int64(0), ""
	if len(events) > 0 {
		head, hash = events[len(events)-1].Seq, events[len(events)-1].Hash
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_heads SET seq = `+p(1)+`, hash = `+p(2)+` WHERE chain = `+p(3), head, hash, chain); err != nil {
		t.Fatalf("tamper: %v", err)
	}
	for len(events) > 0 {
		n := 1
		for n < len(events) && events[n].Seq == events[n-1].Seq+1 {
			n++
		}
		b, err := sqlstore.EncodeBlock(nil, events[:n])
		if err != nil {
			t.Fatalf("tamper: %v", err)
		}
		at := func(e gateway.AuditEvent) any {
			if postgres {
				return e.At
			}
			return e.At.UnixMicro()
		}
		// The listings by owner and subject are not rebuilt: verification reads every block.
		first, last := events[0], events[n-1]
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_blocks (chain, first_seq, last_seq, first_at, last_at, events)
			VALUES (`+p(1)+`, `+p(2)+`, `+p(3)+`, `+p(4)+`, `+p(5)+`, `+p(6)+`)`,
			chain, first.Seq, last.Seq, at(first), at(last), b); err != nil {
			t.Fatalf("tamper: %v", err)
		}
		events = events[n:]
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("tamper: %v", err)
	}
}
