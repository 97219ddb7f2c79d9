package e2e

// Attacks on the gateway through HTTP, against a real gateway over real simulators: forged
// and stale tokens, expensive or malformed queries, injection through arguments, and ID
// enumeration. Every case asserts the refusal and that no governed value left: the raw
// response bytes are searched for the fixture values the caller must not see, and the
// department simulators' counters prove that nothing reached them.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"pudong.gov.cn/gateway/adapters/sqldb"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// governedSecrets are fixture values that only some callers may see. A refused request
// must carry none of them; tests that expect a partial answer pick the subset that applies.
var governedSecrets = []string{
	"张伟", "1985-03-12", "银城中路", "13812345678", // 张伟: name, birth date, address, phone
	"李娜", "锦绣路", "13987654321", // 李娜
	"王强", "崂山路", "13601234567", "拒不履行", // 王强, and his dishonesty record's content
}

// assertNoLeak fails if raw contains any of secrets.
func assertNoLeak(t testing.TB, what string, raw []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("%s: the response leaks %q: %.600s", what, s, raw)
		}
	}
}

// rawResp is an HTTP answer read whole.
type rawResp struct {
	Status int
	Header http.Header
	Raw    []byte
}

// json decodes the body as a GraphQL response; ok is false when it is not JSON.
func (r rawResp) gql() (Resp, bool) {
	out := Resp{Status: r.Status, Raw: r.Raw, Header: r.Header}
	return out, json.Unmarshal(r.Raw, &out) == nil
}

