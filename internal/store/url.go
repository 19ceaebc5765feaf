package store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/go-sql-driver/mysql"
)

// DefaultSQLitePath is the database file used when no database URL is given.
const DefaultSQLitePath = "data/latchkey.db"

// acceptedForms is quoted in every URL error so the operator sees what would work.
const acceptedForms = `accepted forms: "" (SQLite file ./` + DefaultSQLitePath + `), ` +
	`"sqlite:///abs/path/file.db", "sqlite://relative/path/file.db", ` +
	`"mysql://user:password@host:port/dbname?param=value"`

// Config is a parsed database URL: what Open hands to database/sql.
type Config struct {
	Dialect  string // dialect.SQLite or dialect.MySQL
	Driver   string // database/sql driver name: "sqlite" or "mysql"
	DSN      string // data source name for Driver
	Path     string // SQLite: the database file
	Database string // MySQL: the database name; empty for a server-only URL
}

// sqliteParams make concurrent writers queue on the write lock instead of
// failing with SQLITE_BUSY mid-transaction, keep referential integrity on (off
// by default in SQLite), and store times in UTC so text order is time order.
// Each connection caches 8 MB of pages instead of SQLite's 2 MB: at 100k users
// the index pages a whoCan or a users page walks do not fit in 2 MB, and each
// miss is a read syscall (bench at 100k users: whoCan p50 60 → 38 ms; peak RSS
// 99 → 137 MB with the pool's four connections; 16 MB bought nothing more).
// sqliteBusyTimeout is how long a writer waits for SQLite's write lock.
const sqliteBusyTimeout = 10 * time.Second

var sqliteParams = []struct{ key, value string }{
	{"_pragma", "foreign_keys(1)"},
	{"_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())},
	{"_pragma", "journal_mode(WAL)"},
	{"_pragma", "synchronous(NORMAL)"},
	{"_pragma", "cache_size(-8192)"},
	{"_txlock", "immediate"},
	{"_timezone", "UTC"},
}

// mysqlParams are the connection defaults; a parameter given in the URL wins.
// utf8mb4_bin matches the tables' collation and SQLite's byte-wise comparison;
// the UTC session zone keeps TIMESTAMP columns from shifting across DST.
// interpolateParams sends a statement with its arguments in one round trip instead
// of three (prepare, execute, close): every request reads the account's revision,
// and at 100k users that was a third of a cached `can` (the driver interpolates
// only for charsets where escaping is safe, as utf8mb4 is).
var mysqlParams = map[string]string{
	"interpolateParams": "true",
	"parseTime":         "true",
	"loc":               "UTC",
	"charset":           "utf8mb4",
	"collation":         "utf8mb4_bin",
	"time_zone":         "'+00:00'",
}

// ParseURL turns a database URL (see SPEC §6 "Configuration") into a Config.
// A mysql:// URL without a database name parses (tools use it to reach the
// server); Open rejects it.
func ParseURL(databaseURL string) (Config, error) {
	switch {
	case databaseURL == "":
		return sqliteConfig(DefaultSQLitePath, "")
	case strings.HasPrefix(databaseURL, "sqlite://"):
		rest := strings.TrimPrefix(databaseURL, "sqlite://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" || path == "/" {
			return Config{}, fmt.Errorf("database URL %q names no file; %s", databaseURL, acceptedForms)
		}
		return sqliteConfig(path, query)
	case strings.HasPrefix(databaseURL, "mysql://"):
		return mysqlConfig(databaseURL)
	default:
		return Config{}, fmt.Errorf("unsupported database URL %q; %s", redact(databaseURL), acceptedForms)
	}
}

func sqliteConfig(path, query string) (Config, error) {
	user, err := url.ParseQuery(query)
	if err != nil {
		return Config{}, fmt.Errorf("sqlite URL parameters: %w", err)
	}
	q := url.Values{}
	for _, p := range sqliteParams {
		if p.key == "_pragma" {
			if !hasPragma(user["_pragma"], pragmaName(p.value)) {
				q.Add(p.key, p.value)
			}
		} else if !user.Has(p.key) {
			q.Add(p.key, p.value)
		}
	}
	for k, vs := range user {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	path = filepath.Clean(path)
	return Config{
		Dialect: dialect.SQLite,
		Driver:  "sqlite",
		DSN:     path + "?" + q.Encode(),
		Path:    path,
	}, nil
}

// pragmaName is the pragma a _pragma value sets: "busy_timeout" for "busy_timeout(10000)".
func pragmaName(v string) string {
	name, _, _ := strings.Cut(v, "(")
	name, _, _ = strings.Cut(name, "=")
	return strings.ToLower(strings.TrimSpace(name))
}

func hasPragma(values []string, name string) bool {
	for _, v := range values {
		if pragmaName(v) == name {
			return true
		}
	}
	return false
}

func mysqlConfig(databaseURL string) (Config, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Error quotes the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Config{}, fmt.Errorf("invalid mysql URL: %w; %s", err, acceptedForms)
	}
	if u.Host == "" {
		return Config{}, fmt.Errorf("mysql URL %q names no host; %s", redact(databaseURL), acceptedForms)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(db, "/") {
		return Config{}, fmt.Errorf("mysql URL %q: database name %q contains '/'; %s", redact(databaseURL), db, acceptedForms)
	}
	q := url.Values{}
	for k, v := range mysqlParams {
		q.Set(k, v)
	}
	for k, vs := range u.Query() {
		q[k] = vs
	}
	// Let the driver parse the parameters so bad values fail here, not at first use.
	cfg, err := mysql.ParseDSN("/?" + q.Encode())
	if err != nil {
		return Config{}, fmt.Errorf("mysql URL parameters: %w", err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.DBName = db
	return Config{
		Dialect:  dialect.MySQL,
		Driver:   "mysql",
		DSN:      cfg.FormatDSN(),
		Database: db,
	}, nil
}

// redact hides a password so errors can be logged.
func redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		scheme, _, _ := strings.Cut(databaseURL, ":")
		return scheme + ":..."
	}
	return u.Redacted()
}
