package audit

import (
	"context"
	"fmt"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// Position is where an event stands in the audit hash chain: what `gateway audit verify`
// checks, so a document that names a position can be tied to the verified trail.
type Position struct {
	Chain string `json:"chain,omitempty"` // "" is the default chain
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
}

// PositionOf finds where e landed in the chain, once Record has committed it. e is the
// event as its caller built it (the store assigns Seq and Hash to its own copy), so it is
// found by what identifies it: owner, code, subject, time and request id. A request's
// events are committed together and in order, so the position of its last event is the
// position of the whole request.
func (r *Recorder) PositionOf(ctx context.Context, e gateway.AuditEvent) (Position, error) {
	at := store.Micro(e.At)
	events, err := r.s.ListAudit(ctx, store.AuditFilter{Owner: e.Owner, Code: e.Code, Subject: e.Subject, From: at, To: at.Add(time.Microsecond)})
	if err != nil {
		return Position{}, fmt.Errorf("audit: position of request %s: %w", e.RequestID, err)
	}
	var p Position
	for _, s := range events {
		if s.RequestID == e.RequestID && s.Seq > p.Seq {
			p = Position{Chain: s.Chain, Seq: s.Seq, Hash: s.Hash}
		}
	}
	if p.Seq == 0 {
		return Position{}, fmt.Errorf("audit: the events of request %s are not in the trail", e.RequestID)
	}
	return p, nil
}