// send posts body to /graphql as it is (no JSON encoding by the helper). A negative
// length sends the body chunked, without Content-Length.
func (g *Gateway) send(token string, body io.Reader, length int64, header map[string]string) rawResp {
	g.T.Helper()
	req, err := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", body)
	if err != nil {
		g.T.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		g.T.Fatalf("request failed: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return rawResp{Status: res.StatusCode, Header: res.Header, Raw: raw}
}

// upstreamCalls is a snapshot of everything the departments were asked.
type upstreamCalls struct {
	psb, amr map[string]int64
	credit   int64
}

func (g *Gateway) upstream() upstreamCalls {
	src, _ := g.Parts.Fed.Department("credit").Source().(*sqldb.Source)
	var q int64
	if src != nil {
		q = src.Queries()
	}
	return upstreamCalls{psb: g.Sims.PSB.Counts(), amr: g.Sims.AMR.Counts(), credit: q}
}

// assertNoUpstream fails if any department was asked anything since before.
func (g *Gateway) assertNoUpstream(t testing.TB, what string, before upstreamCalls) {
	t.Helper()
	after := g.upstream()
	if !maps.Equal(before.psb, after.psb) || !maps.Equal(before.amr, after.amr) || before.credit != after.credit {
		t.Errorf("%s reached a department: psb %v → %v, amr %v → %v, credit queries %d → %d",
			what, before.psb, after.psb, before.amr, after.amr, before.credit, after.credit)
	}
}

// TestAttackForgedTokens: every token the gateway must not trust is refused with 401, an
// RFC 6750 challenge and no data, before any department is asked. The forged tokens claim
// to be the PSB's own console, the one caller that may read 张伟's phone number; a control
// shows the same claims, properly signed, do open it.
func TestAttackForgedTokens(t *testing.T) {
	g := Start(t)
	f := newForger(t, g)
	const query = `{ citizen(idNumber: "310115198503120012") { name phone householdAddress } }`
	valid := f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(nil))
	if r := g.Post(valid, query, nil); r.Str("citizen.phone") != "13812345678" {
		t.Fatalf("control: a correctly signed psb-console token must read the phone: %s", r.Raw)
	}

	before := g.upstream()
	for _, c := range forgedTokens(t, g, f, valid) {
		t.Run(c.name, func(t *testing.T) {
			r := g.send(c.token, strings.NewReader(`{"query":`+strconv.Quote(query)+`}`), -1, nil)
			assertTokenRefused(t, r, c.name, c.token, c.reason)
		})
	}
	g.assertNoUpstream(t, "a refused token", before)
}

// forger makes tokens claiming to be the PSB's console: signed by the demo key
// or by keys the gateway does not trust, or not signed at all.
type forger struct {
	key         ed25519.PrivateKey // the demo signing key
	kid         string
	pubPEM      []byte // the demo public key's PEM file
	stranger    ed25519.PrivateKey
	strangerKID string
	ecStranger  *ecdsa.PrivateKey
	now         time.Time
}

func newForger(t *testing.T, g *Gateway) *forger {
	key, err := auth.LoadOrCreateDemoKey(g.Cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	f := &forger{key: key, now: time.Now()}
	f.kid, _ = auth.KeyID(key.Public())
	if f.pubPEM, err = os.ReadFile(auth.DemoPublicKeyFile(g.Cfg.DataDir)); err != nil {
		t.Fatal(err)
	}
	_, f.stranger, _ = ed25519.GenerateKey(rand.Reader)
	f.strangerKID, _ = auth.KeyID(f.stranger.Public())
	f.ecStranger, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return f
}

// claims are the console's claims with changes applied (nil removes a claim).
func (f *forger) claims(changes map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": auth.DemoIssuer, "aud": auth.DemoAudience, "sub": "intruder",
		"consumer": "psb-console", "dept": "psb", "purpose": "department-administration",
		"roles": []string{"approver", "auditor"},
		"iat":   f.now.Unix(), "nbf": f.now.Unix(), "exp": f.now.Add(time.Hour).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func (f *forger) sign(t *testing.T, m jwt.SigningMethod, k any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func (f *forger) unsigned(header string, c jwt.MapClaims) string {
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(c)
	return b64([]byte(header)) + "." + b64(body) + "."
}

// forgedToken is a token the gateway must refuse, and the reason it must give
// ("" when any will do).
type forgedToken struct {
	name, token, reason string
}

// forgedTokens are every token TestAttackForgedTokens sends; valid is the
// correctly signed console token some of them are made from.
func forgedTokens(t *testing.T, g *Gateway, f *forger, valid string) []forgedToken {
	b64 := base64.RawURLEncoding.EncodeToString
	// A validly signed playground token whose payload is swapped for the console's claims.
	parts := strings.Split(g.Token("playground"), ".")
	payload, _ := json.Marshal(f.claims(nil))
	tampered := parts[0] + "." + b64(payload) + "." + parts[2]
	// The valid token with its signature cut off, and with the signature of another token.
	vparts := strings.Split(valid, ".")
	noSig := vparts[0] + "." + vparts[1] + "."
	otherSig := vparts[0] + "." + vparts[1] + "." + parts[2]
	numKID := jwt.NewWithClaims(jwt.SigningMethodEdDSA, f.claims(nil))
	numKID.Header["kid"] = 42
	kidNumber, _ := numKID.SignedString(f.key)
	huge := f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"pad": strings.Repeat("A", 9<<10)}))

	return []forgedToken{
		{"alg none", f.unsigned(`{"alg":"none","typ":"JWT"}`, f.claims(nil)), "algorithm_not_allowed"},
		{"alg none with the demo kid", f.unsigned(`{"alg":"none","kid":"`+f.kid+`"}`, f.claims(nil)), "algorithm_not_allowed"},
		{"alg NONE", f.unsigned(`{"alg":"NONE","typ":"JWT"}`, f.claims(nil)), "algorithm_not_allowed"},
		{"no alg header", f.unsigned(`{"typ":"JWT"}`, f.claims(nil)), "algorithm_not_allowed"},
		{"HS256 keyed with the public key PEM", f.sign(t, jwt.SigningMethodHS256, f.pubPEM, "", f.claims(nil)), "algorithm_not_allowed"},
		{"HS256 keyed with the public key PEM, demo kid", f.sign(t, jwt.SigningMethodHS256, f.pubPEM, f.kid, f.claims(nil)), "algorithm_not_allowed"},
		{"HS256 keyed with the raw public key", f.sign(t, jwt.SigningMethodHS256, []byte(f.key.Public().(ed25519.PublicKey)), f.kid, f.claims(nil)), "algorithm_not_allowed"},
		{"ES256 by a stranger under the demo kid", f.sign(t, jwt.SigningMethodES256, f.ecStranger, f.kid, f.claims(nil)), "algorithm_not_allowed"},
		{"wrong iss", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"iss": "https://evil.example"})), "wrong_issuer"},
		{"no iss", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"iss": nil})), "missing_claim"},
		{"wrong aud", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"aud": "another-api"})), "wrong_audience"},
		{"no aud", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"aud": nil})), "missing_claim"},
		{"expired", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{
			"iat": f.now.Add(-2 * time.Hour).Unix(), "nbf": f.now.Add(-2 * time.Hour).Unix(), "exp": f.now.Add(-time.Hour).Unix()})), "expired"},
		{"no exp", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"exp": nil})), "missing_claim"},
		{"nbf in the future", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"nbf": f.now.Add(time.Hour).Unix()})), "not_yet_valid"},
		{"iat in the future", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"iat": f.now.Add(time.Hour).Unix()})), "issued_in_future"},
		{"huge token (> 8 KiB)", huge, "token_too_large"},
		{"unknown kid, demo key", f.sign(t, jwt.SigningMethodEdDSA, f.key, "no-such-key", f.claims(nil)), "unknown_key"},
		{"stranger key under its own kid", f.sign(t, jwt.SigningMethodEdDSA, f.stranger, f.strangerKID, f.claims(nil)), "unknown_key"},
		{"stranger key under the demo kid", f.sign(t, jwt.SigningMethodEdDSA, f.stranger, f.kid, f.claims(nil)), "bad_signature"},
		{"stranger key without kid", f.sign(t, jwt.SigningMethodEdDSA, f.stranger, "", f.claims(nil)), "bad_signature"},
		{"kid not a string", kidNumber, "malformed_token"},
		{"payload swapped under a valid signature", tampered, "bad_signature"},
		{"signature removed", noSig, ""},
		{"signature of another token", otherSig, "bad_signature"},
		{"not a JWT", "not-a-token", "malformed_token"},
		{"unknown consumer", f.sign(t, jwt.SigningMethodEdDSA, f.key, f.kid, f.claims(map[string]any{"consumer": "shadow-app"})), "unknown_consumer"},
	}
}

