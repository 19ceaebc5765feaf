package generated

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

func TestMarshalSlice(t *testing.T) {
	tests := []struct {
		length      int
		workerLimit int64
		maxWorkers  int64
	}{
		{0, 0, 0}, {1, 0, 1}, {2, 0, 2}, {8, 0, 8}, {9, 0, 5}, {245, 0, listWorkers}, {245, 3, 3}, {245, 1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d elements, limit %d", tt.length, tt.workerLimit), func(t *testing.T) {
			var inFlight, most atomic.Int64
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
			got := marshalSlice(ctx, tt.length, tt.workerLimit, false, func(ctx context.Context, i int) graphql.Marshaler {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if i == 0 && tt.maxWorkers > 1 {
					// The first run waits for another to start, so a list marshalled in
					// runs is seen to be, however the goroutines are scheduled.
					for deadline := time.Now().Add(time.Second); inFlight.Load() < 2 && time.Now().Before(deadline); {
						time.Sleep(50 * time.Microsecond)
					}
				}
				time.Sleep(time.Millisecond) // long enough for the runs to overlap
				if idx := graphql.GetFieldContext(ctx).Index; idx == nil || *idx != i {
					t.Errorf("element %d: field context index %v", i, idx)
				}
				return graphql.MarshalInt(i)
			})
			if len(got) != tt.length {
				t.Fatalf("%d values, want %d", len(got), tt.length)
			}
			for i, v := range got {
				if text(v) != fmt.Sprint(i) {
					t.Errorf("value %d is %s", i, text(v))
				}
			}
			if m := most.Load(); m > tt.maxWorkers || (tt.length > 1 && m < 2 && tt.maxWorkers > 1) {
				t.Errorf("%d elements marshalled at once, want at most %d and, for a list, more than one", m, tt.maxWorkers)
			}
		})
	}
}

func TestMarshalSliceRecoversEachElement(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	got := marshalSlice(ctx, 20, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if i == 3 || i == 17 {
			panic("element failed")
		}
		return graphql.MarshalInt(i)
	})
	for i, v := range got {
		want := fmt.Sprint(i)
		if i == 3 || i == 17 {
			want = "null"
		}
		if text(v) != want {
			t.Errorf("value %d is %s, want %s", i, text(v), want)
		}
	}
	if errs := graphql.GetErrors(ctx); len(errs) != 2 {
		t.Errorf("errors %v, want one per panicking element", errs)
	}
}

func TestNewDeferredGroup(t *testing.T) {
	ctx := context.Background()
	plain := []graphql.CollectedField{{}, {}}
	if g := newDeferredGroup(ctx, plain); g.Defers != nil || g.FieldSet != nil || g.Context != ctx {
		t.Errorf("without deferred fields: %+v, want an empty group on ctx", g)
	}
	deferred := []graphql.CollectedField{{}, {Deferrables: []*graphql.Deferrable{{Label: "later"}}}}
	if g := newDeferredGroup(ctx, deferred); g.Defers == nil || g.FieldSet == nil {
		t.Errorf("with a deferred field: %+v, want graphql.NewDeferredGroup's group", g)
	}
}

func text(m graphql.Marshaler) string {
	var b bytes.Buffer
	m.MarshalGQL(&b)
	return b.String()
}
