package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/internal/keyfile"
	"pudong.gov.cn/gateway/seal"
	"pudong.gov.cn/gateway/store"
)

// postRaw sends a GraphQL body as given, with extra headers, and returns the body.
func postRaw(g *e2e.Gateway, token string, body map[string]any, header http.Header) ([]byte, http.Header) {
	g.T.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.T.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		g.T.Fatalf("HTTP %d: %s", res.StatusCode, raw)
	}
	return raw, res.Header
}

// The online hall asks for a sealed answer about 张伟, saves it, and verifies it later
// with `gateway seal verify`: the seal names the request, the consumer and the position
// of the request's audit events in the stored chain; one changed byte fails it.
func TestSealedAnswerOnTheDemo(t *testing.T) {
	g := e2e.Start(t)
	tok := g.Token("online-hall")
	q := `query($id: ID!) { citizen(idNumber: $id) { idNumber name householdAddress } }`
	vars := map[string]any{"id": "310115198503120012"}

	for _, how := range []struct {
		name   string
		body   map[string]any
		header http.Header
	}{
		{"extension", map[string]any{"query": q, "variables": vars, "extensions": map[string]any{"seal": true}}, nil},
		{"header", map[string]any{"query": q, "variables": vars}, http.Header{seal.Header: {"true"}}},
	} {
		t.Run(how.name, func(t *testing.T) {
			raw, hdr := postRaw(g, tok, how.body, how.header)
			file := filepath.Join(t.TempDir(), "answer.json")
			if err := os.WriteFile(file, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			verifySavedAnswer(t, g, file, raw, hdr.Get("X-Request-Id"))
			// The attested position is the request's own last event in the stored chain.
			checkAttestedPosition(t, g, raw, hdr.Get("X-Request-Id"))
			oneChangedByteFails(t, g, file, raw)
		})
	}

	// The seal key is published, without a token, as the JWK Set a browser verifies with.
	checkPublishedSealKey(t, g)

	// Unsealed answers stay as they were; a malformed request says what is wrong.
	raw, _ := postRaw(g, tok, map[string]any{"query": q, "variables": vars}, nil)
	if bytes.Contains(raw, []byte(`"seal"`)) {
		t.Errorf("unasked seal: %s", raw)
	}
	raw, _ = postRaw(g, tok, map[string]any{"query": q, "variables": vars, "extensions": map[string]any{"seal": "please"}}, nil)
	if !bytes.Contains(raw, []byte(errcode.BadSealRequest)) || bytes.Contains(raw, []byte("张伟")) {
		t.Errorf("bad seal request: %s", raw)
	}
}

// verifySavedAnswer runs `gateway seal verify` on a saved answer: the seal
// holds and names the consumer, the request and its audit chain position.
func verifySavedAnswer(t *testing.T, g *e2e.Gateway, file string, raw []byte, requestID string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"seal", "verify", file, "--data", g.Cfg.DataDir}, os.Getenv, &out); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), raw)
	}
	for _, want := range []string{"seal OK", "consumer online-hall", "request " + requestID, `data.citizen.name = "张伟"`, "audit chain position: seq "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verify output lacks %q:\n%s", want, out.String())
		}
	}
}

// checkAttestedPosition checks that the seal names the request's last audit
// event in the stored chain, with its hash.
func checkAttestedPosition(t *testing.T, g *e2e.Gateway, raw []byte, requestID string) {
	t.Helper()
	v, err := seal.Verify(raw, sealKey(g))
	if err != nil {
		t.Fatal(err)
	}
	events, err := g.Parts.Store.ListAudit(t.Context(), store.AuditFilter{Owner: "psb"})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, e := range events {
		if e.RequestID == requestID {
			last = max(last, e.Seq)
			if e.Seq == v.Attestation.Audit.Seq && e.Hash != v.Attestation.Audit.Hash {
				t.Errorf("seal names hash %s at seq %d, the trail has %s", v.Attestation.Audit.Hash, e.Seq, e.Hash)
			}
		}
	}
	if last == 0 || v.Attestation.Audit.Seq != last {
		t.Errorf("seal names seq %d, the request's last event is %d", v.Attestation.Audit.Seq, last)
	}

}

// oneChangedByteFails changes one character of a saved answer: the documented
// procedure and `gateway seal verify` (exit code 2) both refuse it.
func oneChangedByteFails(t *testing.T, g *e2e.Gateway, file string, raw []byte) {
	t.Helper()
	forged := bytes.Replace(raw, []byte("张伟"), []byte("张玮"), 1)
	pyForged := filepath.Join(t.TempDir(), "forged.json")
	os.WriteFile(pyForged, forged, 0o600)
	checkDocumentedProcedure(t, g, file, pyForged)
	os.WriteFile(file, forged, 0o600)
	var out bytes.Buffer
	err := run(t.Context(), []string{"seal", "verify", "--data", g.Cfg.DataDir, file}, os.Getenv, &out)
	var code exitCode
	if !errors.As(err, &code) || code != 2 || !strings.Contains(out.String(), "seal INVALID") {
		t.Errorf("a changed byte: %v\n%s", err, out.String())
	}
}

