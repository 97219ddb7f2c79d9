package main

import (
	"net/http"
	"testing"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
)

// On PostgreSQL the readiness probe once sent a requester name with a NUL byte, which
// PostgreSQL refuses, so /readyz answered 503 while queries worked and a load balancer
// following docs/operators.md took every replica out of service.
func TestReadyOnPostgres(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	g := newTG(t, func(c *config.Config) { c.Store = config.Store{Driver: "postgres", DSN: dsn} })
	res, err := http.Get(g.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz on PostgreSQL: %d, components %v", res.StatusCode, g.readyz())
	}
	g.parts.store.Close()
	if c := g.readyz(); c["store"] != "down" {
		t.Errorf("/readyz with the store closed: %v", c)
	}
}
