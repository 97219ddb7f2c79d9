package sqldb

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"

	"pudong.gov.cn/gateway/legacysim/credit"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// mysqlDSNEnv names the variable that points the MariaDB/MySQL tests at a server, e.g.
// root@tcp(127.0.0.1:3306)/test. The account must be able to create and drop a database.
const mysqlDSNEnv = "GATEWAY_TEST_MYSQL_DSN"

// TestMySQL loads the credit tables into a database of its own with LoadMySQL and runs
// the same assertions as on SQLite through the adapter with driver "mysql".
func TestMySQL(t *testing.T) {
	dsn := os.Getenv(mysqlDSNEnv)
	if dsn == "" {
		t.Skipf("%s is not set: skipping the MariaDB/MySQL tests (e.g. %s='root@tcp(127.0.0.1:3306)/test')", mysqlDSNEnv, mysqlDSNEnv)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", mysqlDSNEnv, err)
	}
	ctx := context.Background()
	const dbName = "gateway_credit_test"

	cfg.DBName = ""
	admin := openMySQL(t, cfg)
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+dbName); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+dbName); err != nil {
			t.Errorf("drop %s: %v", dbName, err)
		}
	})

	cfg.DBName = dbName
	ds := dataset.Generate(dataset.DefaultSeed, testSize())
	if err := credit.LoadMySQL(ctx, openMySQL(t, cfg), ds); err != nil {
		t.Fatal(err)
	}
	s := openSource(t, credit.Binding("mysql", cfg.FormatDSN()))

	t.Run("fixtures", func(t *testing.T) { checkFixtures(t, s, ds) })
	t.Run("read-only", func(t *testing.T) { checkReadOnly(t, s) })
	t.Run("injection", func(t *testing.T) {
		got, err := s.Fetch(ctx, credit.OpBySubject, []string{"' OR '1'='1", dataset.E2 + "'); DROP TABLE xzcf; --"})
		if err != nil || len(got) != 0 {
			t.Errorf("hostile keys: %v, %v, want nothing", got, err)
		}
	})
	t.Run("case-insensitive collation", func(t *testing.T) {
		// MySQL's collation matches a lower-case code; the rows are filed under the key
		// that was asked for.
		lower := "91310115ma1fl0ab0p"
		got, err := s.Fetch(ctx, credit.OpBySubject, []string{lower})
		if err != nil || len(got[lower]) != 2 {
			t.Errorf("got %v, %v, want E1's two records under %q", got, err, lower)
		}
	})
}

func openMySQL(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("MariaDB/MySQL at %s: %v", cfg.Addr, err)
	}
	return db
}
