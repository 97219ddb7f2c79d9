package seal

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/golang-jwt/jwt/v5"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/errcode"
)

// RFC 8785's own examples of number and string canonicalisation, and member order by
// UTF-16 code units.
func TestCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"b":1,"a":[1.0, 2.50, -0, 1e21, 1E-7, 333333333.33333329, 4.50]}`, `{"a":[1,2.5,0,1e+21,1e-7,333333333.3333333,4.5],"b":1}`},
		{`{"\u20ac":"Euro Sign","\r":"Carriage Return","1":"One","\ud83d\ude00":"Emoji","\u0080":"Control","\u00f6":"Latin"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji\"}"},
		{`{"s":"张伟 \"q\" \\ \u0007 </tag>&"}`, `{"s":"张伟 \"q\" \\ \u0007 </tag>&"}`},
		{"  [ true , null , {} ]  ", `[true,null,{}]`},
	} {
		got, err := Canonical([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if string(got) != c.want {
			t.Errorf("Canonical(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`{"a":1} {}`, `{"a":`, `1e999`} {
		if _, err := Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%s) should fail", bad)
		}
	}
}

// sealed runs one operation through a Sealer whose audit recorder commits one event, and
// returns the response body as the transport would write it.
func sealed(t *testing.T, s *Sealer, oc *graphql.OperationContext, data string) []byte {
	t.Helper()
	ctx := graphql.WithOperationContext(context.Background(), oc)
	ctx = gateway.WithRequestID(ctx, "req-0001")
	ctx = gateway.WithCaller(ctx, &gateway.Caller{Consumer: "online-hall", Subject: "clerk-07", Purpose: "administrative-approval"})
	rec := s.Recorder(recorderFunc(func(context.Context, []gateway.AuditEvent) error { return nil }))
	h := s.InterceptOperation(ctx, func(ctx context.Context) graphql.ResponseHandler {
		return func(ctx context.Context) *graphql.Response {
			ev := []gateway.AuditEvent{{Code: "310115-PSB-RK01-002", Subject: "310115198503120012", RequestID: "req-0001"}}
			if err := rec.Record(ctx, ev); err != nil {
				t.Fatal(err)
			}
			return &graphql.Response{Data: json.RawMessage(data), Extensions: map[string]any{"masked": []any{}}}
		}
	})
	resp := h(ctx)
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type recorderFunc func(context.Context, []gateway.AuditEvent) error

func (f recorderFunc) Record(ctx context.Context, e []gateway.AuditEvent) error { return f(ctx, e) }

func newTestSealer(t *testing.T) (*Sealer, ed25519.PublicKey) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{
		Key: key,
		Position: func(_ context.Context, e gateway.AuditEvent) (audit.Position, error) {
			if e.Code != "310115-PSB-RK01-002" {
				t.Errorf("position asked for %+v, not the request's last event", e)
			}
			return audit.Position{Seq: 42, Hash: strings.Repeat("ab", 32)}, nil
		},
		Now: func() time.Time { return time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC) },
	})
	return s, pub
}

const answer = `{"citizen":{"name":"张伟","householdAddress":"上海市浦东新区张杨路1号","capital":500}}`

