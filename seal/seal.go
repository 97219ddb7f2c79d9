// Package seal attaches electronic seals to GraphQL answers (docs/sealed-answers.md): a
// caller who asks for one gets, in the response's extensions, a detached JWS signed with
// the gateway's Ed25519 seal key over the canonical form of the whole response (data,
// errors, extensions), with the request id, the consumer, the time and the audit chain
// position of the request's own audit events attested beside it. Anyone holding the seal
// key's public half can later verify a saved answer with Verify, `gateway seal verify` or
// any JWS library, and see exactly which values were attested.
package seal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/errcode"
)

// How a caller asks for a seal, and where the answer carries it.
const (
	// Header asks for a seal when its value is "true" (for clients that cannot add
	// request extensions).
	Header = "X-Gateway-Seal"
	// Extension is the key of the request extension ({"seal": true}) and of the
	// response extension that carries the seal.
	Extension = "seal"
	// Format names the attestation's format; a future change is a new name.
	Format = "pudong-gateway-seal-v1"
	// KeyFile and PublicKeyFile are the seal key's files in the demo data directory,
	// apart from the token and audit keys.
	KeyFile       = "seal-key.pem"
	PublicKeyFile = "seal-key.pub.pem"
)

// Attestation is the seal a response carries in extensions.seal. Everything in it but
// JWS is itself part of the sealed response.
type Attestation struct {
	Format    string          `json:"format"`
	KeyID     string          `json:"kid"`
	RequestID string          `json:"requestId"` // the gateway's own id of the request
	Consumer  string          `json:"consumer"`
	EndUser   string          `json:"endUser"`
	Purpose   string          `json:"purpose"`
	SealedAt  string          `json:"sealedAt"` // UTC, RFC 3339
	Audit     *audit.Position `json:"audit"`    // the request's last audit event; null when it recorded none
	// JWS is the detached compact serialisation "header..signature" (RFC 7515
	// appendix F): its payload is the canonical form of the response without this field.
	JWS string `json:"jws,omitempty"`
}

// Recorder is the audit recorder the sharing policy commits a request's events to.
type Recorder interface {
	Record(ctx context.Context, events []gateway.AuditEvent) error
}

// Options configure a Sealer.
type Options struct {
	// Key signs the seals; nil refuses every seal with SEAL_UNAVAILABLE.
	Key ed25519.PrivateKey
	// Position finds where a committed audit event landed in the chain.
	Position func(ctx context.Context, e gateway.AuditEvent) (audit.Position, error)
	Now      func() time.Time
	Log      *slog.Logger
}

// Sealer is the gqlgen extension that seals the answers callers ask it to seal. Register
// it before the sharing policy's extension, so that the audit events are committed
// before the seal names their position, and before any extension whose output should be
// attested.
type Sealer struct {
	o   Options
	kid string
}

// New returns a Sealer.
func New(o Options) *Sealer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Sealer{o: o}
	if o.Key != nil {
		s.kid = KeyID(o.Key.Public().(ed25519.PublicKey))
	}
	return s
}

// KeyID names a seal key: the base64url SHA-256 thumbprint of its JWK (RFC 7638), so
// a verifier can tell which published key to use.
func KeyID(pub ed25519.PublicKey) string { return thumbprint(pub) }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = (*Sealer)(nil)

// ExtensionName names the extension for gqlgen.
func (s *Sealer) ExtensionName() string { return "Seal" }

// Validate is part of gqlgen's extension interface.
func (s *Sealer) Validate(graphql.ExecutableSchema) error { return nil }

// tap collects the last audit event a sealed request committed.
type tap struct {
	mu   sync.Mutex
	last *gateway.AuditEvent
}

type tapKey struct{}

// Recorder wraps the audit recorder so that a sealed request learns which of its events
// was committed last; other requests pass straight through.
func (s *Sealer) Recorder(next Recorder) Recorder { return tapRecorder{next} }

type tapRecorder struct{ next Recorder }

