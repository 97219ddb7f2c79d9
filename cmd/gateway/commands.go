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

	"github.com/vektah/gqlparser/v2"
	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/server"
)

const simHelp = `
gateway sim [--data DIR] [--citizens N] [--enterprises N] [--credit-records N]

Runs the four department simulators alone (no gateway) and prints their addresses. It
also writes DIR/sim/gateway.yaml, a production-style configuration that points the
gateway at these simulators:  gateway --config DIR/sim/gateway.yaml
Stops on Ctrl-C.
`

func runSim(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("gateway sim", simHelp, stdout)
	var f commonFlags
	f.register(fs, getenv, false)
	size := dataset.DefaultSize
	fs.IntVar(&size.Citizens, "citizens", size.Citizens, "bulk citizens besides the fixtures")
	fs.IntVar(&size.Enterprises, "enterprises", size.Enterprises, "bulk enterprises besides the fixtures")
	fs.IntVar(&size.CreditRecords, "credit-records", size.CreditRecords, "bulk credit records besides the fixtures")
	psbAddr := fs.String("psb-addr", "127.0.0.1:0", "listen address of the PSB SOAP simulator")
	amrAddr := fs.String("amr-addr", "127.0.0.1:0", "listen address of the AMR REST simulator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Demo(f.data)
	if err != nil {
		return err
	}
	log := newLogger(config.Log{Format: "text", Level: "info"}, stdout)
	sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(f.data, "sim"), Size: size, PSBAddr: *psbAddr, AMRAddr: *amrAddr, Log: log})
	if err != nil {
		return err
	}
	defer sims.Close(context.WithoutCancel(ctx))
	for _, d := range sims.Bindings {
		log.Info("department simulator started", "department", d.ID, "protocol", d.Protocol, "addr", sims.Addrs[d.ID])
	}
	path, err := writeSimConfig(f.data, cfg, sims.Bindings)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nA gateway for these simulators: go run ./cmd/gateway --config %s\n", path)
	<-ctx.Done()
	return nil
}

// writeSimConfig writes a production-style configuration for the running simulators: the
// same file format an operator writes for the real systems.
func writeSimConfig(dataDir string, demo *config.Config, bindings []config.Department) (string, error) {
	dir := filepath.Join(dataDir, "sim")
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	if _, err := auth.LoadOrCreateDemoKey(dataDir); err != nil {
		return "", err
	}
	for name, data := range demo.CatalogData {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), data, 0o644); err != nil {
			return "", err
		}
	}
	out := config.Config{
		Addr:        "127.0.0.1:8080",
		DataDir:     absData,
		Departments: bindings,
		Catalog:     []string{"catalog.yaml"},
		Consumers:   demo.Consumers,
		Auth: config.Auth{Issuer: auth.DemoIssuer, Audience: auth.DemoAudience,
			KeyFiles: []string{auth.DemoPublicKeyFile(absData)}},
		Introspection: true,
		// The simulators' set-up signs with the demo key, which production refuses
		// unless told; a real deployment names its identity provider's keys instead.
		AllowUnsafe: []string{config.UnsafeDemoKey, config.UnsafeIntrospection},
		Log:         config.Log{Format: "text"},
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "gateway.yaml")
	header := "# Written by `gateway sim`: the gateway's configuration for the running simulators.\n"
	return path, os.WriteFile(path, append([]byte(header), b...), 0o600)
}

const tokenHelp = `
gateway token --consumer NAME [--purpose P] [--citizen ID] [--dept D] [--roles a,b] [--sub S] [--ttl 1h] [--data DIR]

Prints a token signed with the demo key in DIR (created on first use). Claims not given
come from the consumer's demo configuration. Consumers: ipudong-portal (needs --citizen),
online-hall, supervision-platform, playground, psb-console, amr-console, credit-console,
hrss-console, cio-console.

Example:
  curl -H "Authorization: Bearer $(go run ./cmd/gateway token --consumer online-hall)" \
       -H 'Content-Type: application/json' \
       -d '{"query":"{ citizen(idNumber:\"310115198503120012\") { name } }"}' \
       http://127.0.0.1:8080/graphql
`

