package credit

import (
	"fmt"
	"strings"
	"time"

	"pudong.gov.cn/gateway/config"
)

// Department and operation names of the credit platform's binding.
const (
	DepartmentID = "credit"
	OpBySubject  = "bySubject"
)

// Binding is the configuration that binds the generic SQL adapter to the credit platform
// reachable through driver ("sqlite" or "mysql") and dsn: exactly what a production YAML
// file says for the real system. Its one operation, bySubject, returns every record of
// every kind for a batch of subject IDs in one UNION ALL statement; the kind is the
// literal name of the table a row came from, turned into CreditRecordKind by a code
// table.
func Binding(driver, dsn string) config.Department {
	kinds := map[string]string{}
	unified := map[string]string{
		"xzxk":        "LICENSE",
		"xzcf":        "PENALTY",
		"hongmingdan": "COMMENDATION",
		"shixin":      "DISHONESTY",
	}
	for _, t := range recordTables() {
		kinds[t.name] = unified[t.name]
	}
	return config.Department{
		ID:          DepartmentID,
		Name:        "浦东新区公共信用信息服务平台",
		Protocol:    "sql",
		Driver:      driver,
		DSN:         dsn,
		Timeout:     3 * time.Second,
		Concurrency: 8,
		Operations: map[string]config.Operation{
			OpBySubject: {Batch: 200, Params: map[string]string{
				"query":     bySubjectQuery(),
				"keyColumn": colSubjectID,
			}},
		},
		Fields: []config.FieldMap{
			{From: colID, To: "id"},
			{From: colKind, To: "kind", Code: "kind"},
			{From: colSubjectID, To: "subjectId"},
			{From: colSubjectName, To: "subjectName"},
			{From: colDecisionNo, To: "decisionNumber"},
			{From: colTitle, To: "title"},
			{From: colContent, To: "content"},
			{From: colDecidedOn, To: "decidedOn", Date: "2006-01-02"},
			{From: colValidUntil, To: "validUntil", Date: "20060102"},
			{From: colIssuedBy, To: "issuedBy"},
			{From: colAmount, To: "penaltyAmount", Scale: "1"},
		},
		Codes: map[string]map[string]string{"kind": kinds},
	}
}

// bySubjectQuery selects the same columns from every table, the kind as a literal and
// NULL for the amount where a table has none, newest decision first.
func bySubjectQuery() string {
	var b strings.Builder
	for i, t := range recordTables() {
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		amount := "NULL AS " + colAmount
		if t.penalty {
			amount = colAmount
		}
		fmt.Fprintf(&b, "SELECT '%s' AS %s, %s, %s FROM %s WHERE %s IN ({keys})",
			t.name, colKind, strings.Join(commonColumns(), ", "), amount, t.name, colSubjectID)
	}
	fmt.Fprintf(&b, "\nORDER BY %s, %s DESC, %s", colSubjectID, colDecidedOn, colID)
	return b.String()
}
