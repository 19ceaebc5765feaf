package store

import (
	"context"
	"database/sql/driver"
	"errors"

	lru "github.com/hashicorp/golang-lru/v2"
)

// SQLite connections keep the statements they run prepared, by their text. ent
// sends the same few hundred statements again and again, and database/sql hands a
// query with arguments straight to the driver, which parsed and planned it anew
// every time: a SCIM lookup by userName spent 30% of its CPU in SQLite's parser,
// a SCIM create 20%, whoCan 10% (pprof at 100k users). MySQL plans on the server
// and is not wrapped.
//
// A statement is one SQLite handle, so it serves one query at a time: while rows
// read from it are open, the same text runs unprepared, as before.

const (
	// stmtCacheSize is how many statements a connection keeps prepared (the pool
	// holds at most max(4, GOMAXPROCS) connections). A full bench run at 100k users
	// peaked at 178–182 MB RSS with them and without.
	stmtCacheSize = 200
	// maxCachedQuery is the longest statement kept: longer ones are lists of
	// ids that differ from run to run.
	maxCachedQuery = 4096
)

// stmtCachingConnector opens connections that keep their statements.
type stmtCachingConnector struct{ driver.Connector }

func (c stmtCachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newStmtCachingConn(conn)
}

// sqliteConn is what database/sql uses of a modernc SQLite connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type stmtCachingConn struct {
	sqliteConn
	stmts *lru.Cache[string, *cachedStmt]
}

// cachedStmt is a prepared statement and whether open rows are reading from it.
type cachedStmt struct {
	stmt interface {
		driver.Stmt
		driver.StmtQueryContext
		driver.StmtExecContext
	}
	busy    bool // rows read from it
	evicted bool // left the cache while busy: closed when its rows close
}

func newStmtCachingConn(conn driver.Conn) (driver.Conn, error) {
	sc, ok := conn.(sqliteConn)
	if !ok {
		return nil, errors.Join(errors.New("store: the SQLite connection lacks what the statement cache wraps"), conn.Close())
	}
	c := &stmtCachingConn{sqliteConn: sc}
	var err error
	c.stmts, err = lru.NewWithEvict(stmtCacheSize, func(_ string, s *cachedStmt) {
		if s.busy {
			s.evicted = true
			return
		}
		_ = s.stmt.Close()
	})
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	return c, nil
}

// take returns the query's prepared statement, marked busy, or nil when the query
// is to run unprepared: without arguments (a migration's DDL, a pragma: run once),
// too long to keep, or its statement already reading rows.
func (c *stmtCachingConn) take(ctx context.Context, query string, args []driver.NamedValue) (*cachedStmt, error) {
	if len(args) == 0 || len(query) > maxCachedQuery {
		return nil, nil
	}
	if s, ok := c.stmts.Get(query); ok {
		if s.busy {
			return nil, nil
		}
		s.busy = true
		return s, nil
	}
	ds, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		driver.Stmt
		driver.StmtQueryContext
		driver.StmtExecContext
	})
	if !ok {
		return nil, errors.Join(errors.New("store: a SQLite statement lacks QueryContext or ExecContext"), ds.Close())
	}
	s := &cachedStmt{stmt: st, busy: true}
	c.stmts.Add(query, s)
	return s, nil
}

func (c *stmtCachingConn) release(s *cachedStmt) error {
	s.busy = false
	if s.evicted {
		return s.stmt.Close()
	}
	return nil
}

// releasing releases s after a run that returned err, and keeps err as it is
// when that works (callers test SQLite's errors by type).
func (c *stmtCachingConn) releasing(s *cachedStmt, err error) error {
	if rerr := c.release(s); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

func (c *stmtCachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.take(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, c.releasing(s, err)
	}
	sr, ok := rows.(sqliteRows)
	if !ok {
		return nil, errors.Join(errors.New("store: SQLite rows lack their column types"), rows.Close(), c.release(s))
	}
	return &stmtRows{sqliteRows: sr, release: func() error { return c.release(s) }}, nil
}

func (c *stmtCachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.take(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	res, err := s.stmt.ExecContext(ctx, args)
	return res, c.releasing(s, err)
}

// Close closes the kept statements (evicting them closes them) before the
// connection, which SQLite needs.
func (c *stmtCachingConn) Close() error {
	c.stmts.Purge()
	return c.sqliteConn.Close()
}

// sqliteRows is what database/sql uses of modernc's rows.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// stmtRows frees its statement for the next query when closed.
type stmtRows struct {
	sqliteRows
	release func() error
}

func (r *stmtRows) Close() error {
	err := r.sqliteRows.Close()
	if r.release != nil {
		err = errors.Join(err, r.release())
		r.release = nil
	}
	return err
}
