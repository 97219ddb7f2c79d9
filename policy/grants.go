package policy

import (
	"slices"
	"time"

	"pudong.gov.cn/gateway"
)

// GrantIndex answers "which grant opens this code to this consumer for this purpose" with
// one map lookup, because the question is asked for every conditional field of every
// response. It is immutable once built and therefore safe for concurrent use; when grants
// change the gateway builds a new index and swaps it in. A nil *GrantIndex holds no grants.
type GrantIndex struct {
	grants     []gateway.Grant    // private copies, in the order given
	byKey      map[grantKey][]int // indexes into grants
	byConsumer map[string][]int
}

type grantKey struct{ consumer, purpose, code string }

// NewGrantIndex indexes grants, including expired and revoked ones: whether a grant is in
// force is decided at lookup time, so an index stays correct as time passes. Grants
// without a consumer or purpose are ignored, since they could only ever match a token
// that lacks those claims. The index keeps its own copies; later changes to grants do
// not affect it.
func NewGrantIndex(grants []gateway.Grant) *GrantIndex {
	idx := &GrantIndex{
		grants:     make([]gateway.Grant, 0, len(grants)),
		byKey:      make(map[grantKey][]int),
		byConsumer: make(map[string][]int),
	}
	for _, g := range grants {
		if g.Consumer == "" || g.Purpose == "" {
			continue
		}
		idx.grants = append(idx.grants, cloneGrant(g))
		i := len(idx.grants) - 1
		idx.byConsumer[g.Consumer] = append(idx.byConsumer[g.Consumer], i)
		for _, code := range slices.Compact(slices.Sorted(slices.Values(g.Codes))) {
			k := grantKey{g.Consumer, g.Purpose, code}
			idx.byKey[k] = append(idx.byKey[k], i)
		}
	}
	return idx
}

// Find returns the first grant, in the order the index was built from, that opens code to
// consumer for purpose at now, or nil. The grant belongs to the index and must not be
// modified.
func (idx *GrantIndex) Find(consumer, purpose, code string, now time.Time) *gateway.Grant {
	if idx == nil || consumer == "" || purpose == "" {
		return nil
	}
	for _, i := range idx.byKey[grantKey{consumer, purpose, code}] {
		if g := &idx.grants[i]; g.ActiveAt(now) {
			return g
		}
	}
	return nil
}

// ForConsumer lists the grants in force for consumer at now, for any purpose, so a
// consumer can see what it has been opened (the `me` query). The result is the caller's
// to keep.
func (idx *GrantIndex) ForConsumer(consumer string, now time.Time) []gateway.Grant {
	if idx == nil {
		return nil
	}
	var out []gateway.Grant
	for _, i := range idx.byConsumer[consumer] {
		if g := &idx.grants[i]; g.ActiveAt(now) {
			out = append(out, cloneGrant(*g))
		}
	}
	return out
}

// cloneGrant copies the parts of a grant that share memory, so the index and its callers
// never see each other's changes.
func cloneGrant(g gateway.Grant) gateway.Grant {
	g.Codes = slices.Clone(g.Codes)
	if g.RevokedAt != nil {
		t := *g.RevokedAt
		g.RevokedAt = &t
	}
	return g
}
