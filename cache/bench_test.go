package cache

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFetchHit measures the path most requests take: every key already cached.
func BenchmarkFetchHit(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = "31011519850312" + strconv.Itoa(1000+i)
			}
			d := newDept(keys...)
			c := New(Options{Department: "psb", TTL: time.Hour})
			ctx := context.Background()
			if _, err := c.Fetch(ctx, "person", keys, d.load); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := c.Fetch(ctx, "person", keys, d.load)
					if err != nil || res.Hits != n {
						b.Fatalf("hits %d, err %v", res.Hits, err)
					}
				}
			})
			if loads := len(d.loads()); loads != 1 {
				b.Fatalf("department asked %d times", loads)
			}
		})
	}
}