func (r tapRecorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	if err := r.next.Record(ctx, events); err != nil {
		return err
	}
	if t, _ := ctx.Value(tapKey{}).(*tap); t != nil && len(events) > 0 {
		last := events[len(events)-1]
		t.mu.Lock()
		t.last = &last
		t.mu.Unlock()
	}
	return nil
}

// InterceptOperation seals the response of an operation that asked for it.
func (s *Sealer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	want, err := requested(graphql.GetOperationContext(ctx))
	if err != nil {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message: err.Error(), Extensions: map[string]any{"code": errcode.BadSealRequest}}}})
	}
	if !want {
		return next(ctx)
	}
	t := &tap{}
	ctx = context.WithValue(ctx, tapKey{}, t)
	h := next(ctx)
	return func(rctx context.Context) *graphql.Response {
		resp := h(context.WithValue(rctx, tapKey{}, t))
		if resp == nil {
			return nil
		}
		if err := s.seal(rctx, t, resp); err != nil {
			s.o.Log.Error("answer not sealed", "request_id", gateway.RequestID(rctx), "err", err)
			resp.Errors = append(resp.Errors, &gqlerror.Error{
				Message:    "the gateway could not seal this answer; the data are not attested, try again later",
				Extensions: map[string]any{"code": errcode.SealUnavailable}})
		}
		return resp
	}
}

// requested reports whether an operation asks for a seal, by request extension or
// header; anything but a boolean in the extension is a mistake worth saying.
func requested(oc *graphql.OperationContext) (bool, error) {
	if oc == nil {
		return false, nil
	}
	if v, ok := oc.Extensions[Extension]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return false, fmt.Errorf(`extensions.seal must be true or false, not %v`, v)
		}
		if b {
			return true, nil
		}
	}
	switch h := strings.ToLower(strings.TrimSpace(oc.Headers.Get(Header))); h {
	case "":
		return false, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	default:
		return false, fmt.Errorf("header %s must be true or false, not %q", Header, h)
	}
}

// seal signs resp and puts the seal in its extensions.
func (s *Sealer) seal(ctx context.Context, t *tap, resp *graphql.Response) error {
	if s.o.Key == nil {
		return errors.New("no seal key is configured (seal.keyFile)")
	}
	a := Attestation{Format: Format, KeyID: s.kid, RequestID: gateway.RequestID(ctx), SealedAt: s.o.Now().UTC().Format(time.RFC3339Nano)}
	if c := gateway.CallerFrom(ctx); c != nil {
		a.Consumer, a.EndUser, a.Purpose = c.Consumer, c.Subject, c.Purpose
	}
	t.mu.Lock()
	last := t.last
	t.mu.Unlock()
	if last != nil {
		if s.o.Position == nil {
			return errors.New("audit positions are not available")
		}
		p, err := s.o.Position(ctx, *last)
		if err != nil {
			return err
		}
		a.Audit = &p
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions[Extension] = a
	doc, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("seal: encoding the response: %w", err)
	}
	payload, err := Canonical(doc)
	if err != nil {
		delete(resp.Extensions, Extension)
		return err
	}
	a.JWS = sign(s.o.Key, s.kid, payload)
	resp.Extensions[Extension] = a
	return nil
}

// Sign returns a detached JWS (header..signature) over payload with the seal key: how
// the gateway signs what it sends on its own initiative, such as watch notices to a
// consumer's webhook. VerifyDetached checks it.
func (s *Sealer) Sign(payload []byte) (string, error) {
	if s.o.Key == nil {
		return "", errors.New("no seal key is configured (seal.keyFile)")
	}
	return sign(s.o.Key, s.kid, payload), nil
}

// protectedHeader is the JWS header of every seal.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

const sealType = "gateway-seal+jws"

// sign returns the detached compact JWS over payload.
func sign(key ed25519.PrivateKey, kid string, payload []byte) string {
	h, _ := json.Marshal(protectedHeader{Alg: "EdDSA", Kid: kid, Typ: sealType})
	head := base64.RawURLEncoding.EncodeToString(h)
	input := head + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(key, []byte(input))
	return head + ".." + base64.RawURLEncoding.EncodeToString(sig)
}