func TestSealVerifiesAndAnyChangeFails(t *testing.T) {
	s, pub := newTestSealer(t)
	body := sealed(t, s, &graphql.OperationContext{Extensions: map[string]any{"seal": true}}, answer)

	v, err := Verify(body, pub)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	a := v.Attestation
	if a.RequestID != "req-0001" || a.Consumer != "online-hall" || a.EndUser != "clerk-07" || a.Audit == nil || a.Audit.Seq != 42 || a.SealedAt != "2026-12-04T08:00:00Z" {
		t.Errorf("attestation %+v", a)
	}
	if !strings.Contains(strings.Join(v.Values, "\n"), `data.citizen.name = "张伟"`) {
		t.Errorf("values %q", v.Values)
	}

	// Re-indenting keeps the meaning, so the seal still holds.
	var pretty map[string]any
	json.Unmarshal(body, &pretty)
	re, _ := json.MarshalIndent(pretty, "", "    ")
	if _, err := Verify(re, pub); err != nil {
		t.Errorf("a re-indented answer should verify: %v", err)
	}

	// One changed byte anywhere in a value, in the attestation or in the data, fails.
	for _, change := range [][2]string{{"张伟", "张伪"}, {`1号`, `2号`}, {`"seq":42`, `"seq":43`}, {`"consumer":"online-hall"`, `"consumer":"online-hail"`}, {`500`, `501`}} {
		forged := strings.Replace(string(body), change[0], change[1], 1)
		if forged == string(body) {
			t.Fatalf("%s not in %s", change[0], body)
		}
		if _, err := Verify([]byte(forged), pub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("changing %s to %s: %v, want ErrBadSignature", change[0], change[1], err)
		}
	}
	// Another key does not verify it.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Verify(body, other); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("other key: %v", err)
	}
	if _, err := Verify([]byte(`{"data":{}}`), pub); !errors.Is(err, ErrNoSeal) {
		t.Errorf("no seal: %v", err)
	}
}

// The seal is a standard detached JWS: a JWS library (golang-jwt here) verifies it over
// the canonical form of the answer without the signature, as docs/sealed-answers.md says.
func TestSealIsAStandardDetachedJWS(t *testing.T) {
	s, pub := newTestSealer(t)
	body := sealed(t, s, &graphql.OperationContext{Headers: http.Header{"X-Gateway-Seal": {"true"}}}, answer)
	var doc map[string]any
	json.Unmarshal(body, &doc)
	sealObj := doc["extensions"].(map[string]any)["seal"].(map[string]any)
	jws := sealObj["jws"].(string)
	delete(sealObj, "jws")
	unsigned, _ := json.Marshal(doc)
	payload, err := Canonical(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	head, sig, _ := strings.Cut(jws, "..")
	sigBytes, _ := base64.RawURLEncoding.DecodeString(sig)
	if err := jwt.SigningMethodEdDSA.Verify(head+"."+base64.RawURLEncoding.EncodeToString(payload), sigBytes, pub); err != nil {
		t.Fatalf("golang-jwt does not verify the seal: %v", err)
	}
	hb, _ := base64.RawURLEncoding.DecodeString(head)
	if !strings.Contains(string(hb), `"alg":"EdDSA"`) || !strings.Contains(string(hb), `"kid":"`+KeyID(pub)+`"`) {
		t.Errorf("header %s", hb)
	}
}

func TestSealRequests(t *testing.T) {
	s, _ := newTestSealer(t)
	// Not asked: no seal.
	body := sealed(t, s, &graphql.OperationContext{}, answer)
	if strings.Contains(string(body), `"seal"`) {
		t.Errorf("unasked seal: %s", body)
	}
	for _, oc := range []*graphql.OperationContext{
		{Extensions: map[string]any{"seal": "yes"}},
		{Headers: http.Header{"X-Gateway-Seal": {"maybe"}}},
	} {
		ctx := graphql.WithOperationContext(context.Background(), oc)
		resp := s.InterceptOperation(ctx, func(context.Context) graphql.ResponseHandler { t.Fatal("executed"); return nil })(ctx)
		if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != errcode.BadSealRequest {
			t.Errorf("%+v: %v", oc, resp.Errors)
		}
	}
	// No key: the answer comes without a seal and says so.
	nokey := New(Options{})
	body = sealed(t, nokey, &graphql.OperationContext{Extensions: map[string]any{"seal": true}}, answer)
	if !strings.Contains(string(body), errcode.SealUnavailable) || strings.Contains(string(body), `"jws"`) {
		t.Errorf("without a key: %s", body)
	}
}