func runToken(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("gateway token", tokenHelp, stdout)
	data := fs.String("data", envOr(getenv, "GATEWAY_DATA", "data"), "data directory holding the demo signing key")
	consumer := fs.String("consumer", "", "the calling app (required)")
	purpose := fs.String("purpose", "", "purpose claim (default: the consumer's)")
	citizen := fs.String("citizen", "", "citizen_id claim, for citizen self-service")
	dept := fs.String("dept", "", "department claim (default: the consumer's)")
	roles := fs.String("roles", "", "comma-separated roles (default: the consumer's)")
	sub := fs.String("sub", "", "subject: the end user or service account (default: derived from the consumer)")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *consumer == "" {
		fs.Usage()
		return errors.New("--consumer is required")
	}
	demo, err := config.Demo(*data)
	if err != nil {
		return err
	}
	c := demo.Consumer(*consumer)
	if c == nil {
		names := make([]string, len(demo.Consumers))
		for i, dc := range demo.Consumers {
			names[i] = dc.Name
		}
		return fmt.Errorf("unknown consumer %q; the demo consumers are %s", *consumer, strings.Join(names, ", "))
	}
	claims := auth.Claims{Consumer: c.Name, Purpose: c.Purpose, Dept: c.Dept, Roles: c.Roles, TTL: *ttl, Subject: "svc-" + c.Name}
	if *purpose != "" {
		claims.Purpose = *purpose
	}
	if *dept != "" {
		claims.Dept = *dept
	}
	if *roles != "" {
		claims.Roles = strings.Split(*roles, ",")
	}
	if *citizen != "" {
		if err := idcode.ValidateIDNumber(*citizen); err != nil {
			return fmt.Errorf("--citizen: %w", err)
		}
		claims.CitizenID = *citizen
		claims.Subject = "citizen-" + (*citizen)[len(*citizen)-4:]
	} else if c.SelfService {
		return fmt.Errorf("%s tokens carry the citizen's ID number: add --citizen ID (e.g. --citizen %s)", c.Name, dataset.ZhangWei)
	}
	if *sub != "" {
		claims.Subject = *sub
	}
	key, err := auth.LoadOrCreateDemoKey(*data)
	if err != nil {
		return err
	}
	kid, err := auth.KeyID(key.Public())
	if err != nil {
		return err
	}
	tok, err := auth.Mint(key, kid, claims, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

const configHelp = `
gateway config check FILE

Runs every check the server makes at start-up, without starting and without contacting
the departments: the file, the catalogue files, the bindings, the keys, the store and
Redis addresses, the allowlist and the production safety rules. Every mistake is
reported at once with its file and line; warnings are printed but do not fail.
`

func runConfig(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stdout, strings.TrimLeft(configHelp, "\n"))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("config: usage is gateway config check FILE")
	}
	cfg, warnings, err := app.LoadChecked(args[1], true)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: OK (%d departments, %d consumers, %d catalogue files)\n", args[1], len(cfg.Departments), len(cfg.Consumers), len(cfg.Catalog))
	return nil
}

const allowlistHelp = `
gateway allowlist register DIR [--out FILE]

Validates every .graphql file under DIR against the schema and writes the allowlist
manifest (default DIR/allowlist.json): each operation by the SHA-256 of its text, the
hash Apollo Client's persisted queries send. Name the manifest in the configuration
(allowlist: FILE) and set allowlistOnly: true on the consumers that may send nothing else.
`

func runAllowlist(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "register" {
		fmt.Fprint(stdout, strings.TrimLeft(allowlistHelp, "\n"))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("allowlist: the subcommand is register")
	}
	fs := newFlagSet("gateway allowlist register", allowlistHelp, stdout)
	out := fs.String("out", "", "manifest file to write (default DIR/allowlist.json)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 1 { // flags after the directory: gateway allowlist register DIR --out FILE
		dir := fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fs.Usage()
			return errors.New("allowlist register: name one directory of .graphql files")
		}
		fs.Parse(append([]string{}, dir))
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("allowlist register: name the directory of .graphql files")
	}
	dir := fs.Arg(0)
	if *out == "" {
		*out = filepath.Join(dir, "allowlist.json")
	}
	m, err := registerOperations(dir)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d operations registered in %s\n", len(m), *out)
	return nil
}

// registerOperations parses and validates every .graphql file under dir; every problem
// is reported at once.
func registerOperations(dir string) (server.Manifest, error) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	m := server.Manifest{}
	var problems []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".graphql" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		query := string(b)
		doc, errs := gqlparser.LoadQuery(schema, query)
		if len(errs) > 0 {
			for _, e := range errs {
				problems = append(problems, fmt.Sprintf("%s: %s", path, e.Error()))
			}
			return nil
		}
		if len(doc.Operations) != 1 {
			problems = append(problems, fmt.Sprintf("%s: a file registers exactly one operation (found %d)", path, len(doc.Operations)))
			return nil
		}
		name := doc.Operations[0].Name
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(path), ".graphql")
		}
		m[server.QueryHash(query)] = server.Operation{Name: name, File: filepath.ToSlash(path), Query: query}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("allowlist:\n  %s", strings.Join(problems, "\n  "))
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("allowlist: no .graphql files under %s", dir)
	}
	return m, nil
}