// assertTokenRefused checks a refusal of a token: 401 with an RFC 6750
// challenge, a GraphQL-shaped UNAUTHENTICATED error with the reason, no data,
// and neither a governed value nor the token's signature in the answer.
func assertTokenRefused(t *testing.T, r rawResp, name, token, reason string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401: %.300s", r.Status, r.Raw)
	}
	if ch := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q, want an RFC 6750 invalid_token challenge", ch)
	}
	resp, ok := r.gql()
	if !ok || len(resp.Errors) == 0 || resp.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Errorf("want a GraphQL-shaped UNAUTHENTICATED error: %.300s", r.Raw)
	} else if reason != "" && resp.Errors[0].Extensions["reason"] != reason {
		t.Errorf("reason %v, want %s", resp.Errors[0].Extensions["reason"], reason)
	}
	if bytes.Contains(r.Raw, []byte(`"data"`)) {
		t.Errorf("a refused request carries data: %s", r.Raw)
	}
	assertNoLeak(t, name, r.Raw, governedSecrets...)
	if sig := token[strings.LastIndexByte(token, '.')+1:]; len(sig) > 8 && bytes.Contains(r.Raw, []byte(sig)) {
		t.Errorf("the response echoes the token")
	}
}

// deepQuery nests citizen → enterprises → legalRepresentative … levels deep, ending in
// name.
func deepQuery(levels int) string {
	var b strings.Builder
	b.WriteString(`{ citizen(idNumber: "310115198503120012") { `)
	for i := 0; i < levels; i++ {
		if i%2 == 0 {
			b.WriteString("enterprises { ")
		} else {
			b.WriteString("legalRepresentative { ")
		}
	}
	b.WriteString("name phone")
	b.WriteString(strings.Repeat(" }", levels+2))
	return b.String()
}

