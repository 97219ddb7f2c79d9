package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"pudong.gov.cn/gateway/seal"
)

const sealHelp = `
gateway seal verify FILE [--key PUB.pem]... [--data DIR]

Verifies a sealed answer saved from the gateway (the response body, as received or
re-indented) and lists exactly which values it attests, with the request id, consumer,
time and audit chain position. The public key is the seal key's public half: --key (may
be repeated, for keys that were rotated), or the demo's DIR/seal-key.pub.pem. Exit
status 0 when the seal verifies, 2 when it does not. docs/sealed-answers.md describes
the same check with any JWS library.
`

// keyFlags collects repeated --key flags.
type keyFlags []string

func (k *keyFlags) String() string     { return strings.Join(*k, ",") }
func (k *keyFlags) Set(v string) error { *k = append(*k, v); return nil }

func runSeal(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stdout, strings.TrimLeft(sealHelp, "\n"))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("seal: the subcommand is verify")
	}
	fs := newFlagSet("gateway seal verify", sealHelp, stdout)
	var f commonFlags
	f.register(fs, getenv, false)
	var keys keyFlags
	fs.Var(&keys, "key", "the seal key's public half (PEM); repeatable")
	// The file may come before or after the flags.
	rest := args[1:]
	var file string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 || file == "" {
		return errors.New("seal verify: name one saved answer: gateway seal verify FILE")
	}
	if len(keys) == 0 {
		keys = append(keys, filepath.Join(f.data, seal.PublicKeyFile))
	}
	var pubs []ed25519.PublicKey
	for _, k := range keys {
		pub, err := seal.ReadPublicKey(k)
		if err != nil {
			return err
		}
		pubs = append(pubs, pub)
	}
	answer, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("seal verify: %w", err)
	}
	v, err := seal.Verify(answer, pubs...)
	if err != nil {
		fmt.Fprintf(stdout, "seal INVALID: %v\n", err)
		return exitCode(2)
	}
	a := v.Attestation
	fmt.Fprintf(stdout, "seal OK: key %s\n  request %s, consumer %s, end user %s, purpose %s\n  sealed at %s\n",
		a.KeyID, a.RequestID, a.Consumer, a.EndUser, a.Purpose, a.SealedAt)
	if a.Audit != nil {
		fmt.Fprintf(stdout, "  audit chain position: seq %d, hash %s (check the trail with: gateway audit verify)\n", a.Audit.Seq, a.Audit.Hash)
	} else {
		fmt.Fprintln(stdout, "  audit chain position: none (the answer carried no audited field)")
	}
	fmt.Fprintf(stdout, "attested values (%d):\n", len(v.Values))
	for _, line := range v.Values {
		fmt.Fprintln(stdout, "  "+line)
	}
	return nil
}
