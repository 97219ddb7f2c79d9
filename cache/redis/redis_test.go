package redis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/cache"
	rediscache "pudong.gov.cn/gateway/cache/redis"
)

// dept is a fake department: a real Loader over fixed records that counts its calls.
type dept struct {
	mu    sync.Mutex
	calls [][]string
}

func (d *dept) load(_ context.Context, keys []string) (map[string][]adapters.Record, error) {
	d.mu.Lock()
	d.calls = append(d.calls, slices.Clone(keys))
	d.mu.Unlock()
	out := map[string][]adapters.Record{}
	for _, k := range keys {
		if strings.HasPrefix(k, "9131") {
			out[k] = []adapters.Record{{"creditCode": k, "name": "上海浦江智联科技有限公司", "registeredCapital": "5000000.00"}}
		}
	}
	return out, nil
}

func (d *dept) loads() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// testRedis returns the address of the Redis the tests may use, and a key prefix no
// other test uses, whose keys are removed when the test ends.
func testRedis(t *testing.T) (addr, prefix string) {
	t.Helper()
	addr = os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("set GATEWAY_TEST_REDIS_ADDR (e.g. 127.0.0.1:6379) to run the tests against Redis")
	}
	prefix = fmt.Sprintf("pdgw-test:%s:%d:", t.Name(), time.Now().UnixNano())
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("GATEWAY_TEST_REDIS_ADDR=%s: %v", addr, err)
	}
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	return addr, prefix
}

// replica is one gateway process: its own Redis client, shared layer and cache.
func replica(t *testing.T, addr, prefix string) *cache.Cache {
	t.Helper()
	client := goredis.NewClient(mustOptions(t, addr))
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := cache.New(cache.Options{Department: "amr", TTL: time.Hour, Shared: rediscache.New(client, prefix, nil)})
	if err := c.Listen(ctx); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const (
	e1 = "91310115MA1FL0AB0P"
	e5 = "91310115MA1HW2X39Q"
)

func TestRecordLoadedByOneReplicaIsASharedHitInAnother(t *testing.T) {
	addr, prefix := testRedis(t)
	r1, r2 := replica(t, addr, prefix), replica(t, addr, prefix)
	d1, d2 := &dept{}, &dept{}
	ctx := context.Background()

	if _, err := r1.Fetch(ctx, "enterprise", []string{e1, "unknown"}, d1.load); err != nil {
		t.Fatal(err)
	}
	res, err := r2.Fetch(ctx, "enterprise", []string{e1, "unknown"}, d2.load)
	if err != nil {
		t.Fatal(err)
	}
	if d2.loads() != 0 {
		t.Fatalf("the second replica asked the department %d times, want 0", d2.loads())
	}
	if res.Hits != 2 || len(res.Records) != 1 || res.Records[e1][0]["name"] != "上海浦江智联科技有限公司" {
		t.Fatalf("second replica got %+v, want the record and the not-found from Redis", res)
	}
	if s := r2.Stats(); s.SharedHits != 2 || s.SharedErrors != 0 || s.Entries != 2 {
		t.Fatalf("second replica stats = %+v", s)
	}
	// Now held in process: a third fetch needs neither Redis nor the department.
	if res, _ := r2.Fetch(ctx, "enterprise", []string{e1}, d2.load); res.Hits != 1 || r2.Stats().SharedHits != 2 {
		t.Fatalf("third fetch: %+v, stats %+v", res, r2.Stats())
	}
}

func TestPurgeThroughOneReplicaDropsTheOthersEntries(t *testing.T) {
	addr, prefix := testRedis(t)
	r1, r2 := replica(t, addr, prefix), replica(t, addr, prefix)
	d := &dept{}
	ctx := context.Background()
	for _, r := range []*cache.Cache{r1, r2} {
		if _, err := r.Fetch(ctx, "enterprise", []string{e1, e5}, d.load); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fetch(ctx, "byLegalRep", []string{e1}, d.load); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.loads(); n != 2 {
		t.Fatalf("department asked %d times, want 2 (the second replica from Redis)", n)
	}

	if n, err := r1.Purge(ctx, []string{e1}); err != nil || n != 2 {
		t.Fatalf("Purge(e1) = %d, %v; want both operations dropped", n, err)
	}
	waitFor(t, "the purge notice to reach the second replica", func() bool { return r2.Stats().Entries == 1 })
	if _, err := r2.Fetch(ctx, "enterprise", []string{e1, e5}, d.load); err != nil {
		t.Fatal(err)
	}
	if n := d.loads(); n != 3 {
		t.Fatalf("after the purge the department was asked %d times in all, want 3 (e1 again, from Redis neither)", n)
	}

	if _, err := r2.Purge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the purge-all notice to reach the first replica", func() bool { return r1.Stats().Entries == 0 })
	if _, err := r1.Fetch(ctx, "enterprise", []string{e5}, d.load); err != nil {
		t.Fatal(err)
	}
	if n := d.loads(); n != 4 {
		t.Fatalf("after purging all, e5 was still in Redis (department asked %d times, want 4)", n)
	}
}

func TestRedisDownFetchStillWorks(t *testing.T) {
	client := goredis.NewClient(mustOptions(t, "127.0.0.1:1"))
	defer client.Close()
	checkFetchWithoutRedis(t, client)
}

func TestRedisHangingFetchStillWorks(t *testing.T) {
	addr := hangingServer(t)
	client := goredis.NewClient(mustOptions(t, addr))
	defer client.Close()
	start := time.Now()
	checkFetchWithoutRedis(t, client)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("fetching with a hanging redis took %v", elapsed)
	}
}

// hangingServer accepts connections and never answers: the worst kind of slow Redis.
// It closes everything when the test ends.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func checkFetchWithoutRedis(t *testing.T, client *goredis.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := cache.New(cache.Options{Department: "amr", TTL: time.Hour, Shared: rediscache.New(client, "pdgw-test:", nil)})
	if err := c.Listen(ctx); err == nil {
		t.Error("Listen reported a confirmed subscription without redis")
	}
	d := &dept{}
	for range 3 {
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		res, err := c.Fetch(fctx, "enterprise", []string{e1}, d.load)
		fcancel()
		if err != nil || len(res.Records[e1]) != 1 {
			t.Fatalf("Fetch without redis: %+v, %v", res, err)
		}
	}
	if n := d.loads(); n != 1 {
		t.Fatalf("department asked %d times, want 1 (then served in process)", n)
	}
	if s := c.Stats(); s.SharedErrors == 0 {
		t.Fatalf("stats = %+v, want the redis failure counted", s)
	}
	n, err := c.Purge(ctx, []string{e1})
	if n != 1 || err == nil {
		t.Fatalf("Purge without redis = %d, %v; want the local entry dropped and the shared failure reported", n, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "redis") {
		t.Errorf("purge error %q does not say what failed", err)
	}
}

func mustOptions(t *testing.T, addr string) *goredis.Options {
	t.Helper()
	o, err := rediscache.ClientOptions(addr)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestClientOptionsFromURL(t *testing.T) {
	o, err := rediscache.ClientOptions("rediss://gw:s3cret@cache.internal:6380/2")
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "cache.internal:6380" || o.Password != "s3cret" || o.Username != "gw" || o.DB != 2 || o.TLSConfig == nil || !o.ContextTimeoutEnabled {
		t.Errorf("options: %+v", o)
	}
	if _, err := rediscache.ClientOptions("redis://[bad"); err == nil {
		t.Error("a malformed URL is refused")
	}
}