// TestAttackQueryShapes: queries built to be expensive or to confuse the executor are
// refused before anything runs (no department is asked, no value returned), and malformed
// requests are refused by the transport.
func TestAttackQueryShapes(t *testing.T) {
	g := Start(t)
	hall := g.Token("online-hall") // sees 张伟's name and address in full: a leak would show
	zhang := []string{"张伟", "银城中路", "13812345678", "1985-03-12"}

	for _, c := range attackShapes(g) {
		t.Run(c.name, func(t *testing.T) {
			before := g.upstream()
			start := time.Now()
			r := g.Post(hall, c.query, nil)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the refusal took %v", took)
			}
			if len(r.Errors) == 0 || (c.code != "" && !slices.Contains(strings.Split(c.code, "|"), fmt.Sprint(r.Errors[0].Extensions["code"]))) {
				t.Errorf("want refusal %s: %.400s", c.code, r.Raw)
			}
			if r.Data != nil {
				t.Errorf("a refused operation returns data: %.400s", r.Raw)
			}
			assertNoLeak(t, c.name, r.Raw, zhang...)
			g.assertNoUpstream(t, c.name, before)
		})
	}

	// A fragment bomb: 24 fragments that each spread the next one twice, 2^24 paths if
	// anything expands them naively. It must be answered (or refused) quickly.
	t.Run("fragment fan-out bomb", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{ citizen(idNumber: "310115198503120012") { ...B0 } }`)
		const n = 24
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "\nfragment B%d on Citizen { name ...B%d ...B%d }", i, i+1, i+1)
		}
		fmt.Fprintf(&b, "\nfragment B%d on Citizen { name phone }", n)
		start := time.Now()
		r := g.Post(g.Token("playground"), b.String(), nil)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("a fragment bomb took %v", took)
		}
		if r.Data != nil && r.Str("citizen.name") != "张*" {
			t.Errorf("if answered, the policy still applies: %.400s", r.Raw)
		}
		assertNoLeak(t, "fragment bomb", r.Raw, zhang...)
	})

	// Transport-level refusals.
	for _, c := range attackBodies(g) {
		t.Run(c.name, func(t *testing.T) {
			before := g.upstream()
			body, n := c.body()
			r := g.send(hall, body, n, nil)
			if r.Status != c.status {
				t.Errorf("status %d, want %d: %.300s", r.Status, c.status, r.Raw)
			}
			if resp, ok := r.gql(); !ok || len(resp.Errors) == 0 || resp.Data != nil {
				t.Errorf("want a GraphQL-shaped error without data: %.300s", r.Raw)
			}
			assertNoLeak(t, c.name, r.Raw, zhang...)
			g.assertNoUpstream(t, c.name, before)
		})
	}
}

// attackShape is a query built to be expensive or to confuse the executor, and
// the code of its refusal ("A|B": either; "" when any error will do).
type attackShape struct {
	name, query string
	code        string
}

func attackShapes(g *Gateway) []attackShape {
	var aliases strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&aliases, "a%d: name ", i)
	}
	var chain strings.Builder // six fragments, each two levels deeper than the last
	chain.WriteString(`{ citizen(idNumber: "310115198503120012") { ...L0 } }`)
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&chain, "\nfragment L%d on Citizen { name enterprises { legalRepresentative { ...L%d } } }", i, i+1)
	}
	chain.WriteString("\nfragment L6 on Citizen { name phone }")

	return []attackShape{
		{"depth beyond the limit", deepQuery(g.Cfg.Limits.Depth + 4), "QUERY_TOO_DEEP"},
		{"1000 aliases of name", `{ citizen(idNumber: "310115198503120012") { ` + aliases.String() + `} }`, "TOO_MANY_ALIASES|QUERY_TOO_COMPLEX"},
		{"deeply nested fragments", chain.String(), "QUERY_TOO_DEEP"},
		{"fragment cycle", `{ citizen(idNumber: "310115198503120012") { ...A } }
			fragment A on Citizen { name enterprises { legalRepresentative { ...B } } }
			fragment B on Citizen { phone ...A }`, "GRAPHQL_VALIDATION_FAILED"},
		{"self-spreading fragment", `{ citizen(idNumber: "310115198503120012") { ...A } } fragment A on Citizen { name ...A }`, "GRAPHQL_VALIDATION_FAILED"},
		{"unknown field next to a governed one", `{ citizen(idNumber: "310115198503120012") { name nosuch } }`, "GRAPHQL_VALIDATION_FAILED"},
		{"complexity", `{ enterprises(first: 100) { edges { node { creditRecords { content } legalRepresentative { name creditRecords { content } enterprises { creditRecords { content } } } } } } }`, ""},
	}
}

// attackBody is a malformed request body (with its length, -1 for chunked) and
// the status the transport refuses it with.
type attackBody struct {
	name   string
	body   func() (io.Reader, int64)
	status int
}

func attackBodies(g *Gateway) []attackBody {
	q := `{ citizen(idNumber: "310115198503120012") { name householdAddress } }`
	op, _ := json.Marshal(map[string]any{"query": q})
	return []attackBody{
		{"batched operations (JSON array)", func() (io.Reader, int64) {
			b := []byte("[" + string(op) + "," + string(op) + "]")
			return bytes.NewReader(b), int64(len(b))
		}, http.StatusBadRequest},
		{"batched operations, one element", func() (io.Reader, int64) {
			b := []byte("[" + string(op) + "]")
			return bytes.NewReader(b), int64(len(b))
		}, http.StatusBadRequest},
		{"huge variables", func() (io.Reader, int64) {
			b, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { citizen(idNumber: $id) { name } }`,
				"variables": map[string]any{"id": dataset.ZhangWei, "pad": strings.Repeat("3", int(g.Cfg.Limits.BodyBytes))}})
			return bytes.NewReader(b), int64(len(b))
		}, http.StatusRequestEntityTooLarge},
		{"oversized body with Content-Length", func() (io.Reader, int64) {
			b := append(append([]byte(nil), op[:len(op)-1]...), []byte(`,"x":"`+strings.Repeat("x", int(g.Cfg.Limits.BodyBytes))+`"}`)...)
			return bytes.NewReader(b), int64(len(b))
		}, http.StatusRequestEntityTooLarge},
		{"oversized body, chunked (no Content-Length)", func() (io.Reader, int64) {
			pad := io.LimitReader(repeatReader('x'), 4*g.Cfg.Limits.BodyBytes)
			return io.MultiReader(bytes.NewReader(op[:len(op)-1]), strings.NewReader(`,"x":"`), pad, strings.NewReader(`"}`)), -1
		}, http.StatusRequestEntityTooLarge},
		{"query not a string", func() (io.Reader, int64) {
			b := []byte(`{"query":{"$ne":null}}`)
			return bytes.NewReader(b), int64(len(b))
		}, http.StatusBadRequest},
	}
}

