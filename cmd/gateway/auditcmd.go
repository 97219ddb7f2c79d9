package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/store"
)

const auditHelp = `
gateway audit verify [--data DIR] [--config FILE] [--keys FILE|DIR]... [--checkpoints DIR[,MIRROR]]...
gateway audit verify --slice FILE [--keys FILE|DIR]...
gateway audit export --from TIME --to TIME [--out FILE] [--data DIR] [--config FILE]

verify recomputes every audit hash chain and checks it against the signed checkpoints
(audit.checkpoints): it reports an altered, missing or inserted event, a chain cut
short or rebuilt with recomputed hashes, and a forged or missing checkpoint, each with
the first sequence number not proven intact. The trusted keys are the signing key's,
the keys published beside the checkpoints and audit.keys; --keys replaces them. With
several replicas, name each replica's checkpoint directory (and mirror) with
--checkpoints.

With --slice it checks an exported slice with the public keys the slice carries (only
those also given with --keys, if any).

export writes the events of [--from, --to) (RFC 3339 or YYYY-MM-DD), extended to the
next checkpoint, with the checkpoints and the public keys: a slice an inspector can
verify alone. See docs/audit.md.

Exit status 0 when everything verifies, 2 when something does not.
`

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprint(stdout, strings.TrimLeft(auditHelp, "\n"))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("audit: the subcommands are verify and export")
	}
	fs := newFlagSet("gateway audit "+args[0], auditHelp, stdout)
	var f commonFlags
	f.register(fs, getenv, false)
	var keys, checkpoints multiFlag
	fs.Var(&keys, "keys", "trusted public keys (PEM file or directory of *.pem); repeatable")
	fs.Var(&checkpoints, "checkpoints", "checkpoint directory DIR or DIR,MIRROR of one replica (default: the configuration's); repeatable")
	slice := fs.String("slice", "", "verify: an exported slice instead of the store")
	from := fs.String("from", "", "export: start of the window (inclusive)")
	to := fs.String("to", "", "export: end of the window (exclusive)")
	out := fs.String("out", "", "export: the slice file (default: standard output)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "verify" && (*from != "" || *to != "" || *out != "") {
		return errors.New("audit verify: --from, --to and --out are for audit export")
	}
	if args[0] == "export" && *slice != "" {
		return errors.New("audit export: --slice is for audit verify")
	}
	if args[0] == "verify" && *slice != "" {
		return verifySlice(ctx, *slice, keys, stdout)
	}
	cfg, err := loadConfig(f.config, f.data)
	if err != nil {
		return err
	}
	sk := sinks(cfg, checkpoints)
	trusted, err := trustedKeys(cfg, sk, keys)
	if err != nil {
		return err
	}
	anchors, err := audit.ReadAnchors(trusted, sk...)
	if err != nil {
		return err
	}
	log := newLogger(config.Log{Format: "text", Level: "warn"}, stdout)
	st, err := app.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if args[0] == "export" {
		return exportSlice(ctx, st, anchors, trusted, *from, *to, *out, stdout)
	}
	rep, err := audit.VerifyAnchored(ctx, st, anchors)
	if err != nil {
		return fmt.Errorf("verifying the audit chain: %w", err)
	}
	return printReport(rep, stdout)
}

// sinks are the checkpoint sinks to verify against: --checkpoints DIR[,MIRROR] (one per
// replica) when given, else the configuration's.
func sinks(cfg *config.Config, flagged []string) []audit.Sink {
	if len(flagged) == 0 {
		return []audit.Sink{{Dir: cfg.Audit.Checkpoints.Dir, Mirror: cfg.Audit.Checkpoints.Mirror}}
	}
	out := make([]audit.Sink, len(flagged))
	for i, f := range flagged {
		dir, mirror, _ := strings.Cut(f, ",")
		out[i] = audit.Sink{Dir: dir, Mirror: mirror}
	}
	return out
}

// trustedKeys is --keys when given, else the signing key's public key, the keys
// published beside the checkpoints, and audit.keys.
func trustedKeys(cfg *config.Config, sinks []audit.Sink, flagged []string) (audit.KeySet, error) {
	if len(flagged) > 0 {
		return audit.LoadKeys(flagged...)
	}
	var paths []string
	for _, s := range sinks {
		for _, dir := range []string{s.Dir, s.Mirror} {
			if _, err := os.Stat(filepath.Join(dir, "keys")); dir != "" && err == nil {
				paths = append(paths, filepath.Join(dir, "keys"))
			}
		}
	}
	ks, err := audit.LoadKeys(append(paths, cfg.Audit.Keys...)...)
	if err != nil {
		return nil, err
	}
	signer, err := audit.LoadSigningKey(cfg.Audit.SigningKey, false)
	switch {
	case err == nil:
		ks.Add(signer.Public())
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return ks, nil
}

func printReport(rep audit.Report, stdout io.Writer) error {
	for _, c := range rep.Chains {
		name := c.Chain
		if name == "" {
			name = "default"
		}
		fmt.Fprintf(stdout, "chain %s: %d events, last seq %d", name, c.Events, c.LastSeq)
		if cp := c.Checkpoint; cp != nil {
			fmt.Fprintf(stdout, ", signed up to seq %d at %s (key %s)", cp.Seq, cp.At.Format(time.RFC3339), cp.KeyID)
		}
		if c.Uncovered > 0 {
			fmt.Fprintf(stdout, "; %d events after the last checkpoint are not covered yet", c.Uncovered)
		}
		fmt.Fprintln(stdout)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if !rep.OK() {
		fmt.Fprintf(stdout, "audit chain BROKEN after %d events: %s\n", rep.Checked, rep.Broken)
		for _, b := range rep.Findings[1:] {
			fmt.Fprintf(stdout, "  also: %s\n", &b)
		}
		return exitCode(2)
	}
	fmt.Fprintf(stdout, "audit chain OK: %d events verified\n", rep.Checked)
	return nil
}

func verifySlice(ctx context.Context, path string, keys []string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("audit slice: %w", err)
	}
	var s audit.Slice
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("audit slice %s: %w", path, err)
	}
	var trusted audit.KeySet
	if len(keys) > 0 {
		if trusted, err = audit.LoadKeys(keys...); err != nil {
			return err
		}
	}
	rep, err := audit.VerifySlice(ctx, &s, trusted)
	if err != nil {
		return err
	}
	sk, _ := s.Keys()
	for kid := range sk {
		fmt.Fprintf(stdout, "slice signed with key %s: compare it with the key the district published\n", kid)
	}
	return printReport(rep, stdout)
}

func exportSlice(ctx context.Context, st store.Store, a *audit.Anchors, keys audit.KeySet, from, to, out string, stdout io.Writer) error {
	f, err := parseWhen("--from", from)
	if err != nil {
		return err
	}
	t, err := parseWhen("--to", to)
	if err != nil {
		return err
	}
	s, err := audit.Export(ctx, st, a, keys, f, t)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if out == "" {
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	fmt.Fprintf(stdout, "%d events and %d checkpoints written to %s\n", len(s.Events), len(s.Checkpoints), out)
	return nil
}

// parseWhen reads an RFC 3339 time or a date (midnight UTC).
func parseWhen(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("%s is required (RFC 3339 or YYYY-MM-DD)", name)
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2026-11-27T10:00:00Z) or YYYY-MM-DD", name, v)
	}
	return t, nil
}
