package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
)

// Operation is one registered operation of the allowlist manifest.
type Operation struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Query string `json:"query"`
}

// Manifest is the allowlist: registered operations by the SHA-256 of their exact text
// (the hash Apollo's persisted queries use), as `gateway allowlist register` writes it.
type Manifest map[string]Operation

// QueryHash is the hash an operation is registered and sent under.
func QueryHash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

// LoadManifest reads a manifest file.
func LoadManifest(path string) (Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("allowlist manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("allowlist manifest %s: %w", path, err)
	}
	for h, op := range m {
		if QueryHash(op.Query) != h {
			return nil, fmt.Errorf("allowlist manifest %s: operation %q does not hash to %s; regenerate the manifest", path, op.Name, h)
		}
	}
	return m, nil
}

// allowlist refuses, for consumers in allowlist mode, every operation whose text is not
// registered. It runs after automatic persisted queries have turned a hash into text.
type allowlist struct {
	manifest Manifest
	only     func(consumer string) bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = allowlist{}

func (allowlist) ExtensionName() string                   { return "Allowlist" }
func (allowlist) Validate(graphql.ExecutableSchema) error { return nil }

func (a allowlist) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	c := gateway.CallerFrom(ctx)
	if c == nil || !a.only(c.Consumer) {
		return nil
	}
	if p.Query == "" {
		return nil // an unknown persisted-query hash: APQ answers PersistedQueryNotFound
	}
	if _, ok := a.manifest[QueryHash(p.Query)]; ok {
		return nil
	}
	return errcode.Request(errcode.NotAllowlisted, fmt.Sprintf("consumer %s may only send registered operations; this one is not in the allowlist", c.Consumer))
}
