package config

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Audit configures the signed checkpoints of the audit trail (docs/audit.md) and bounds
// its commits.
type Audit struct {
	// SigningKey is the Ed25519 private key (PKCS #8 PEM) that signs checkpoints:
	// never the token keys, never in the audit database. Generated when missing.
	// Default DataDir/audit/signing-key.pem.
	SigningKey string `yaml:"signingKey,omitempty"`
	// Keys are further trusted public keys (files or directories of *.pem) for `gateway
	// audit verify`: the keys of before a rotation.
	Keys        []string    `yaml:"keys,omitempty"`
	Checkpoints Checkpoints `yaml:"checkpoints,omitempty"`
	// CommitTimeout is how long a response may wait for its audit events to be durable
	// (its own commit and the commits queued before it). Past it the answer is withheld
	// with AUDIT_UNAVAILABLE, so a stalled store fails requests fast instead of holding
	// them for as long as it stalls (docs/operators.md). Default 5s.
	CommitTimeout time.Duration `yaml:"commitTimeout,omitempty"`
}

// Checkpoints says where and how often the chain head is signed.
type Checkpoints struct {
	Dir      string        `yaml:"dir,omitempty"`      // the append-only files; default DataDir/audit/checkpoints
	Mirror   string        `yaml:"mirror,omitempty"`   // optional second sink, e.g. on another volume
	Every    int           `yaml:"every,omitempty"`    // at most this many events between checkpoints; default 1000
	Interval time.Duration `yaml:"interval,omitempty"` // and at least this often while events arrive; default 1m
}

func (a *Audit) withDefaults(dataDir string) {
	a.CommitTimeout = cmp.Or(a.CommitTimeout, DefaultAuditCommitTimeout)
	if a.SigningKey == "" {
		a.SigningKey = filepath.Join(dataDir, "audit", "signing-key.pem")
	}
	if a.Checkpoints.Dir == "" {
		a.Checkpoints.Dir = filepath.Join(dataDir, "audit", "checkpoints")
	}
	if a.Checkpoints.Every == 0 {
		a.Checkpoints.Every = 1000
	}
	if a.Checkpoints.Interval == 0 {
		a.Checkpoints.Interval = time.Minute
	}
}

func (a *Audit) validate(bad func(path, format string, args ...any)) {
	if a.Checkpoints.Every < 0 {
		bad("audit.checkpoints.every", "%d: want a positive number of events", a.Checkpoints.Every)
	}
	if a.Checkpoints.Interval < 0 {
		bad("audit.checkpoints.interval", "%s: want a positive duration", a.Checkpoints.Interval)
	}
	if a.Checkpoints.Mirror != "" && filepath.Clean(a.Checkpoints.Mirror) == filepath.Clean(a.Checkpoints.Dir) {
		bad("audit.checkpoints.mirror", "the mirror must be another directory than dir (%s)", a.Checkpoints.Dir)
	}
}

// Purpose is a purpose of access as the citizen's data tracker shows it
// (docs/guide-citizen-portal.md). A confidential purpose (an investigation) is withheld
// from the tracker until its disclosure: DiscloseAfter past the access, or DiscloseOn,
// whichever comes first; with neither, until the configuration changes. It is withheld
// only for the Consumers named: a token is signed by the identity provider, but which
// apps may keep their reads from citizens is the gateway's configuration to say, so
// another app's token claiming the purpose hides nothing.
type Purpose struct {
	Name          string        `yaml:"name"`
	Description   string        `yaml:"description,omitempty"`
	Confidential  bool          `yaml:"confidential,omitempty"`
	Consumers     []string      `yaml:"consumers,omitempty"`
	DiscloseAfter time.Duration `yaml:"discloseAfter,omitempty"`
	DiscloseOn    time.Time     `yaml:"discloseOn,omitempty"`
}

// WithholdsFor reports whether an access by consumer for this purpose is withheld from
// the tracker (until its disclosure): the purpose is confidential and names consumer.
func (p *Purpose) WithholdsFor(consumer string) bool {
	return p != nil && p.Confidential && slices.Contains(p.Consumers, consumer)
}

// Purpose returns a configured purpose by name, or nil.
func (c *Config) Purpose(name string) *Purpose {
	for i := range c.Purposes {
		if c.Purposes[i].Name == name {
			return &c.Purposes[i]
		}
	}
	return nil
}

// DisclosedAt is when an access at t for this purpose may appear in the tracker; the
// zero time for a purpose that is not confidential, and ok false while the
// configuration sets no disclosure at all.
func (p *Purpose) DisclosedAt(t time.Time) (at time.Time, ok bool) {
	if p == nil || !p.Confidential {
		return time.Time{}, true
	}
	switch {
	case p.DiscloseAfter > 0 && !p.DiscloseOn.IsZero():
		at = t.Add(p.DiscloseAfter)
		if p.DiscloseOn.Before(at) {
			at = p.DiscloseOn
		}
	case p.DiscloseAfter > 0:
		at = t.Add(p.DiscloseAfter)
	case !p.DiscloseOn.IsZero():
		at = p.DiscloseOn
	default:
		return time.Time{}, false
	}
	return at, true
}

func validatePurposes(ps []Purpose, bad func(path, format string, args ...any)) {
	seen := map[string]bool{}
	for i, p := range ps {
		pp := fmt.Sprintf("purposes[%d]", i)
		switch {
		case p.Name == "":
			bad(pp+".name", "a purpose needs a name (the purpose claim of tokens)")
		case seen[p.Name]:
			bad(pp+".name", "purpose %q is listed twice", p.Name)
		}
		seen[p.Name] = true
		if !p.Confidential && (p.DiscloseAfter != 0 || !p.DiscloseOn.IsZero() || len(p.Consumers) > 0) {
			bad(pp, "consumers, discloseAfter and discloseOn apply to confidential purposes only")
		}
		if p.Confidential && len(p.Consumers) == 0 {
			bad(pp+".consumers", "a confidential purpose names the consumers whose accesses for it are withheld from citizens' data trackers")
		}
		if p.DiscloseAfter < 0 {
			bad(pp+".discloseAfter", "%s: want a positive duration", p.DiscloseAfter)
		}
	}
}
