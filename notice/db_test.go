package notice

import (
	"context"
	"testing"
	"time"

	"pudong.gov.cn/gateway/internal/ownsql/ownsqltest"
	"pudong.gov.cn/gateway/store"
)

// The same behaviour on both databases: watch lists per consumer, a change recorded
// with its notices in one step and only once, the queue's due order and final states.
func TestDB(t *testing.T) {
	ownsqltest.Each(t, Open, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := store.Micro(time.Now())
		if err := db.AddWatches(ctx, "sup", []string{"A", "B"}, now); err != nil {
			t.Fatal(err)
		}
		db.AddWatches(ctx, "sup", []string{"A"}, now.Add(time.Hour)) // already there: unchanged
		db.AddWatches(ctx, "other", []string{"A"}, now)
		ws, err := db.Watches(ctx, "sup", time.Time{}, 0)
		if err != nil || len(ws) != 2 || !ws[0].CreatedAt.Equal(now) || ws[0].State != "" || !ws[0].CheckedAt.IsZero() {
			t.Fatalf("watches: %+v %v", ws, err)
		}
		if n, _ := db.CountWatches(ctx, "sup"); n != 2 {
			t.Errorf("count %d", n)
		}
		all, _ := db.Watches(ctx, "", now, 2)
		if len(all) != 2 {
			t.Errorf("due watches, limited: %d", len(all))
		}

		// A change: state and notices together; a second recording of the same change
		// (another replica that read the same old state) does nothing.
		n1 := Notice{ID: "NT-1", Consumer: "sup", Subject: "A", Change: CreditRecordAdded, Body: []byte(`{"id":"NT-1"}`), Status: Pending, CreatedAt: now}
		if err := db.Checked(ctx, ws[0], `{"credit":["x"]}`, now, []Notice{n1}); err != nil {
			t.Fatal(err)
		}
		if err := db.Checked(ctx, ws[0], `{"credit":["x"]}`, now, []Notice{{ID: "NT-2", Consumer: "sup", Subject: "A", Body: []byte(`{}`), Status: Pending, CreatedAt: now}}); err != nil {
			t.Fatal(err)
		}
		ns, err := db.Notices(ctx, "sup", "", "", 10)
		if err != nil || len(ns) != 1 || string(ns[0].Body) != `{"id":"NT-1"}` || ns[0].Status != Pending {
			t.Fatalf("notices: %+v %v", ns, err)
		}
		if ws, _ := db.Watches(ctx, "sup", now, 0); len(ws) != 1 || ws[0].Subject != "B" {
			t.Errorf("A was checked at now: %+v", ws)
		}

		// Due now; not due before its next attempt; final once delivered.
		if due, _ := db.Due(ctx, now, 10); len(due) != 1 {
			t.Errorf("due: %+v", due)
		}
		if err := db.Attempted(ctx, "NT-1", Pending, 1, now.Add(time.Minute), now, "webhook answered 503"); err != nil {
			t.Fatal(err)
		}
		if due, _ := db.Due(ctx, now.Add(time.Second), 10); len(due) != 0 {
			t.Errorf("due before its next attempt: %+v", due)
		}
		if err := db.Attempted(ctx, "NT-1", Delivered, 2, now, now.Add(time.Minute), ""); err != nil {
			t.Fatal(err)
		}
		if err := db.Attempted(ctx, "NT-1", Delivered, 3, now, now, ""); err != errAlreadyDone {
			t.Errorf("a delivered notice attempted again: %v", err)
		}
		ns, _ = db.Notices(ctx, "sup", Delivered, "", 10)
		if len(ns) != 1 || ns[0].Attempts != 2 || !ns[0].DeliveredAt.Equal(now.Add(time.Minute)) {
			t.Errorf("delivered: %+v", ns)
		}
		// Polling pages with the last notice seen.
		b := ws[1]
		db.Checked(ctx, b, `{}`, now, []Notice{
			{ID: "NT-3", Consumer: "sup", Subject: "B", Body: []byte(`{}`), Status: Poll, CreatedAt: now},
			{ID: "NT-4", Consumer: "sup", Subject: "B", Body: []byte(`{}`), Status: Poll, CreatedAt: now.Add(time.Second)},
		})
		if ns, err := db.Notices(ctx, "sup", "", "NT-1", 10); err != nil || len(ns) != 2 || ns[0].ID != "NT-3" {
			t.Errorf("after NT-1: %+v %v", ns, err)
		}
		if ns, _ := db.Notices(ctx, "sup", Poll, "NT-3", 10); len(ns) != 1 || ns[0].ID != "NT-4" {
			t.Errorf("after NT-3: %+v", ns)
		}
		if _, err := db.Notices(ctx, "other", "", "NT-1", 10); err != ErrUnknownNotice {
			t.Errorf("another consumer's cursor: %v", err)
		}
		if n, err := db.RemoveWatches(ctx, "sup", []string{"A", "Z"}); err != nil || n != 1 {
			t.Errorf("unwatch: %d %v", n, err)
		}
		for _, m := range migration { // re-runnable, as every start runs it
			if _, err := db.db.ExecContext(ctx, m); err != nil {
				t.Errorf("migrating again: %v", err)
			}
		}
	})
}
