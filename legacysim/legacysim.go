// Package legacysim runs faithful simulators of the four department systems on loopback:
// the PSB's SOAP population registry, AMR's REST enterprise registry, the credit
// platform's database and HRSS's CSV export drop, all serving one deterministic dataset.
// The demo mode and the tests use them; the adapters cannot tell them from the real
// systems.
package legacysim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/amr"
	"pudong.gov.cn/gateway/legacysim/credit"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/hrss"
	"pudong.gov.cn/gateway/legacysim/psb"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// Options say where the simulators keep their files and how much data they serve.
type Options struct {
	Dir  string // working directory for the credit database and the HRSS drop
	Seed uint64
	Size dataset.Size
	// PSBAddr and AMRAddr are listen addresses; default 127.0.0.1:0 (a free port).
	PSBAddr, AMRAddr string
	Log              *slog.Logger
}

// Sims are the four running simulators.
type Sims struct {
	Data *dataset.Dataset
	// PSB and AMR are the controls of the HTTP simulators: counters and faults.
	PSB, AMR *simhttp.Control
	// Bindings are the demo configuration of each department, pointing at the simulators.
	Bindings []config.Department
	// Addrs are the simulators' addresses by department id, for logs and scripts.
	Addrs map[string]string

	servers []*http.Server
}

// Start generates the dataset and starts the simulators. Close stops them.
func Start(ctx context.Context, o Options) (*Sims, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Seed == 0 {
		o.Seed = dataset.DefaultSeed
	}
	if o.Size == (dataset.Size{}) {
		o.Size = dataset.DefaultSize
	}
	if o.PSBAddr == "" {
		o.PSBAddr = "127.0.0.1:0"
	}
	if o.AMRAddr == "" {
		o.AMRAddr = "127.0.0.1:0"
	}
	if err := o.Size.Check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("simulator directory: %w", err)
	}
	start := time.Now()
	ds := dataset.Generate(o.Seed, o.Size)
	o.Log.Info("simulated departments: data generated", "citizens", ds.NumPersons(), "enterprises", ds.NumEnterprises(),
		"credit_records", ds.NumCredit(), "insurance_rows_held", len(ds.Insurance), "took", time.Since(start).Round(time.Millisecond))

	s := &Sims{Data: ds, PSB: simhttp.NewControl(), AMR: simhttp.NewControl(), Addrs: map[string]string{}}

	psbURL, err := s.serve(o.PSBAddr, psb.NewHandler(ds, s.PSB))
	if err != nil {
		return nil, fmt.Errorf("psb simulator: %w", err)
	}
	apiKey := randomKey()
	amrURL, err := s.serve(o.AMRAddr, amr.NewHandler(ds, apiKey, s.AMR))
	if err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("amr simulator: %w", err)
	}

	// The credit database is rebuilt only when this seed and size have none yet.
	dbPath := filepath.Join(o.Dir, fmt.Sprintf("credit-%d-%d-%d-%d.db", o.Seed, o.Size.Citizens, o.Size.Enterprises, o.Size.CreditRecords))
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		t := time.Now()
		if err := credit.BuildSQLite(ctx, dbPath, ds); err != nil {
			s.Close(ctx)
			return nil, fmt.Errorf("credit simulator: %w", err)
		}
		o.Log.Info("credit database built", "path", dbPath, "took", time.Since(t).Round(time.Millisecond))
	}

	// HRSS drops one export for "today" of the synthetic data.
	dropDir := filepath.Join(o.Dir, "hrss-exports")
	if err := os.MkdirAll(dropDir, 0o700); err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("hrss simulator: %w", err)
	}
	if _, err := hrss.WriteExport(dropDir, ds, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("hrss simulator: %w", err)
	}

	s.Bindings = []config.Department{
		psb.Binding(psbURL),
		amr.Binding(amrURL, apiKey),
		credit.Binding("sqlite", dbPath),
		hrss.Binding(dropDir),
	}
	s.Addrs["psb"] = psbURL + "/PopulationService"
	s.Addrs["amr"] = amrURL
	s.Addrs["credit"] = "sqlite:" + dbPath
	s.Addrs["hrss"] = "csv drop " + dropDir
	return s, nil
}

func (s *Sims) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// Close stops the HTTP simulators.
func (s *Sims) Close(ctx context.Context) {
	for _, srv := range s.servers {
		srv.Shutdown(ctx)
	}
}

func randomKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
