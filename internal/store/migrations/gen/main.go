// Command gen writes the next versioned MySQL migration: the difference between
// the committed migrations and the ent schema, in goose format. Run it from the
// module root after changing ent/schema and regenerating ent:
//
//	go run ./internal/store/migrations/gen --name add_user_nickname
//
// It needs a MySQL or MariaDB server (--dev-url) on which it creates a
// throw-away database, replays the existing migrations there, diffs against
// the ent schema and drops the database again. See ../README.md.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	_ "ariga.io/atlas/sql/mysql" // registers the mysql:// URL scheme with sqlclient
	"ariga.io/atlas/sql/sqlclient"
	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/go-sql-driver/mysql"

	entmigrate "latchkey/ent/migrate"
)

var validName = regexp.MustCompile(`^[a-z0-9_]+$`)

func main() {
	log.SetFlags(0)
	log.SetPrefix("migrations/gen: ")
	devURL := flag.String("dev-url", "mysql://root@127.0.0.1:3306/",
		"MySQL/MariaDB server to compute the diff on; a throw-away database is created there and dropped")
	dir := flag.String("dir", filepath.Join("internal", "store", "migrations", "mysql"),
		"migration directory")
	name := flag.String("name", "", "name of the new migration, e.g. add_user_nickname (lower case, digits, _)")
	rehash := flag.Bool("rehash", false, "only recompute atlas.sum after editing a migration by hand")
	flag.Parse()

	if *rehash {
		if err := rehashDir(*dir); err != nil {
			log.Fatal(err)
		}
		log.Printf("updated %s", filepath.Join(*dir, migrate.HashFileName))
		return
	}
	if !validName.MatchString(*name) {
		log.Fatal("--name is required and may hold only lower-case letters, digits and _")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	file, err := generate(ctx, *devURL, *dir, *name)
	switch {
	case errors.Is(err, migrate.ErrNoPlan):
		log.Print("the migrations already match the ent schema; nothing written")
	case err != nil:
		log.Fatal(err)
	default:
		log.Printf("wrote %s; review it, then commit it with %s", file, migrate.HashFileName)
	}
}

// generate writes the migration and returns its path.
func generate(ctx context.Context, devURL, dirPath, name string) (string, error) {
	server, err := url.Parse(devURL)
	if err != nil || server.Scheme != "mysql" {
		return "", fmt.Errorf("--dev-url must be a mysql:// server URL, got %q", devURL)
	}
	server.Path = "/"
	client, err := sqlclient.Open(ctx, server.String())
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", server.Redacted(), err)
	}
	defer client.Close()
	admin := client.DB

	devDB := "lk_migrate_dev_" + strings.ToLower(rand.Text()[:12])
	// The database's default collation is deliberately not the tables' one
	// (utf8mb4_bin), so every CREATE TABLE spells its charset and collation out
	// instead of inheriting them from whatever database it is applied to.
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+devDB+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		return "", fmt.Errorf("creating dev database: %w", err)
	}
	defer func() {
		if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS `"+devDB+"`"); err != nil {
			log.Printf("dropping dev database %s: %v", devDB, err)
		}
	}()

	if err := os.MkdirAll(dirPath, 0o755); err != nil {
		return "", err
	}
	before, err := sqlFiles(dirPath)
	if err != nil {
		return "", err
	}
	dir, err := sqltool.NewGooseDir(dirPath)
	if err != nil {
		return "", err
	}
	dev := *server
	dev.Path = "/" + devDB
	err = entmigrate.NamedDiff(ctx, dev.String(), name,
		schema.WithDir(dir),
		schema.WithFormatter(sqltool.GooseFormatter),
		// Replay the committed files instead of trusting any live database.
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.MySQL),
		// Versioned files are reviewed, so they may drop what the schema dropped.
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithErrNoPlan(true),
	)
	if err != nil {
		return "", err
	}
	after, err := sqlFiles(dirPath)
	if err != nil {
		return "", err
	}
	for _, f := range after {
		if !slices.Contains(before, f) {
			return filepath.Join(dirPath, f), nil
		}
	}
	return "", errors.New("diff succeeded but no new migration file appeared")
}

func sqlFiles(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m, err
}

func rehashDir(path string) error {
	dir, err := sqltool.NewGooseDir(path)
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	return migrate.WriteSumFile(dir, sum)
}