// repeatReader yields c forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestAttackFieldDuplication: the same governed fields selected many times without
// aliases merge into one field each: one upstream call, one decision, one error, a small
// answer, and the mask and the denial still hold. Beyond what a front end sends (the
// document guard's selection limit) duplication is refused before validation, whose
// pairwise field checks would otherwise cost quadratic CPU.
func TestAttackFieldDuplication(t *testing.T) {
	g := Start(t)
	play := g.Token("playground")
	secrets := []string{"张伟", "银城中路", "13812345678", "1985-03-12"}
	cases := []struct {
		name       string
		query      string
		mayRefuse  bool // refusal by the selection limit is an acceptable answer
		mustRefuse bool
	}{
		// 900 selections: within what front ends send, so it must be answered.
		{"name, phone and address 300 times each", duplicated(300, "name", "phone", "householdAddress"), false, false},
		// The same governed field 1,000 times: answered as one field, or refused outright.
		{"name 1,000 times", duplicated(1000, "name", "phone"), true, false},
		// A quarter of the body limit: 50,000 selections of one field.
		{"name 50,000 times", duplicated(50000, "name"), true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g.Parts.Fed.Department("psb").Cache().Purge(t.Context(), nil)
			g.Sims.PSB.Reset()
			start := time.Now()
			raw := g.send(play, strings.NewReader(`{"query":`+strconv.Quote(c.query)+`}`), -1, nil)
			took := time.Since(start)
			r, ok := raw.gql()
			if !ok {
				t.Fatalf("not JSON: %.300s", raw.Raw)
			}
			if took > 2*time.Second {
				t.Errorf("%d bytes of duplicated fields took %v", len(c.query), took)
			}
			calls := g.Sims.PSB.Count("QueryPerson")
			switch {
			case c.mustRefuse || (c.mayRefuse && r.Data == nil):
				assertDuplicationRefused(t, r, calls)
			default:
				assertDuplicationAnswered(t, r, calls)
			}
			assertNoLeak(t, c.name, r.Raw, secrets...)
			t.Logf("%d-byte query: status %d in %v, %d bytes, %d PSB calls", len(c.query), r.Status, took.Round(time.Millisecond), len(r.Raw), calls)
		})
	}
}

