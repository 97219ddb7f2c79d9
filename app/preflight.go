package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"

	"github.com/jackc/pgx/v5/pgxpool"

	"pudong.gov.cn/gateway/adapters/csvdrop"
	"pudong.gov.cn/gateway/auth"
	rediscache "pudong.gov.cn/gateway/cache/redis"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/internal/keyfile"
	"pudong.gov.cn/gateway/server"
	"pudong.gov.cn/gateway/sharing"
)

// Preflight runs every check start-up makes before it contacts anything, and returns
// every problem at once, each as "FILE:LINE: what is wrong", so that `gateway config
// check` says OK only to a file the server will start with, and the server refuses a bad
// file in one pass (docs/operators.md). Warnings do not stop start-up.
//
// With openAll the CSV drops are checked too (the newest export's header, read without
// indexing or writing anything), as `config check` does; start-up opens them once, for
// real, right after.
func Preflight(cfg *config.Config, openAll bool) (problems, warnings []string) {
	bad := func(path, format string, args ...any) {
		problems = append(problems, cfg.At(path)+": "+path+": "+fmt.Sprintf(format, args...))
	}
	if cat, err := LoadCatalog(cfg); err != nil {
		bad("catalog", "%v", err)
	} else {
		for _, p := range sharing.StaticGrantProblems(cat, cfg.Consumers) {
			bad(p.Path, "%s", p.Message)
		}
	}
	warnings = append(warnings, checkSources(cfg, openAll, bad)...)
	checkAddresses(cfg, bad)
	checkKeys(cfg, bad)
	if cfg.Allowlist != "" {
		if _, err := server.LoadManifest(cfg.Allowlist); err != nil {
			bad("allowlist", "%v", err)
		}
	}
	if cfg.Seal.KeyFile != "" && !cfg.Demo {
		if _, err := keyfile.Read(cfg.Seal.KeyFile); err != nil {
			bad("seal.keyFile", "%v", err)
		}
	}
	if !cfg.Demo {
		p, w := productionSafety(cfg)
		problems = append(problems, p...)
		warnings = append(warnings, w...)
	}
	return problems, warnings
}

// checkSources builds every department's adapter without contacting it: the adapters
// validate their settings and open lazily. With openAll the CSV drops are checked too,
// reading the newest export's header without indexing it (csvdrop.Check); what is
// wrong with an export is a warning, since the gateway starts without one.
func checkSources(cfg *config.Config, openAll bool, bad func(path, format string, args ...any)) (warnings []string) {
	for i, d := range cfg.Departments {
		path := fmt.Sprintf("departments[%d]", i)
		if cfg.Faulty(path) {
			continue // reported by Load already
		}
		if d.Protocol == config.ProtocolCSV {
			if !openAll {
				continue // opened for real right after
			}
			w, err := csvdrop.Check(d)
			if err != nil {
				bad(path, "department %s: %v", d.ID, err)
			} else if w != "" {
				warnings = append(warnings, fmt.Sprintf("%s: %s: department %s: %s", cfg.At(path), path, d.ID, w))
			}
			continue
		}
		_, closer, err := OpenSource(context.Background(), d, http.DefaultClient, slog.New(slog.DiscardHandler))
		if err != nil {
			bad(path, "department %s: %v", d.ID, err)
		} else if closer != nil {
			closer.Close()
		}
	}
	return warnings
}

// checkKeys loads the key files as start-up will. A JWKS URL is the identity provider's
// to answer and is not contacted; with nothing else configured there is nothing to load.
func checkKeys(cfg *config.Config, bad func(path, format string, args ...any)) {
	offline := *cfg
	offline.Auth.JWKSURL = ""
	if cfg.Auth.JWKSURL != "" && len(cfg.Auth.KeyFiles) == 0 && cfg.Auth.JWKSFile == "" && !cfg.Demo {
		return
	}
	v, err := NewVerifier(&offline, slog.New(slog.DiscardHandler))
	if err != nil {
		bad("auth", "%v", err)
		return
	}
	v.Close()
}

