package quality

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"pudong.gov.cn/gateway/internal/ownsql/ownsqltest"
	"pudong.gov.cn/gateway/store"
)

// The same behaviour on both databases: insert, list by who may see, findings once per
// key, answers final and exactly once under concurrency, the migration re-runnable.
func TestDB(t *testing.T) {
	ownsqltest.Each(t, Open, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := store.Micro(time.Now())
		obj := Issue{Kind: Objection, Code: "310115-PSB-RK01-006", Department: "psb", Subject: "310115198503120012",
			Description: "moved", SuggestedValue: "上海市浦东新区", FiledBy: "online-hall", FiledByUser: "clerk", Status: StatusOpen,
			CreatedAt: now, Deadline: now.Add(72 * time.Hour)}
		if ok, err := db.Insert(ctx, &obj, ""); err != nil || !ok || obj.ID == "" {
			t.Fatalf("insert: %v %v %q", ok, err, obj.ID)
		}
		self := Issue{Kind: Objection, Code: "310115-PSB-RK01-002", Department: "psb", Subject: "310115199001010029",
			Description: "typo", FiledBy: "ipudong-portal", Citizen: "310115199001010029", Status: StatusOpen, CreatedAt: now.Add(time.Second)}
		db.Insert(ctx, &self, "")
		f := Issue{Kind: Finding, Code: "310115-AMR-QY01-003", Department: "amr", Subject: "91310115MA1HW2X39Q", Description: "unknown", FiledBy: "gateway", Status: StatusOpen, CreatedAt: now}
		if ok, err := db.Insert(ctx, &f, "k1"); err != nil || !ok {
			t.Fatalf("finding: %v %v", ok, err)
		}
		again := f
		again.ID = ""
		if ok, err := db.Insert(ctx, &again, "k1"); err != nil || ok {
			t.Errorf("the same finding stored twice: %v %v", ok, err)
		}

		got, err := db.Get(ctx, obj.ID)
		if err != nil || got.SuggestedValue != "上海市浦东新区" || !got.Deadline.Equal(obj.Deadline) || !got.CreatedAt.Equal(now) || got.Status != StatusOpen {
			t.Errorf("get: %+v %v", got, err)
		}
		if _, err := db.Get(ctx, "DQ-nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
		for _, c := range []struct {
			f    Filter
			want int
		}{
			{Filter{}, 3},
			{Filter{Department: "psb"}, 2},
			{Filter{Department: "amr"}, 1},
			{Filter{FiledBy: "online-hall"}, 1},
			{Filter{FiledBy: "ipudong-portal", Citizen: "310115199001010029"}, 1},
			{Filter{FiledBy: "ipudong-portal", Citizen: "310115198503120012"}, 0},
			{Filter{Department: "amr", FiledBy: "online-hall"}, 2},
			{Filter{Kind: Finding}, 1},
		} {
			list, err := db.List(ctx, c.f)
			if err != nil || len(list) != c.want {
				t.Errorf("list %+v: %d issues (%v), want %d", c.f, len(list), err, c.want)
			}
		}

		// Concurrent answers: exactly one wins.
		var wg sync.WaitGroup
		wins := make(chan Status, 4)
		for _, o := range []Status{StatusCorrected, StatusRejected, StatusDuplicate, StatusCorrected} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := db.Resolve(ctx, obj.ID, o, "psb-console/x", "done", now); err == nil {
					wins <- o
				} else if !errors.Is(err, ErrAlreadyResolved) {
					t.Errorf("resolve: %v", err)
				}
			}()
		}
		wg.Wait()
		close(wins)
		if len(wins) != 1 {
			t.Errorf("%d answers won, want 1", len(wins))
		}
		got, _ = db.Get(ctx, obj.ID)
		if got.Status == StatusOpen || got.Note != "done" || !got.ResolvedAt.Equal(now) {
			t.Errorf("answered: %+v", got)
		}
		if _, err := db.Resolve(ctx, "DQ-nope", StatusRejected, "x", "", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("resolve missing: %v", err)
		}
		if err := db.migrate(ctx); err != nil {
			t.Errorf("migrating again: %v", err)
		}
	})
}
