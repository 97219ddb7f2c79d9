package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
)

// Two gateway replicas against one PostgreSQL: a grant approved through one is in force
// through the other within a second, and each writes a verifiable audit chain of its own.
func TestTwoReplicasShareGrantsAndAuditAChainEach(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	shared := t.TempDir() // one signing key for both replicas, as production shares its JWKS
	usePG := func(replica string) func(c *config.Config) {
		return func(c *config.Config) {
			c.Store = config.Store{Driver: "postgres", DSN: dsn, Replica: replica}
			c.DataDir = shared
		}
	}
	a, b := Start(t, usePG("replica-a")), Start(t, usePG("replica-b"))

	play := a.Token("playground")
	q := `{ citizen(idNumber: "310115198503120012") { gender } }`
	if r := b.Post(b.Token("playground"), q, nil); r.ErrorAt("citizen.gender") == nil {
		t.Fatalf("gender starts denied: %s", r.Raw)
	}
	r := a.Post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-003"], justification: "replica test"}) { id } }`, nil)
	id := r.Str("requestSharing.0.id")
	// The request filed through a is decided through b.
	if r := b.Post(b.Token("psb-console"), `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true) { status } }`, map[string]any{"id": id}); r.Str("decideSharingRequest.status") != "APPROVED" {
		t.Fatalf("approve through b: %s", r.Raw)
	}
	approved := time.Now()
	for {
		r := a.Post(play, q, nil)
		if r.Str("citizen.gender") == "MALE" {
			break
		}
		if time.Since(approved) > time.Second {
			t.Fatalf("the grant approved through b was not in force through a within a second: %s", r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("grant in force on the other replica after %v", time.Since(approved).Round(time.Millisecond))

	// Concurrent traffic through both replicas: a chain each, both verifiable.
	done := make(chan struct{})
	for _, g := range []*Gateway{a, b} {
		go func(g *Gateway) {
			defer func() { done <- struct{}{} }()
			tok := g.Token("online-hall")
			for i := 0; i < 20; i++ {
				g.Post(tok, `{ citizen(idNumber: "310115199001010029") { name birthDate } }`, nil)
			}
		}(g)
	}
	<-done
	<-done
	rep, err := audit.Verify(context.Background(), a.Parts.Store)
	if err != nil || !rep.OK() || rep.Checked < 80 {
		t.Errorf("verifiable chains from both replicas: %+v %v", rep, err)
	}
	chains, err := b.Parts.Store.AuditChains(context.Background())
	if err != nil || !slices.Equal(chains, []string{"replica-a", "replica-b"}) {
		t.Errorf("audit chains = %v, %v; want one per replica", chains, err)
	}
}
