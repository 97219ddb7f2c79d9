package cache

import "sync/atomic"

// Stats are the cache's counters since it was created, for Prometheus: all but Entries
// only grow. Hits and Misses count distinct keys per Fetch.
type Stats struct {
	Hits           uint64 // keys answered from a fresh entry (either layer) without waiting
	Misses         uint64 // keys that had to be loaded, or awaited while another Fetch loaded them
	Loads          uint64 // calls to a Loader (one per batch of missing keys)
	LoadErrors     uint64 // Loader calls that failed
	CoalescedWaits uint64 // keys awaited from another Fetch's load instead of loaded again
	StaleServes    uint64 // keys served past their TTL because their load failed
	Evictions      uint64 // entries dropped to keep the cache within MaxRecords and MaxBytes
	SharedHits     uint64 // keys found fresh in the shared layer
	SharedErrors   uint64 // failed shared-layer calls (Get, Set, Purge)
	RemotePurges   uint64 // purge notices received from other replicas
	Entries        int    // entries held in process now
	Bytes          int64  // what those entries cost, as bounded by MaxBytes
}

type counters struct {
	hits, misses, loads, loadErrors, coalesced, staleServes, evictions atomic.Uint64
	sharedHits, sharedErrors, remotePurges                             atomic.Uint64
}

// Stats returns the current counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	n, bytes := c.entries.Len(), c.bytes
	c.mu.Unlock()
	return Stats{
		Hits:           c.stats.hits.Load(),
		Misses:         c.stats.misses.Load(),
		Loads:          c.stats.loads.Load(),
		LoadErrors:     c.stats.loadErrors.Load(),
		CoalescedWaits: c.stats.coalesced.Load(),
		StaleServes:    c.stats.staleServes.Load(),
		Evictions:      c.stats.evictions.Load(),
		SharedHits:     c.stats.sharedHits.Load(),
		SharedErrors:   c.stats.sharedErrors.Load(),
		RemotePurges:   c.stats.remotePurges.Load(),
		Entries:        n,
		Bytes:          bytes,
	}
}

// Department is the id of the department this cache serves.
func (c *Cache) Department() string { return c.dept }
