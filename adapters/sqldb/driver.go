package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// supportedDrivers names the drivers Open accepts, for error messages.
const supportedDrivers = `"sqlite" (modernc.org/sqlite) or "mysql" (MariaDB/MySQL)`

func supported(driverName string) bool { return driverName == "sqlite" || driverName == "mysql" }

// openDB opens a read-only pool for driverName and dsn without connecting.
func openDB(driverName, dsn string) (*sql.DB, error) {
	switch driverName {
	case "sqlite":
		ro, err := sqliteReadOnly(dsn)
		if err != nil {
			return nil, err
		}
		return sql.Open("sqlite", ro)
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, err
		}
		// Dates and times arrive as the server prints them; see the package doc.
		cfg.ParseTime = false
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(initConnector{Connector: c, init: "SET SESSION TRANSACTION READ ONLY"}), nil
	default:
		return nil, fmt.Errorf("driver %q is not supported", driverName)
	}
}

// sqliteReadOnly turns a file name or file: URI into a URI that SQLite opens read-only
// (mode=ro: writes fail with SQLITE_READONLY and a missing file is not created) with
// query_only on as well. Other parameters of the DSN are kept.
func sqliteReadOnly(dsn string) (string, error) {
	path, query, _ := strings.Cut(dsn, "?")
	if p, ok := strings.CutPrefix(path, "file:"); ok {
		path = p
	} else {
		// A plain file name becomes a URI path: escape what a URI would read as syntax.
		path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	}
	if path == "" {
		return "", errors.New("no database file")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", err
	}
	q.Set("mode", "ro")
	q.Set("_query_only", "1")
	return "file:" + path + "?" + q.Encode(), nil
}

// initConnector runs one statement on every new connection before the pool hands it out.
type initConnector struct {
	driver.Connector
	init string
}

func (c initConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("the driver cannot run the session set-up statement")
	}
	if _, err := ex.ExecContext(ctx, c.init, nil); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("session set-up: %w", err)
	}
	return conn, nil
}