// duplicated selects fields of 张伟 n times over, without aliases.
func duplicated(n int, fields ...string) string {
	var b strings.Builder
	b.WriteString(`{ citizen(idNumber: "310115198503120012") { `)
	for i := 0; i < n; i++ {
		for _, f := range fields {
			b.WriteString(f + " ")
		}
	}
	b.WriteString("} }")
	return b.String()
}

// assertDuplicationAnswered checks a duplicated query that is answered: masks,
// denial, one error, one call.
func assertDuplicationAnswered(t *testing.T, r Resp, calls int64) {
	t.Helper()
	if r.Str("citizen.name") != "张*" {
		t.Errorf("the mask still applies: %.400s", r.Raw)
	}
	if r.Get("citizen.phone") != nil || r.ErrorAt("citizen.phone") == nil {
		t.Errorf("the denial still applies: %.400s", r.Raw)
	}
	if len(r.Errors) != 1 {
		t.Errorf("one merged field is one error, got %d", len(r.Errors))
	}
	if len(r.Raw) > 4096 {
		t.Errorf("the answer to duplicated fields is %d bytes; merged fields answer once", len(r.Raw))
	}
	if calls != 1 {
		t.Errorf("PSB calls: %d, want 1", calls)
	}
}

// assertDuplicationRefused checks a duplicated query refused before anything ran.
func assertDuplicationRefused(t *testing.T, r Resp, calls int64) {
	t.Helper()
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "QUERY_TOO_COMPLEX" || r.Data != nil {
		t.Errorf("want an answer or a QUERY_TOO_COMPLEX refusal: %.400s", r.Raw)
	}
	if calls != 0 {
		t.Errorf("a refused query called the PSB %d times", calls)
	}
}

