package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

const usage = `gateway — the district's data-sharing gateway

Usage:
  gateway [--addr ADDR] [--data DIR] [--config FILE]   serve (demo mode without --config)
  gateway sim [--data DIR]                              run the four department simulators alone
  gateway token --consumer NAME [flags]                 mint a demo token (see gateway token --help)
  gateway audit verify|export [flags]                  check the audit trail, export a verifiable slice
  gateway seal verify FILE [--key PUB.pem]             verify a sealed answer and list what it attests
  gateway config check FILE                             validate a configuration file without starting
  gateway allowlist register DIR [--out FILE]           register a directory of .graphql operations

Without --config the gateway starts in demo mode: the four department simulators run
in-process on loopback ports, the store is SQLite under --data, and a demo signing key
is generated there. GraphQL is served at /graphql, the playground at /, and /healthz,
/readyz and /metrics for operators.

Environment: GATEWAY_ADDR, GATEWAY_DATA and GATEWAY_CONFIG are used when the matching
flag is not given.
`

// exitCode is an error that asks for a specific process exit code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run is the whole program; main only calls it, so tests run the real thing in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "sim":
			return runSim(ctx, args[1:], getenv, stdout)
		case "token":
			return runToken(args[1:], getenv, stdout)
		case "audit":
			return runAudit(ctx, args[1:], getenv, stdout)
		case "config":
			return runConfig(args[1:], stdout)
		case "seal":
			return runSeal(args[1:], getenv, stdout)
		case "allowlist":
			return runAllowlist(args[1:], stdout)
		case "help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	return runServe(ctx, args, getenv, stdout)
}

// commonFlags are the flags every command that opens the data directory shares.
type commonFlags struct {
	addr, data, config string
}

func newFlagSet(name, help string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(stdout, strings.TrimLeft(help, "\n"))
		fmt.Fprintln(stdout, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

func (c *commonFlags) register(fs *flag.FlagSet, getenv func(string) string, withAddr bool) {
	if withAddr {
		fs.StringVar(&c.addr, "addr", envOr(getenv, "GATEWAY_ADDR", ""), "listen address (default 127.0.0.1:8080, or the configuration's)")
	}
	fs.StringVar(&c.data, "data", envOr(getenv, "GATEWAY_DATA", "data"), "data directory: SQLite store, demo signing key, simulator files")
	fs.StringVar(&c.config, "config", envOr(getenv, "GATEWAY_CONFIG", ""), "configuration file (production); without it, demo mode")
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
