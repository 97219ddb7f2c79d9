package sharing

import (
	"testing"

	"pudong.gov.cn/gateway"
)

// TestAuditCursor: a cursor given out reads back as the position it came from, on the
// default chain (the form that existed before chains) and on a replica's.
func TestAuditCursor(t *testing.T) {
	for _, e := range []gateway.AuditEvent{{Seq: 42}, {Seq: 7, Chain: "R-7KQ2M9XDA3"}} {
		c := auditCursor(e)
		seq, chain, ok := parseAuditCursor(c)
		if !ok || seq != e.Seq || chain != e.Chain {
			t.Errorf("cursor %q reads back as %d, %q, %v; want %d, %q", c, seq, chain, ok, e.Seq, e.Chain)
		}
	}
	if c := auditCursor(gateway.AuditEvent{Seq: 42}); c != "seq:42" {
		t.Errorf("default-chain cursor = %q, want seq:42 (cursors given out before chains stay valid)", c)
	}
	for _, bad := range []string{"42", "seq:", "seq:-1", "seq:x:a", "page:3"} {
		if _, _, ok := parseAuditCursor(bad); ok {
			t.Errorf("parseAuditCursor(%q) accepted it", bad)
		}
	}
}
