package quality

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/graph/model"
	"pudong.gov.cn/gateway/internal/ownsql/ownsqltest"
)

// A request's calls into the table are bounded by Options.Timeout (store.timeout): with
// the database stalled, filing and answering an objection fail with STORE_UNAVAILABLE
// within the bound, not after the 10 s a write waits for the lock, and the service
// serves again once the database does.
func TestStalledTableFailsRequestsWithinTheBound(t *testing.T) {
	const bound = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "quality.db")
	s, _ := newTestServiceAt(t, path, Options{Timeout: bound})
	filer := gateway.WithCaller(context.Background(), &gateway.Caller{Consumer: "online-hall", Subject: "clerk"})
	owner := gateway.WithCaller(context.Background(), &gateway.Caller{Consumer: "amr-console", Dept: "amr", Subject: "approver"})
	in := model.DataIssueInput{Code: "310115-AMR-QY01-003", Subject: "91310115MA1HW2X39Q", Description: "moved"}
	filed, err := s.ReportDataIssue(filer, in)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func() error {
		_, err := s.ResolveDataIssue(owner, filed.ID, model.DataIssueOutcomeCorrected, nil)
		return err
	}
	ownsqltest.FailWithinBound(t, path, bound, map[string]func() error{
		"reportDataIssue":  func() error { _, err := s.ReportDataIssue(filer, in); return err },
		"resolveDataIssue": resolve,
	})
	if err := resolve(); err != nil {
		t.Errorf("after the stall: %v", err)
	}
}
