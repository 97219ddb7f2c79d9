package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/errcode"
)

// A production front end in allowlist mode may send only registered operations, by
// text or by hash; other consumers are unaffected.
func TestAllowlistMode(t *testing.T) {
	dir := t.TempDir()
	registered := "query Profile($id: ID!) { citizen(idNumber: $id) { name } }\n"
	os.WriteFile(filepath.Join(dir, "profile.graphql"), []byte(registered), 0o644)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"allowlist", "register", dir}, os.Getenv, &out); err != nil {
		t.Fatalf("register: %v %s", err, out.String())
	}
	// A file that does not validate is refused with its name.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "broken.graphql"), []byte("{ citizen { nosuchfield } }"), 0o644)
	if err := run(t.Context(), []string{"allowlist", "register", bad}, os.Getenv, &out); err == nil || !strings.Contains(err.Error(), "broken.graphql") {
		t.Errorf("an invalid operation must be refused naming its file: %v", err)
	}

	g := e2e.Start(t, func(c *config.Config) {
		c.Allowlist = filepath.Join(dir, "allowlist.json")
		for i := range c.Consumers {
			if c.Consumers[i].Name == "ipudong-portal" {
				c.Consumers[i].AllowlistOnly = true
			}
		}
	})
	portal := g.Token("ipudong-portal", "310115198503120012")
	vars := map[string]any{"id": "310115198503120012"}
	if r := g.Post(portal, registered, vars); r.Str("citizen.name") != "张伟" {
		t.Errorf("a registered operation: %s", r.Raw)
	}
	r := g.Post(portal, `{ citizen(idNumber: "310115198503120012") { name phone } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != errcode.NotAllowlisted || r.Get("citizen") != nil {
		t.Errorf("an unregistered operation: %s", r.Raw)
	}
	if r := g.Post(g.Token("online-hall"), `{ citizen(idNumber: "310115198503120012") { name } }`, nil); r.Str("citizen.name") != "张伟" {
		t.Errorf("consumers without allowlist mode are unaffected: %s", r.Raw)
	}
}