// checkPublishedSealKey checks that the demo's seal key is published, without a
// token, as a JWK Set.
func checkPublishedSealKey(t *testing.T, g *e2e.Gateway) {
	t.Helper()
	res, err := g.Srv.Client().Get(g.Srv.URL + seal.KeysPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct{ Keys []seal.JWK }
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil || res.StatusCode != http.StatusOK || len(set.Keys) != 1 {
		t.Fatalf("GET %s: %d, %v, %+v", seal.KeysPath, res.StatusCode, err, set)
	}
	if k := set.Keys[0]; k.Kid != seal.KeyID(sealKey(g)) || k.X != base64.RawURLEncoding.EncodeToString(sealKey(g)) {
		t.Errorf("published key %+v is not the demo's seal key", k)
	}

}

// sealKey is the demo's seal public key.
func sealKey(g *e2e.Gateway) ed25519.PublicKey {
	g.T.Helper()
	pub, err := seal.ReadPublicKey(filepath.Join(g.Cfg.DataDir, seal.PublicKeyFile))
	if err != nil {
		g.T.Fatal(err)
	}
	return pub
}

// postSealed sends an operation asking for a sealed answer and checks the seal.
func postSealed(g *e2e.Gateway, token, query string, vars map[string]any) e2e.Resp {
	g.T.Helper()
	raw, hdr := postRaw(g, token, map[string]any{"query": query, "variables": vars}, http.Header{seal.Header: {"true"}})
	if _, err := seal.Verify(raw, sealKey(g)); err != nil {
		g.T.Errorf("the sealed answer does not verify: %v\n%s", err, raw)
	}
	out := e2e.Resp{Status: http.StatusOK, Raw: raw, Header: hdr}
	if err := json.Unmarshal(raw, &out); err != nil {
		g.T.Fatal(err)
	}
	return out
}

// checkDocumentedProcedure runs the Python verification of docs/sealed-answers.md on a
// sealed answer and on a forged one, so the documented procedure stays true.
func checkDocumentedProcedure(t *testing.T, g *e2e.Gateway, good, forged string) {
	t.Helper()
	if err := exec.Command("python3", "-c", "import cryptography").Run(); err != nil {
		t.Log("python3 with the cryptography package is not installed; the documented procedure is not run")
		return
	}
	doc, err := os.ReadFile("../../docs/sealed-answers.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/sealed-answers.md has no Python procedure")
	}
	script := filepath.Join(t.TempDir(), "verify.py")
	os.WriteFile(script, m[1], 0o600)
	pub := filepath.Join(g.Cfg.DataDir, seal.PublicKeyFile)
	if out, err := exec.Command("python3", script, good, pub).CombinedOutput(); err != nil || !strings.Contains(string(out), "seal OK") {
		t.Errorf("the documented procedure does not verify a sealed answer: %v\n%s", err, out)
	}
	if out, err := exec.Command("python3", script, forged, pub).CombinedOutput(); err == nil || !strings.Contains(string(out), "InvalidSignature") {
		t.Errorf("the documented procedure accepts a forged answer: %v\n%s", err, out)
	}
}

// In production the seal key is seal.keyFile (config.Load makes it relative to the
// configuration file); a missing or world-readable key stops the start with a message,
// and no key at all leaves seals refused (SEAL_UNAVAILABLE) rather than the gateway down.
func TestSealKeyFromConfiguration(t *testing.T) {
	dir := t.TempDir()
	if _, err := keyfile.ReadOrCreatePair(filepath.Join(dir, "seal.pem"), filepath.Join(dir, "seal.pub.pem")); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Path: filepath.Join(dir, "gateway.yaml"), Seal: config.Seal{KeyFile: filepath.Join(dir, "seal.pem")}}
	s, err := app.NewSealer(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.ReadPublicKey(filepath.Join(dir, "seal.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := seal.VerifyDetached(jws, []byte("payload"), pub); err != nil {
		t.Errorf("signed with the configured key: %v", err)
	}
	cfg.Seal.KeyFile = filepath.Join(dir, "missing.pem")
	if _, err := app.NewSealer(cfg, nil, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "seal key") {
		t.Errorf("a missing key: %v", err)
	}
	os.Chmod(filepath.Join(dir, "seal.pem"), 0o644)
	cfg.Seal.KeyFile = filepath.Join(dir, "seal.pem")
	if _, err := app.NewSealer(cfg, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("a key others can read was accepted")
	}
	cfg.Seal.KeyFile = ""
	s, err = app.NewSealer(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign([]byte("x")); err == nil {
		t.Errorf("signed without a key")
	}
}
