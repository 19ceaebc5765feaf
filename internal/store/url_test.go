package store_test

import (
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/go-sql-driver/mysql"

	"latchkey/internal/store"
)

func TestParseURLSQLite(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		path    string
		want    []string // DSN parameters that must be present
		notWant []string // and must not
	}{
		{
			name: "default",
			url:  "",
			path: "data/latchkey.db",
			want: []string{
				"_pragma=foreign_keys%281%29", "_pragma=busy_timeout%2810000%29",
				"_pragma=journal_mode%28WAL%29", "_pragma=synchronous%28NORMAL%29",
				"_pragma=cache_size%28-8192%29", "_txlock=immediate", "_timezone=UTC",
			},
		},
		{name: "absolute", url: "sqlite:///var/lib/latchkey/lk.db", path: "/var/lib/latchkey/lk.db", want: []string{"_txlock=immediate"}},
		{name: "relative", url: "sqlite://relative/dir/lk.db", path: "relative/dir/lk.db", want: []string{"_txlock=immediate"}},
		{
			name:    "user parameters win",
			url:     "sqlite:///tmp/lk.db?_pragma=busy_timeout(500)&_txlock=deferred",
			path:    "/tmp/lk.db",
			want:    []string{"_pragma=busy_timeout%28500%29", "_txlock=deferred", "_pragma=foreign_keys%281%29"},
			notWant: []string{"busy_timeout%2810000%29", "_txlock=immediate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := store.ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.url, err)
			}
			if cfg.Dialect != dialect.SQLite || cfg.Driver != "sqlite" {
				t.Errorf("dialect, driver = %q, %q; want %q, %q", cfg.Dialect, cfg.Driver, dialect.SQLite, "sqlite")
			}
			if cfg.Path != tt.path {
				t.Errorf("Path = %q, want %q", cfg.Path, tt.path)
			}
			file, query, _ := strings.Cut(cfg.DSN, "?")
			if file != tt.path {
				t.Errorf("DSN file = %q, want %q", file, tt.path)
			}
			params := strings.Split(query, "&")
			for _, w := range tt.want {
				if !slices.Contains(params, w) {
					t.Errorf("DSN %q lacks %q", cfg.DSN, w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(query, nw) {
					t.Errorf("DSN %q has %q", cfg.DSN, nw)
				}
			}
		})
	}
}

func TestParseURLMySQL(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		user      string
		passwd    string
		addr      string
		db        string
		parseTime bool
		loc       string
		params    map[string]string // DSN parameters beyond the Config fields
	}{
		{
			name: "with password", url: "mysql://lk:s3cret@db.internal:3307/latchkey",
			user: "lk", passwd: "s3cret", addr: "db.internal:3307", db: "latchkey",
			parseTime: true, loc: "UTC", params: map[string]string{"charset": "utf8mb4", "time_zone": "'+00:00'"},
		},
		{
			name: "without password or port", url: "mysql://root@127.0.0.1/latchkey",
			user: "root", addr: "127.0.0.1:3306", db: "latchkey",
			parseTime: true, loc: "UTC", params: map[string]string{"charset": "utf8mb4"},
		},
		{
			name: "escaped password", url: "mysql://lk:p%40ss%2Fw%3Ard@h:3306/latchkey",
			user: "lk", passwd: "p@ss/w:rd", addr: "h:3306", db: "latchkey",
			parseTime: true, loc: "UTC",
		},
		{
			name: "user parameters kept and winning",
			url:  "mysql://lk@h:3306/latchkey?tls=skip-verify&parseTime=false&loc=Europe%2FBerlin&time_zone=%27%2B01%3A00%27&sql_mode=ANSI_QUOTES",
			user: "lk", addr: "h:3306", db: "latchkey",
			parseTime: false, loc: "Europe/Berlin",
			params: map[string]string{"time_zone": "'+01:00'", "sql_mode": "ANSI_QUOTES", "charset": "utf8mb4"},
		},
		{
			name: "server only", url: "mysql://root@127.0.0.1:3306/",
			user: "root", addr: "127.0.0.1:3306", db: "",
			parseTime: true, loc: "UTC",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := store.ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.url, err)
			}
			if cfg.Dialect != dialect.MySQL || cfg.Driver != "mysql" {
				t.Errorf("dialect, driver = %q, %q; want %q, %q", cfg.Dialect, cfg.Driver, dialect.MySQL, "mysql")
			}
			if cfg.Database != tt.db {
				t.Errorf("Database = %q, want %q", cfg.Database, tt.db)
			}
			got, err := mysql.ParseDSN(cfg.DSN)
			if err != nil {
				t.Fatalf("DSN %q does not parse: %v", cfg.DSN, err)
			}
			if got.User != tt.user || got.Passwd != tt.passwd || got.Net != "tcp" || got.Addr != tt.addr || got.DBName != tt.db {
				t.Errorf("DSN %q: user %q passwd %q net %q addr %q db %q; want %q %q tcp %q %q",
					cfg.DSN, got.User, got.Passwd, got.Net, got.Addr, got.DBName, tt.user, tt.passwd, tt.addr, tt.db)
			}
			if got.ParseTime != tt.parseTime {
				t.Errorf("ParseTime = %v, want %v", got.ParseTime, tt.parseTime)
			}
			if got.Loc.String() != tt.loc {
				t.Errorf("Loc = %v, want %v", got.Loc, tt.loc)
			}
			if got.Collation != "utf8mb4_bin" {
				t.Errorf("Collation = %q, want utf8mb4_bin", got.Collation)
			}
			if !got.InterpolateParams {
				t.Errorf("DSN %q: InterpolateParams is off", cfg.DSN)
			}
			formatted := got.FormatDSN()
			for k, v := range tt.params {
				if k == "charset" {
					if !strings.Contains(formatted, "charset="+v) {
						t.Errorf("DSN %q lacks charset=%s", formatted, v)
					}
					continue
				}
				if got.Params[k] != v {
					t.Errorf("param %s = %q, want %q", k, got.Params[k], v)
				}
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		secret string // must not appear in the error
	}{
		{name: "unknown scheme", url: "postgres://lk:hunter2@db/latchkey", secret: "hunter2"},
		{name: "no scheme", url: "latchkey.db"},
		{name: "sqlite without //", url: "sqlite:latchkey.db"},
		{name: "sqlite without file", url: "sqlite://"},
		{name: "mysql without host", url: "mysql:///latchkey"},
		{name: "mysql bad parameter", url: "mysql://lk:hunter2@h/latchkey?loc=Not%2FA_Zone", secret: "hunter2"},
		{name: "mysql unparsable", url: "mysql://lk:hunter2@h:port/latchkey", secret: "hunter2"},
		{name: "mysql nested path", url: "mysql://h/a/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.ParseURL(tt.url)
			if err == nil {
				t.Fatalf("ParseURL(%q) succeeded", tt.url)
			}
			msg := err.Error()
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("error leaks the password: %v", err)
			}
			if tt.name != "mysql bad parameter" && !strings.Contains(msg, "accepted forms") {
				t.Errorf("error does not name the accepted forms: %v", err)
			}
		})
	}
}
