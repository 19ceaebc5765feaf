package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"entgo.io/ent/dialect"
)

// writeQueue makes a process's write transactions on SQLite take turns in the order
// they asked. SQLite admits one writer at a time (BEGIN IMMEDIATE takes the lock),
// and a writer that finds it taken polls from its busy handler: under steady writes
// the connection that just committed begins again before a waiting one polls, so
// a waiter can starve until busy_timeout and fail with SQLITE_BUSY (measured: 4
// concurrent SCIM deletes at 100k users, 1 to 3 of ~3,300 failed after 10 s).
// Waiting for a turn here first, in arrival order (a channel's senders are
// served first come, first served), leaves the busy handler only other processes
// sharing the file to wait for. Read-only transactions do not queue.
type writeQueue struct {
	dialect.Driver
	turn    chan struct{}
	timeout time.Duration // the longest wait for a turn, as SQLite's busy_timeout
}

type txBeginner interface {
	BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
}

// sqlContext is what ent's ExecContext and QueryContext (feature sql/execquery)
// need of a driver or transaction; the wrappers below pass them through.
type sqlContext interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func newWriteQueue(drv dialect.Driver, timeout time.Duration) *writeQueue {
	return &writeQueue{Driver: drv, turn: make(chan struct{}, 1), timeout: timeout}
}

func (q *writeQueue) Tx(ctx context.Context) (dialect.Tx, error) { return q.BeginTx(ctx, nil) }

func (q *writeQueue) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.Driver.(sqlContext).ExecContext(ctx, query, args...)
}

func (q *writeQueue) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.Driver.(sqlContext).QueryContext(ctx, query, args...)
}

func (q *writeQueue) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	begin := q.Driver.(txBeginner).BeginTx
	if opts != nil && opts.ReadOnly {
		return begin(ctx, opts)
	}
	wait := time.NewTimer(q.timeout)
	defer wait.Stop()
	select {
	case q.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-wait.C:
		return nil, fmt.Errorf("store: no turn to write within %s (database is locked)", q.timeout)
	}
	var once sync.Once
	release := func() { once.Do(func() { <-q.turn }) }
	tx, err := begin(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	// database/sql rolls a transaction back by itself when its context ends, without
	// a call here: the turn is given up then too.
	stop := context.AfterFunc(ctx, release)
	return &queuedTx{Tx: tx, end: func() { stop(); release() }}, nil
}

// queuedTx gives up its turn when it commits or rolls back.
type queuedTx struct {
	dialect.Tx
	end func()
}

func (t *queuedTx) Commit() error {
	defer t.end()
	return t.Tx.Commit()
}

func (t *queuedTx) Rollback() error {
	defer t.end()
	return t.Tx.Rollback()
}

func (t *queuedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.(sqlContext).ExecContext(ctx, query, args...)
}

func (t *queuedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.(sqlContext).QueryContext(ctx, query, args...)
}
