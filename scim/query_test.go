package scim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestFilters runs filters through the HTTP handler on both stores: every operator,
// and/or/not, case-insensitive userName, value paths and the forms IdPs send.
func TestFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		before := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		ids := map[string]string{}
		for _, u := range []struct {
			name, email, ext, display, title string
			active                           bool
		}{
			{"Alice@acme.test", "alice@acme.test", "EXT-1", "Alice Smith", "Adjuster", true},
			{"bob@acme.test", "bob@other.test", "ext-2", "Bob", "", true},
			{"carol", "carol@acme.test", "", "", "Manager", false},
			{"dave_1%", "dave@acme.test", "x", "Dave", "", true},
		} {
			body := newUser(u.name, map[string]any{
				"emails": []any{map[string]any{"value": u.email, "type": "work", "primary": true}},
				"active": u.active,
			})
			if u.ext != "" {
				body["externalId"] = u.ext
			}
			if u.display != "" {
				body["displayName"] = u.display
			}
			if u.title != "" {
				body["title"] = u.title
			}
			ids[u.name] = e.call("POST", "/Users", body).must(201).str("id")
		}
		admin := "admin@acme.test"
		all := []string{"Alice@acme.test", "bob@acme.test", "carol", "dave_1%", admin}

		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{`userName eq "alice@ACME.test"`, []string{"Alice@acme.test"}},
			{`USERNAME Eq "BOB@acme.test"`, []string{"bob@acme.test"}},
			{`userName ne "carol"`, []string{"Alice@acme.test", "bob@acme.test", "dave_1%", admin}},
			{`userName co "ACME"`, []string{"Alice@acme.test", "bob@acme.test", admin}},
			{`userName sw "A"`, []string{"Alice@acme.test", admin}},
			{`userName ew ".TEST"`, []string{"Alice@acme.test", "bob@acme.test", admin}},
			{`userName co "_1%"`, []string{"dave_1%"}}, // LIKE wildcards are literal
			{`userName co "e_1"`, []string{"dave_1%"}},
			{`userName gt "c"`, []string{"carol", "dave_1%"}},
			{`userName ge "carol"`, []string{"carol", "dave_1%"}},
			{`userName lt "b"`, []string{"Alice@acme.test", admin}},
			{`userName le "bob@acme.test"`, []string{"Alice@acme.test", "bob@acme.test", admin}},
			{`userName pr`, all},
			{`externalId eq "EXT-1"`, []string{"Alice@acme.test"}},
			{`externalId eq "ext-1"`, nil}, // externalId is case-exact
			{`externalId co "XT"`, []string{"Alice@acme.test"}},
			{`externalId sw "ext"`, []string{"bob@acme.test"}},
			{`externalId pr`, []string{"Alice@acme.test", "bob@acme.test", "dave_1%"}},
			{`not (externalId pr)`, []string{"carol", admin}},
			{`externalId eq null`, []string{"carol", admin}},
			{`id eq "` + ids["carol"] + `"`, []string{"carol"}},
			{`id ne "` + ids["carol"] + `"`, []string{"Alice@acme.test", "bob@acme.test", "dave_1%", admin}},
			{`id eq "not-an-id"`, nil},
			{`emails.value co "@other"`, []string{"bob@acme.test"}},
			{`emails co "OTHER"`, []string{"bob@acme.test"}},
			{`emails[type eq "work"].value eq "BOB@other.test"`, []string{"bob@acme.test"}},
			{`emails[type eq "work" and value sw "carol"]`, []string{"carol"}},
			{`emails[type eq "home"].value eq "bob@other.test"`, nil},
			{`emails[primary eq true].value ew "acme.test"`, []string{"Alice@acme.test", "carol", "dave_1%", admin}},
			{`displayName eq "alice smith"`, []string{"Alice@acme.test"}},
			{`displayName ne "Bob"`, []string{"Alice@acme.test", "carol", "dave_1%", admin}}, // absent counts as not equal
			{`not (displayName eq "Bob")`, []string{"Alice@acme.test", "carol", "dave_1%", admin}},
			{`displayName pr`, []string{"Alice@acme.test", "bob@acme.test", "dave_1%"}},
			{`title eq "adjuster" or title eq "MANAGER"`, []string{"Alice@acme.test", "carol"}},
			{`active eq false`, []string{"carol"}},
			{`active eq "True" and userName sw "b"`, []string{"bob@acme.test"}},
			{`active ne true`, []string{"carol"}},
			{`meta.lastModified gt "` + before + `"`, all},
			{`meta.lastModified lt "` + before + `"`, nil},
			{`meta.created ge "` + before + `" and not (userName eq "carol")`, []string{"Alice@acme.test", "bob@acme.test", "dave_1%", admin}},
			{`(userName sw "a" or userName sw "b") and active eq true`, []string{"Alice@acme.test", "bob@acme.test", admin}},
			{`userName sw "a" or (userName sw "b" and emails co "acme")`, []string{"Alice@acme.test", admin}},
			{`not (userName sw "a" or userName sw "b")`, []string{"carol", "dave_1%"}},
			{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "carol"`, []string{"carol"}},
		} {
			for _, via := range []string{"GET", "search"} {
				var r *resp
				if via == "GET" {
					r = e.call("GET", "/Users?count=100&filter="+url.QueryEscape(tc.filter), nil)
				} else {
					r = e.call("POST", "/Users/.search", map[string]any{
						"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": tc.filter, "count": 100})
				}
				if r.Status != 200 {
					t.Fatalf("%s %s: %d %s", via, tc.filter, r.Status, r.Raw)
				}
				got := r.values("Resources", "userName")
				if !sameStrings(got, tc.want) || r.num("totalResults") != len(tc.want) || r.num("itemsPerPage") != len(tc.want) {
					t.Errorf("%s %s: got %v (total %d), want %v", via, tc.filter, got, r.num("totalResults"), tc.want)
				}
			}
		}

		// Groups: displayName case-insensitively, externalId, members.
		g1 := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Claims Team", "externalId": "G-1",
			"members": []any{map[string]any{"value": ids["carol"]}}}).must(201).str("id")
		e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Billing"}).must(201)
		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{`displayName eq "claims TEAM"`, []string{"Claims Team"}},
			{`displayName sw "b"`, []string{"Billing"}},
			{`externalId eq "G-1"`, []string{"Claims Team"}},
			{`members eq "` + ids["carol"] + `"`, []string{"Claims Team"}},
			{`members[value eq "` + ids["carol"] + `"]`, []string{"Claims Team"}},
			{`id eq "` + g1 + `" and members.value eq "` + ids["bob@acme.test"] + `"`, nil},
			{`not (members pr)`, []string{"Billing"}},
		} {
			r := e.call("GET", "/Groups?excludedAttributes=members&filter="+url.QueryEscape(tc.filter), nil).must(200)
			if got := r.values("Resources", "displayName"); !sameStrings(got, tc.want) {
				t.Errorf("groups %s: got %v, want %v", tc.filter, got, tc.want)
			}
		}

		// Filters that cannot be run are refused, never ignored.
		for _, bad := range []string{`userName eq`, `nickName eq "x"`, `userName xx "y"`, `active gt true`,
			`meta.lastModified gt "yesterday"`, `userName eq 3`, `urn:example:foo:bar eq "x"`, `(userName eq "a"`} {
			e.call("GET", "/Users?filter="+url.QueryEscape(bad), nil).fails(400, "invalidFilter")
		}
	})
}

// TestPaginationSortingAttributes: startIndex/count with a stable order and correct
// itemsPerPage, sortBy/sortOrder, attributes/excludedAttributes.
func TestPaginationSortingAttributes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		names := []string{"u3", "U1", "u5", "u2", "u4", "u6", "u7"}
		var uids []any
		for _, n := range names {
			uids = append(uids, map[string]any{"value": e.call("POST", "/Users", newUser(n+"@acme.test", nil)).must(201).str("id")})
		}
		filter := "&filter=" + url.QueryEscape(`userName sw "u"`)
		// Pages in creation order (the default), covering everyone once.
		var seen []string
		for start := 1; start <= 7; start += 3 {
			r := e.call("GET", "/Users?count=3&startIndex="+itoa(start)+filter, nil).must(200)
			want := min(3, 7-start+1)
			if r.num("itemsPerPage") != want || r.num("totalResults") != 7 || r.num("startIndex") != start {
				t.Fatalf("page at %d: %s", start, r.Raw)
			}
			seen = append(seen, r.values("Resources", "userName")...)
		}
		if strings.Join(seen, ",") != "u3@acme.test,U1@acme.test,u5@acme.test,u2@acme.test,u4@acme.test,u6@acme.test,u7@acme.test" {
			t.Fatalf("pages: %v", seen)
		}
		// A last page shorter than count: its total is not counted but follows from it.
		for _, tc := range []struct{ start, items int }{{1, 7}, {5, 3}} {
			r := e.call("GET", "/Users?count=10&startIndex="+itoa(tc.start)+filter, nil).must(200)
			if r.num("itemsPerPage") != tc.items || r.num("totalResults") != 7 || r.num("startIndex") != tc.start {
				t.Fatalf("last page at %d: %s", tc.start, r.Raw)
			}
		}
		// Past the end, and count=0: only the total.
		for _, q := range []string{"?startIndex=50", "?count=0"} {
			r := e.call("GET", "/Users"+q+filter, nil).must(200)
			if r.num("itemsPerPage") != 0 || r.num("totalResults") != 7 || len(r.List("Resources")) != 0 {
				t.Fatalf("%s: %s", q, r.Raw)
			}
		}
		// Sorted by userName (case-insensitively), both ways; parameters in any case.
		r := e.call("GET", "/Users?sortby=userName&SortOrder=descending&count=2"+filter, nil).must(200)
		if got := r.values("Resources", "userName"); strings.Join(got, ",") != "u7@acme.test,u6@acme.test" {
			t.Fatalf("descending: %v", got)
		}
		r = e.call("POST", "/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
			"sortBy": "userName", "startIndex": 2, "count": 2, "filter": `userName sw "u"`}).must(200)
		if got := r.values("Resources", "userName"); strings.Join(got, ",") != "u2@acme.test,u3@acme.test" {
			t.Fatalf("search page: %v", got)
		}
		e.call("GET", "/Users?sortBy=password", nil).fails(400, "invalidValue")
		e.call("GET", "/Users?sortOrder=sideways", nil).fails(400, "invalidValue")
		e.call("GET", "/Users?count=many", nil).fails(400, "invalidValue")

		// attributes: only those (and id, schemas); excludedAttributes: all but those.
		r = e.call("GET", "/Users?attributes=userName,name.familyName&count=1"+filter, nil).must(200)
		res := r.Get("Resources.0").(map[string]any)
		if len(res) != 4 || res["userName"] == nil || r.str("Resources.0.name.familyName") != "Family" || r.Get("Resources.0.name.givenName") != nil {
			t.Fatalf("attributes: %s", r.Raw)
		}
		r = e.call("GET", "/Users?excludedAttributes=emails,name&count=1"+filter, nil).must(200)
		if r.Get("Resources.0.emails") != nil || r.Get("Resources.0.name") != nil || r.Get("Resources.0.userName") == nil || r.Get("Resources.0.meta") == nil {
			t.Fatalf("excludedAttributes: %s", r.Raw)
		}

		// Entra reads groups without their members.
		gid := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Everyone", "members": uids}).must(201).str("id")
		for _, path := range []string{"/Groups?excludedAttributes=members", "/Groups/" + gid + "?excludedAttributes=members"} {
			r := e.call("GET", path, nil).must(200)
			if strings.Contains(string(r.Raw), `"members"`) || !strings.Contains(string(r.Raw), `"Everyone"`) {
				t.Fatalf("%s: %s", path, r.Raw)
			}
		}
		r = e.call("GET", "/Groups/"+gid, nil).must(200)
		if len(r.List("members")) != 7 {
			t.Fatalf("members: %s", r.Raw)
		}
		r = e.call("GET", "/Groups?attributes=displayName", nil).must(200)
		if r.Get("Resources.0.members") != nil || r.Get("Resources.0.meta") != nil || r.str("Resources.0.displayName") != "Everyone" {
			t.Fatalf("attributes=displayName: %s", r.Raw)
		}
		// The extension selected by its URN.
		r = e.call("GET", "/Users?attributes="+url.QueryEscape(enterpriseURN+":department")+"&count=1", nil).must(200)
		if r.Get("Resources.0.userName") != nil {
			t.Fatalf("extension attribute: %s", r.Raw)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestListedGroups: a listed user carries its groups (read with the user, in one
// statement) exactly as GET /Users/{id} gives them — none, one, several in id
// order — on both stores, whatever the filter, and without them when excluded.
func TestListedGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ids := map[string]string{}
		for _, name := range []string{"none@acme.test", "one@acme.test", "three@acme.test"} {
			ids[name] = e.call("POST", "/Users", newUser(name, nil)).must(201).str("id")
		}
		member := func(names ...string) []any {
			var out []any
			for _, n := range names {
				out = append(out, map[string]any{"value": ids[n]})
			}
			return out
		}
		// Created in an order other than their names', with a name that needs
		// escaping in JSON.
		for _, g := range []struct {
			name    string
			members []string
		}{
			{"Zeta", []string{"three@acme.test"}},
			{`Claims "West" \ Team`, []string{"one@acme.test", "three@acme.test"}},
			{"Alpha", []string{"three@acme.test"}},
		} {
			e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": g.name, "members": member(g.members...)}).must(201)
		}
		for name, want := range map[string][]string{
			"none@acme.test":  nil,
			"one@acme.test":   {`Claims "West" \ Team`},
			"three@acme.test": {"Zeta", `Claims "West" \ Team`, "Alpha"},
		} {
			single := e.call("GET", "/Users/"+ids[name], nil).must(200)
			if got := single.values("groups", "display"); !slices.Equal(got, want) {
				t.Errorf("GET /Users/{id} of %s: groups %q, want %q", name, got, want)
			}
			for _, filter := range []string{`userName eq "` + name + `"`, `userName sw "` + name[:3] + `"`} {
				list := e.call("GET", "/Users?filter="+url.QueryEscape(filter), nil).must(200)
				if list.num("totalResults") != 1 {
					t.Fatalf("%s: %d results", filter, list.num("totalResults"))
				}
				if got, want := list.Get("Resources.0.groups"), single.Get("groups"); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: listed groups %v, read alone %v", filter, got, want)
				}
			}
			excluded := e.call("GET", "/Users?excludedAttributes=groups&filter="+url.QueryEscape(`userName eq "`+name+`"`), nil).must(200)
			if excluded.Get("Resources.0.groups") != nil || excluded.str("Resources.0.userName") != name {
				t.Errorf("%s with groups excluded: %v", name, excluded.Get("Resources.0"))
			}
		}
	})
}

// TestReadsDoNotWaitForWriters: SCIM reads run outside any transaction, so a lookup
// is answered while another transaction holds SQLite's write lock (a writing
// transaction takes it at BEGIN, and would wait for it up to the busy timeout).
func TestReadsDoNotWaitForWriters(t *testing.T) {
	st := storetest.SQLite(t)
	e := newEnv(t, st)
	e.call("POST", "/Users", newUser("ann@acme.test", nil)).must(201)
	writer, err := st.Client.Tx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback()
	done := make(chan *resp, 2)
	go func() { done <- e.call("GET", "/Users?filter="+url.QueryEscape(`userName eq "ann@acme.test"`), nil) }()
	go func() {
		done <- e.call("POST", "/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": `userName eq "ann@acme.test"`})
	}()
	for range 2 {
		select {
		case r := <-done:
			if r.Status != http.StatusOK || r.Body["totalResults"] != json.Number("1") {
				t.Errorf("lookup beside a writer: %d %s", r.Status, r.Raw)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a SCIM read waited for another transaction's write lock")
		}
	}
}
