package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOperationLabelCarriesNoIdentifier: an operation name is the client's choice, so one
// that holds an ID number, a mobile number or a credit code is counted as "other" and
// never appears on /metrics, however long the name and wherever the digits sit in it.
func TestOperationLabelCarriesNoIdentifier(t *testing.T) {
	m := New()
	for _, name := range []string{
		"Person310115198503120012",
		"q_13812345678",
		"Ent91310115MA1K4ABC12",
		strings.Repeat("x", 60) + "310115198503120012", // past the label's 64 characters
	} {
		if got := m.operationName(name); got != "other" {
			t.Errorf("operationName(%q) = %q, want \"other\"", name, got)
		}
	}
	for _, name := range []string{"PersonCard", "EnterpriseV2", "Q2026", "Reps"} {
		if got := m.operationName(name); got != name {
			t.Errorf("operationName(%q) = %q, want the name", name, got)
		}
	}
	m.operations.WithLabelValues("query", m.operationName("Who310115198503120012"), "ok").Inc()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if strings.Contains(string(body), "310115") || !strings.Contains(string(body), `operation="other"`) {
		t.Errorf("the exposition shows the identifier, or lacks \"other\":\n%s", body)
	}
}
