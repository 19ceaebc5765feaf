package scim_test

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// BenchmarkInitialSync provisions 5,000 users and 200 groups of 25 members through
// SCIM, as an identity provider's first cycle does (several requests in flight;
// half the groups created with their members as Okta does, half created empty and
// filled by PATCH as Entra ID does), with a mapping rule on one group.
//
//	go test ./scim -run '^$' -bench InitialSync -benchtime 1x
//	LATCHKEY_TEST_MYSQL_DSN=mysql://root@127.0.0.1:3306/ go test ./scim -run '^$' -bench InitialSync -benchtime 1x
func BenchmarkInitialSync(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { initialSync(b, storetest.SQLite(b)) })
	b.Run("mysql", func(b *testing.B) { initialSync(b, storetest.MySQL(b)) })
}

const (
	syncUsers     = 5000
	syncGroups    = 200
	groupSize     = 25
	syncInFlight  = 8
	syncTypeGroup = "Group 7"
)

func initialSync(b *testing.B, st *store.Store) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, st)
		typ := e.gql.Must(`mutation { createUserType(input: {name: "Synced"}) { userType { id } } }`, nil).String("createUserType.userType.id")
		e.gql.Must(`mutation($t: ID!) { createScimMappingRule(input: {groupName: "`+syncTypeGroup+`", userTypeId: $t}) { rule { id } } }`, map[string]any{"t": typ})
		prefix := fmt.Sprintf("run%d-", i)
		b.StartTimer()
		start := time.Now()

		ids := make([]string, syncUsers)
		parallel(b, syncUsers, func(n int) {
			name := fmt.Sprintf("%suser%04d@acme.test", prefix, n)
			ids[n] = e.call("POST", "/Users", newUser(name, map[string]any{
				"externalId": fmt.Sprintf("ext-%d", n), "displayName": fmt.Sprintf("User %d", n),
				enterpriseURN: map[string]any{"department": "Claims", "employeeNumber": fmt.Sprint(n)},
			})).must(201).str("id")
		})
		usersDone := time.Since(start)
		parallel(b, syncGroups, func(g int) {
			var members []any
			for m := 0; m < groupSize; m++ {
				members = append(members, map[string]any{"value": ids[(g*groupSize+m)%syncUsers]})
			}
			name := fmt.Sprintf("%sGroup %d", prefix, g)
			if g == 7 {
				name = syncTypeGroup
			}
			body := map[string]any{"schemas": []string{groupURN}, "displayName": name, "externalId": fmt.Sprint(g)}
			if g%2 == 0 {
				body["members"] = members
				e.call("POST", "/Groups", body).must(201)
				return
			}
			gid := e.call("POST", "/Groups", body).must(201).str("id")
			e.call("PATCH", "/Groups/"+gid+"?excludedAttributes=members", patch(op("Add", "members", members))).must(200)
		})
		total := time.Since(start)
		b.StopTimer()
		b.ReportMetric(usersDone.Seconds(), "s-users")
		b.ReportMetric(total.Seconds(), "s-total")
		b.ReportMetric(float64(syncUsers+syncGroups)/total.Seconds(), "resources/s")
		b.Logf("%s: %d users in %v, with %d groups %v (%.0f resources/s)", st.Dialect, syncUsers, usersDone.Round(time.Millisecond),
			syncGroups, total.Round(time.Millisecond), float64(syncUsers+syncGroups)/total.Seconds())
		if g := e.call("GET", "/Groups?filter="+`displayName%20eq%20%22`+"Group%207"+`%22`, nil).must(200); len(g.List("Resources.0.members")) != groupSize {
			b.Fatalf("mapped group: %s", g.Raw)
		}
		r := e.gql.Must(`query($t: ID!) { users(where: {withUserType: $t}) { totalCount } }`, map[string]any{"t": typ})
		if r.Int("users.totalCount") != groupSize {
			b.Fatalf("users of the mapped type: %v", r.Data)
		}
		b.StartTimer()
	}
}

// parallel runs f(0..n-1) with syncInFlight requests in flight.
func parallel(b *testing.B, n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < syncInFlight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || b.Failed() {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkUserNameLookup times an identity provider's lookup of a user by userName
// (answered with the user's groups), one request after another, among 1,000 users.
//
//	go test ./scim -run '^$' -bench UserNameLookup
func BenchmarkUserNameLookup(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { userNameLookup(b, storetest.SQLite(b)) })
	b.Run("mysql", func(b *testing.B) { userNameLookup(b, storetest.MySQL(b)) })
}

func userNameLookup(b *testing.B, st *store.Store) {
	const users, members = 1000, 50
	e := newEnv(b, st)
	ids := make([]string, users)
	parallel(b, users, func(n int) {
		ids[n] = e.call("POST", "/Users", newUser(fmt.Sprintf("user%04d@acme.test", n), nil)).must(201).str("id")
	})
	var group []any
	for _, id := range ids[:members] {
		group = append(group, map[string]any{"value": id})
	}
	e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Claims", "members": group}).must(201)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("user%04d@acme.test", i%members)
		r := e.call("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil).must(200)
		if r.num("totalResults") != 1 || len(r.List("Resources.0.groups")) != 1 {
			b.Fatalf("lookup of %s: %s", name, r.Raw)
		}
	}
}