// checkAddresses parses the store's DSN and the Redis address as start-up will.
func checkAddresses(cfg *config.Config, bad func(path, format string, args ...any)) {
	if cfg.Store.Driver == "postgres" && cfg.Store.DSN != "" {
		if _, err := pgxpool.ParseConfig(cfg.Store.DSN); err != nil {
			bad("store.dsn", "not a PostgreSQL connection string or URL: %v", err)
		}
	}
	if cfg.Cache.RedisAddr != "" && !cfg.Cache.Disabled {
		if _, err := rediscache.ClientOptions(cfg.Cache.RedisAddr); err != nil {
			bad("cache.redisAddr", "%v", err)
		}
	}
	if a := cfg.Limits.RedisAddr; a != "" && a != config.LocalLimits {
		if _, err := rediscache.ClientOptions(a); err != nil {
			bad("limits.redisAddr", "%v", err)
		}
	}
}

// LoadChecked loads a configuration file and runs Preflight on it, and returns every
// problem of both as one *config.Error: a file with a mistake is still checked further,
// so the operator sees all of them in one pass.
func LoadChecked(path string, openAll bool) (*config.Config, []string, error) {
	cfg, err := config.Load(path)
	var ce *config.Error
	switch {
	case err == nil:
		ce = &config.Error{}
	case errors.As(err, &ce) && cfg != nil:
	default:
		return nil, nil, err
	}
	problems, warnings := Preflight(cfg, openAll)
	ce.Problems = append(ce.Problems, problems...)
	if len(ce.Problems) > 0 {
		return nil, warnings, ce
	}
	return cfg, warnings, nil
}

// productionSafety refuses what must not run as production by accident: the demo issuer
// and signing key (exactly what `gateway sim` writes, whose private half lies on the
// simulators' machine) and key files anyone may replace; and warns about introspection.
// allowUnsafe lifts each on purpose.
func productionSafety(cfg *config.Config) (problems, warnings []string) {
	if !cfg.Allows(config.UnsafeDemoKey) {
		problems = append(problems, demoKeyProblems(cfg)...)
	}
	if !cfg.Allows(config.UnsafeWorldWritableKeys) && runtime.GOOS != "windows" {
		problems = append(problems, worldWritableKeys(cfg)...)
	}
	if cfg.Introspection && !cfg.Allows(config.UnsafeIntrospection) {
		warnings = append(warnings, fmt.Sprintf("%s: introspection is on in production: every caller with a token can read the whole schema; turn it off, or list %q in allowUnsafe to keep it on without this warning",
			cfg.At("introspection"), config.UnsafeIntrospection))
	}
	return problems, warnings
}

// demoKeyProblems names the demo issuer and the demo signing key where cfg uses them.
func demoKeyProblems(cfg *config.Config) (problems []string) {
	if cfg.Auth.Issuer == auth.DemoIssuer {
		problems = append(problems, fmt.Sprintf("%s: auth.issuer: %q is the demo issuer, whose tokens anyone with the demo key mints; use your identity provider's issuer (or allowUnsafe: [%s] to try the gateway against the simulators)",
			cfg.At("auth.issuer"), auth.DemoIssuer, config.UnsafeDemoKey))
	}
	for i, k := range cfg.Auth.KeyFiles {
		if filepath.Base(k) == filepath.Base(auth.DemoPublicKeyFile("")) {
			path := fmt.Sprintf("auth.keyFiles[%d]", i)
			problems = append(problems, fmt.Sprintf("%s: %s: %s is the demo signing key; use your identity provider's public keys (or allowUnsafe: [%s] to try the gateway against the simulators)",
				cfg.At(path), path, k, config.UnsafeDemoKey))
		}
	}
	return problems
}

// worldWritableKeys names the key files anyone on the machine may replace.
func worldWritableKeys(cfg *config.Config) (problems []string) {
	type keyFile struct{ path, file string }
	var files []keyFile // in the file's order, so the problems come in that order too
	for i, k := range cfg.Auth.KeyFiles {
		files = append(files, keyFile{fmt.Sprintf("auth.keyFiles[%d]", i), k})
	}
	if cfg.Auth.JWKSFile != "" {
		files = append(files, keyFile{"auth.jwksFile", cfg.Auth.JWKSFile})
	}
	for _, k := range files {
		path, f := k.path, k.file
		if info, err := os.Stat(f); err == nil && info.Mode().Perm()&0o002 != 0 {
			problems = append(problems, fmt.Sprintf("%s: %s: %s is writable by everyone (mode %04o), so anyone on the machine could put their own key in it; run chmod o-w on it",
				cfg.At(path), path, f, info.Mode().Perm()))
		}
	}
	return problems
}
