package access_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"latchkey/internal/access"
	"latchkey/internal/audit"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// Concurrent requests share revision reads, yet each sees every change committed
// before it began: a request never takes the answer of a read already running.
func TestRequestRevisionCoalescedAndFresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := newAccount(t, st.Client, "acme")
		accountID := viewer.FromContext(ctx).AccountID
		cache, err := access.NewCache(context.Background(), st.Client, st.DB, 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close() })
		read := func() int64 {
			rev, ok, err := access.RequestRevision(access.WithCache(context.Background(), cache), accountID)
			if err != nil || !ok {
				t.Errorf("RequestRevision: %d %v %v", rev, ok, err)
			}
			return rev
		}

		// Background readers keep reads running while the revision moves.
		stop := make(chan struct{})
		var background sync.WaitGroup
		var requests atomic.Int64
		for range 8 {
			background.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						read()
						requests.Add(1)
					}
				}
			})
		}
		for range 40 {
			if err := audit.BumpRevision(ctx, st.Client, accountID); err != nil {
				t.Fatal(err)
			}
			var committed int64
			if err := st.DB.QueryRowContext(ctx, `SELECT revision FROM account_revisions WHERE account_id = ?`, accountID).Scan(&committed); err != nil {
				t.Fatal(err)
			}
			var readers sync.WaitGroup
			for range 8 {
				readers.Go(func() {
					if rev := read(); rev < committed {
						t.Errorf("a request begun after revision %d was committed read %d", committed, rev)
					}
					requests.Add(1)
				})
			}
			readers.Wait()
		}
		close(stop)
		background.Wait()
		if q, n := cache.RevisionQueries(), requests.Load(); q >= n {
			t.Errorf("%d requests sent %d revision reads: none were shared", n, q)
		} else {
			t.Logf("%d requests sent %d revision reads", n, q)
		}
	})
}
