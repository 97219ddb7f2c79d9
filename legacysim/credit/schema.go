// Package credit simulates the district's public credit-information platform: a
// relational database that the gateway reads directly, read-only. It builds the database
// (an SQLite file for the embedded demo, or tables in MariaDB/MySQL for production-like
// setups) from the synthetic dataset, and declares the binding that tells the generic SQL
// adapter how to read it.
//
// The schema is the platform's own: one table per kind of record, named and with columns
// named in pinyin initials as such platforms name them, all keyed by the administrative
// counterpart (行政相对人, xdr_id: a credit code or a citizen ID number).
package credit

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"pudong.gov.cn/gateway/legacysim/dataset"
)

// table is one record table of the platform.
type table struct {
	name    string // table name, also the literal the binding's query selects as its kind
	kind    string // the dataset kind stored in it
	penalty bool   // only penalties carry an amount (fkje)
}

// recordTables are the platform's record tables. The binding's query and code table are
// built from the same list, so schema and binding cannot drift apart.
func recordTables() []table {
	return []table{
		{name: "xzxk", kind: dataset.KindLicense},                // 行政许可
		{name: "xzcf", kind: dataset.KindPenalty, penalty: true}, // 行政处罚
		{name: "hongmingdan", kind: dataset.KindCommendation},    // 红名单 (守信激励)
		{name: "shixin", kind: dataset.KindDishonesty},           // 失信名单 (失信惩戒)
	}
}

// Legacy column names. jdrq is a DATE; yxqz is CHAR(8) yyyyMMdd (NULL when open-ended),
// as the older feeds that the platform ingests deliver it; fkje is DECIMAL CNY.
const (
	colID          = "id"     // record id
	colSubjectID   = "xdr_id" // 行政相对人代码
	colSubjectName = "xdr_mc" // 行政相对人名称
	colDecisionNo  = "jdswh"  // 决定书文号
	colTitle       = "mc"     // 名称
	colContent     = "nr"     // 内容
	colDecidedOn   = "jdrq"   // 决定日期
	colValidUntil  = "yxqz"   // 有效期至
	colIssuedBy    = "jdjg"   // 决定机关
	colAmount      = "fkje"   // 罚款金额
	colKind        = "xxlb"   // 信息类别: not stored, selected as the table's literal name
)

// ddl returns the statements that create t. The column types are valid for both SQLite
// and MySQL; mysqlSuffix carries MySQL's table options.
func (t table) ddl(mysqlSuffix string) []string {
	amount := ""
	if t.penalty {
		amount = ",\n  fkje DECIMAL(14,2) NOT NULL"
	}
	return []string{
		fmt.Sprintf(`CREATE TABLE %s (
  id VARCHAR(32) NOT NULL PRIMARY KEY,
  xdr_id VARCHAR(18) NOT NULL,
  xdr_mc VARCHAR(200) NOT NULL,
  jdswh VARCHAR(100) NOT NULL,
  mc VARCHAR(200) NOT NULL,
  nr TEXT,
  jdrq DATE NOT NULL,
  yxqz CHAR(8),
  jdjg VARCHAR(200) NOT NULL%s
)%s`, t.name, amount, mysqlSuffix),
		fmt.Sprintf("CREATE INDEX idx_%s_xdr_id ON %s (xdr_id)", t.name, t.name),
	}
}

// commonColumns are the columns every table has, in insert order.
func commonColumns() []string {
	return []string{colID, colSubjectID, colSubjectName, colDecisionNo, colTitle,
		colContent, colDecidedOn, colValidUntil, colIssuedBy}
}

// insertColumns lists t's stored columns in insert order: the common ones, then fkje for
// penalties.
func (t table) insertColumns() []string {
	cols := commonColumns()
	if t.penalty {
		cols = append(cols, colAmount)
	}
	return cols
}

// insertSQL returns a multi-row insert into t for rows rows.
func (t table) insertSQL(rows int) string {
	cols := t.insertColumns()
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", t.name, strings.Join(cols, ", "))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// args returns r's values in t's insert order, converted to the stored formats.
func (t table) args(r dataset.CreditRecord) []any {
	args := []any{r.ID, r.SubjectID, r.SubjectName, r.DecisionNumber, r.Title, r.Content,
		r.DecidedOn, compactDate(r.ValidUntil), r.IssuedBy}
	if t.penalty {
		args = append(args, r.PenaltyAmount)
	}
	return args
}

// compactDate turns the dataset's yyyy-MM-dd into the CHAR(8) yyyyMMdd the platform
// stores; an empty date is NULL.
func compactDate(iso string) any {
	if iso == "" {
		return nil
	}
	return strings.ReplaceAll(iso, "-", "")
}

// checkKinds makes sure every credit record of ds has a table to go to.
func checkKinds(ds *dataset.Dataset) error {
	for r := range ds.AllCredit() {
		if !slices.ContainsFunc(recordTables(), func(t table) bool { return t.kind == r.Kind }) {
			return fmt.Errorf("credit record %s: unknown kind %q", r.ID, r.Kind)
		}
	}
	return nil
}

// rowsOf yields the credit records of ds that t stores, as they are generated: a table
// is filled in one pass over the records, so that none of them needs to be held.
func (t table) rowsOf(ds *dataset.Dataset) iter.Seq[dataset.CreditRecord] {
	return func(yield func(dataset.CreditRecord) bool) {
		for r := range ds.AllCredit() {
			if r.Kind == t.kind && !yield(r) {
				return
			}
		}
	}
}