// TestAttackIntrospectionOff: with introspection off (the production default) the schema
// cannot be read by __schema or __type, however the selection is disguised.
func TestAttackIntrospectionOff(t *testing.T) {
	g := Start(t, func(c *config.Config) { c.Introspection = false })
	tok := g.Token("playground")
	for _, q := range []string{
		`{ __schema { types { name fields { name } } } }`,
		`{ __type(name: "Citizen") { fields { name description } } }`,
		`{ a: __schema { queryType { name } } }`,
		`query { ...F } fragment F on Query { __type(name: "Citizen") { fields { name } } }`,
		`{ me { consumer } __schema { directives { name } } }`,
	} {
		r := g.Post(tok, q, nil)
		if len(r.Errors) == 0 || r.Get("__schema") != nil || r.Get("__type") != nil || r.Get("a") != nil {
			t.Errorf("introspection off, yet %q answered: %.400s", q, r.Raw)
		}
		assertNoLeak(t, q, r.Raw, "householdAddress", "socialInsurance", "CreditRecordKind", "share")
	}
	// By GET as well.
	req, _ := http.NewRequest(http.MethodGet, g.Srv.URL+"/graphql?query="+URLQueryEscape(`{ __type(name: "Citizen") { fields { name } } }`), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, raw := g.Do(req)
	if bytes.Contains(raw, []byte("householdAddress")) {
		t.Errorf("introspection by GET: %d %s", res.StatusCode, raw)
	}
	// __typename is not introspection of the schema and stays available.
	if r := g.Post(tok, `{ me { __typename } }`, nil); r.Str("me.__typename") != "Consumer" {
		t.Errorf("__typename: %s", r.Raw)
	}
}

// TestAttackInjection: arguments crafted for SQL, XML and URL injection are refused as
// BAD_USER_INPUT before any adapter builds a query, an envelope or a URL: the simulators'
// counters and the credit database's query count do not move.
func TestAttackInjection(t *testing.T) {
	g := Start(t)
	hall := g.Token("online-hall")
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"SQL: always-true subject", `{ creditRecords(subject: "' OR '1'='1") { id content } }`, nil},
		{"SQL: valid code with a tail", `{ creditRecords(subject: "91310115MA1FL0AB0P' OR 1=1 --") { id content } }`, nil},
		{"SQL: valid ID with a UNION", `{ creditRecords(subject: "310115197811200036' UNION SELECT * FROM dishonesty --") { id content } }`, nil},
		{"SQL: through a variable", `query($s: ID!) { creditRecords(subject: $s) { id content } }`, map[string]any{"s": "310115197811200036'; DROP TABLE penalty; --"}},
		{"SQL: comment in an 18-character subject", `{ creditRecords(subject: "3101151978112000'-") { id content } }`, nil},
		{"SQL: in a credit code", `{ enterprise(creditCode: "1' OR '1'='1") { name creditRecords { content } } }`, nil},
		{"XML: closing the SFZH element", `{ citizen(idNumber: "</SFZH><SFZH>310115198503120012") { name phone } }`, nil},
		{"XML: through a variable", `query($id: ID!) { citizen(idNumber: $id) { name phone } }`, map[string]any{"id": "310115198503120012</SFZH><LXDH>1"}},
		{"XML: entity", `{ citizen(idNumber: "&xxe;310115198503120012") { name } }`, nil},
		{"XML: 18 characters with markup", `{ citizen(idNumber: "31011519850312<a>") { name } }`, nil},
		{"URL: traversal to the batch endpoint", `{ enterprise(creditCode: "../../v1/enterprises?codes=91310115MA1FL0AB0P,91310115607223817N") { name legalRepresentative { name } } }`, nil},
		{"URL: encoded traversal", `{ enterprise(creditCode: "%2e%2e%2f%2e%2e%2fv1%2fenterprises%3fcodes%3d91310115MA1FL0AB0P") { name } }`, nil},
		{"URL: 18 characters with a slash", `{ enterprise(creditCode: "91310115MA1FL0AB/P") { name } }`, nil},
		{"URL: query string", `{ enterprise(creditCode: "91310115MA1FL0AB0P?legalRepId=310115198503120012") { name } }`, nil},
		{"URL: legal representative traversal", `{ enterprises(legalRepresentative: "../enterprises?size=100") { totalCount edges { node { name } } } }`, nil},
		{"URL: CRLF", "query($c: ID!) { enterprise(creditCode: $c) { name } }", map[string]any{"c": "91310115MA1FL0AB0P\r\nX-Api-Key: x"}},
		{"unicode digits", `{ citizen(idNumber: "３１０１１５１９８５０３１２００１２") { name } }`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := g.upstream()
			r := g.Post(hall, c.query, c.vars)
			if len(r.Errors) == 0 {
				t.Fatalf("not refused: %.400s", r.Raw)
			}
			for _, e := range r.Errors {
				if code := e.Extensions["code"]; code != "BAD_USER_INPUT" && code != "GRAPHQL_VALIDATION_FAILED" {
					t.Errorf("want BAD_USER_INPUT, got %v: %s", code, e.Message)
				}
			}
			// The online hall may read names, addresses and credit content: none must come back.
			assertNoLeak(t, c.name, r.Raw, governedSecrets...)
			assertNoLeak(t, c.name, r.Raw, "上海浦江智联科技有限公司", "上海东岸食品有限公司", "</SFZH>", "DROP TABLE", "X-Api-Key")
			g.assertNoUpstream(t, c.name, before)
		})
	}
}

// TestAttackIDEnumeration: walking through many ID numbers with a playground token or a
// citizen's token runs into the per-end-user limit (429 with Retry-After, no data); the
// online hall, a service backend acting for many people, is not throttled at that volume.
func TestAttackIDEnumeration(t *testing.T) {
	g := Start(t)
	persons := slices.Collect(g.Sims.Data.AllPersons())
	const q = `query($id: ID!) { citizen(idNumber: $id) { idNumber name householdAddress } }`
	walk := func(t *testing.T, token string, n int, masked bool) (ok int, limited *Resp) {
		for i := 0; i < n; i++ {
			p := persons[(i+7)%len(persons)]
			r := g.Post(token, q, map[string]any{"id": p.IDNumber})
			switch r.Status {
			case http.StatusOK:
				ok++
				if masked && len([]rune(p.Name)) > 1 && bytes.Contains(r.Raw, []byte(p.Name)) {
					t.Errorf("%s's full name in a masked answer: %s", p.IDNumber, r.Raw)
				}
			case http.StatusTooManyRequests:
				if limited == nil {
					limited = &r
				}
				assertNoLeak(t, "429", r.Raw, p.Name, p.Address, p.IDNumber)
				if r.Data != nil {
					t.Errorf("a 429 carries data: %s", r.Raw)
				}
			default:
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
		}
		return ok, limited
	}
	for _, who := range []struct{ name, consumer, citizen string }{
		{"playground", "playground", ""},
		{"citizen session", "ipudong-portal", dataset.LiNa},
	} {
		t.Run(who.name, func(t *testing.T) {
			var tok string
			if who.citizen != "" {
				tok = g.Token(who.consumer, who.citizen)
			} else {
				tok = g.Token(who.consumer)
			}
			user, _ := g.Cfg.Consumer(who.consumer).Limits()
			n := user.Burst + 40
			start := time.Now()
			ok, limited := walk(t, tok, n, true)
			allowed := user.Burst + int(user.PerSecond*time.Since(start).Seconds()) + 1
			if limited == nil {
				t.Fatalf("%d lookups of different people, none refused (limit %v/s burst %d)", n, user.PerSecond, user.Burst)
			}
			if ok > allowed {
				t.Errorf("%d lookups answered, the limit allows about %d", ok, allowed)
			}
			if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("429 without a usable Retry-After: %q", limited.Header.Get("Retry-After"))
			}
			if len(limited.Errors) == 0 || limited.Errors[0].Extensions["code"] != "RATE_LIMITED" {
				t.Errorf("429 without RATE_LIMITED: %s", limited.Raw)
			}
			t.Logf("%s: %d of %d lookups answered before and between refusals", who.name, ok, n)
		})
	}
	t.Run("online hall", func(t *testing.T) {
		user, _ := g.Cfg.Consumer("playground").Limits()
		n := user.Burst + 40
		if ok, limited := walk(t, g.Token("online-hall"), n, false); limited != nil || ok != n {
			t.Errorf("the online hall was throttled: %d of %d answered", ok, n)
		}
	})
}

// TestAttackDNSRebindingOnDemo: a malicious page whose host name an attacker re-points at
// 127.0.0.1 (DNS rebinding) is same-origin with a demo gateway on loopback as far as the
// browser knows. It must not be able to mint a console token at /demo/token and read
// 张伟's phone number with it.
func TestAttackDNSRebindingOnDemo(t *testing.T) {
	g := Start(t)
	if !g.Cfg.Demo {
		t.Skip("the token endpoint exists in demo mode only")
	}
	const evil = "rebind.evil.example:8080"
	req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/demo/token", strings.NewReader(`{"consumer":"psb-console"}`))
	req.Host = evil
	req.Header.Set("Origin", "http://"+evil)
	req.Header.Set("Content-Type", "text/plain") // a "simple" request: no preflight
	res, raw := g.Do(req)
	var minted struct {
		Token string `json:"token"`
	}
	json.Unmarshal(raw, &minted)
	if minted.Token == "" {
		return // refused: the defence holds
	}
	q, _ := json.Marshal(map[string]any{"query": `{ citizen(idNumber: "310115198503120012") { phone householdAddress } }`})
	req, _ = http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", bytes.NewReader(q))
	req.Host = evil
	req.Header.Set("Origin", "http://"+evil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+minted.Token)
	res2, raw2 := g.Do(req)
	leaked := bytes.Contains(raw2, []byte("13812345678"))
	t.Logf("token endpoint under a foreign Host: %d; /graphql with that token and Origin: %d, phone leaked: %v", res.StatusCode, res2.StatusCode, leaked)
	t.Errorf("a page on a rebound host name minted a console token (%d)", res.StatusCode)
	assertNoLeak(t, "DNS rebinding", raw2, "13812345678", "银城中路")
}
