package scim

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	filter "github.com/scim2/filter-parser/v2"

	"latchkey/graph/relayid"
)

// whereSQL renders a filter's translation as the WHERE clause a query gets.
func whereSQL(t testing.TB, d string, k *kind, filter string) (string, []any, error) {
	term, err := translateFilter(k, filter)
	if err != nil {
		return "", nil, err
	}
	table := "users"
	if k == groupKind {
		table = "groups"
	}
	sel := sql.Dialect(d).Select("*").From(sql.Table(table))
	term.selectorFunc()(sel)
	q, args := sel.Query()
	_, where, _ := strings.Cut(q, " WHERE ")
	return where, args, nil
}

// TestFilterSQL is the filter → SQL translation, table by table.
func TestFilterSQL(t *testing.T) {
	id := relayid.Encode(42)
	for _, tc := range []struct {
		k      *kind
		filter string
		sqlite string
		args   []any
	}{
		{userKind, `userName eq "Jane@Acme.test"`, "`users`.`user_name_key` = ?", []any{"jane@acme.test"}},
		{userKind, `userName ne "jane"`, "NOT (`users`.`user_name_key` = ?)", []any{"jane"}},
		{userKind, `userName sw "J"`, "`users`.`user_name_key` LIKE ? ESCAPE '\\' AND substr(`users`.`user_name_key`, 1, ?) = ?", []any{"j%", 1, "j"}},
		{userKind, `userName co "a_%"`, "`users`.`user_name_key` LIKE ? ESCAPE '\\' AND instr(`users`.`user_name_key`, ?) > 0", []any{`%a\_\%%`, "a_%"}},
		{userKind, `userName ew "x"`, "`users`.`user_name_key` LIKE ? ESCAPE '\\' AND substr(`users`.`user_name_key`, ?) = ?", []any{"%x", -1, "x"}},
		{userKind, `userName gt "m"`, "`users`.`user_name_key` > ?", []any{"m"}},
		{userKind, `userName pr`, "`users`.`user_name_key` IS NOT NULL AND `users`.`user_name_key` <> ?", []any{""}},
		{userKind, `externalId eq "E1"`, "`users`.`external_id` IS NOT NULL AND `users`.`external_id` = ?", []any{"E1"}},
		{userKind, `displayName eq "Jane"`, "`users`.`display_name` IS NOT NULL AND LOWER(`users`.`display_name`) = ?", []any{"jane"}},
		{userKind, `emails.value eq "J@x.test"`, "LOWER(`users`.`email`) = ?", []any{"j@x.test"}},
		{userKind, `emails[type eq "work"].value eq "j@x.test"`, "((`users`.`email` IS NOT NULL AND `users`.`email` <> ?) AND (`users`.`email` IS NOT NULL AND `users`.`email` <> ?)) AND LOWER(`users`.`email`) = ?", []any{"", "", "j@x.test"}},
		{userKind, `emails[type eq "home"]`, "FALSE", nil},
		{userKind, `active eq "False"`, "NOT `users`.`active`", nil},
		{userKind, `active ne true`, "NOT `users`.`active`", nil},
		{userKind, `id eq "` + id + `"`, "`users`.`id` = ?", []any{42}},
		{userKind, `id eq "garbage"`, "FALSE", nil},
		{userKind, `not (id eq "garbage")`, "", nil},
		{userKind, `manager.value eq "` + id + `"`, "`users`.`manager_id` = ?", []any{42}},
		{userKind, `userName eq "a" and (active eq true or title pr)`, "`users`.`user_name_key` = ? AND (`users`.`active` OR (`users`.`title` IS NOT NULL AND `users`.`title` <> ?))", []any{"a", ""}},
		{userKind, `not (userName eq "a" or userName eq "b")`, "NOT (`users`.`user_name_key` = ? OR `users`.`user_name_key` = ?)", []any{"a", "b"}},
		{userKind, enterpriseURN + `:department eq "Claims"`, "`users`.`department` IS NOT NULL AND LOWER(`users`.`department`) = ?", []any{"claims"}},
		{groupKind, `displayName eq "Claims Adjusters"`, "LOWER(`groups`.`name`) = ?", []any{"claims adjusters"}},
		{groupKind, `members eq "` + id + `"`, "EXISTS (SELECT `group_users`.`user_id` FROM `group_users` WHERE `group_users`.`group_id` = `groups`.`id` AND `group_users`.`user_id` = ?)", []any{42}},
	} {
		where, args, err := whereSQL(t, dialect.SQLite, tc.k, tc.filter)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		if where != tc.sqlite || fmt.Sprint(args) != fmt.Sprint(tc.args) {
			t.Errorf("%s:\n got  %s %v\n want %s %v", tc.filter, where, args, tc.sqlite, tc.args)
		}
	}

	// On MySQL, tables compare byte-wise, so LIKE alone is exact.
	where, args, err := whereSQL(t, dialect.MySQL, userKind, `externalId sw "Ab"`)
	if err != nil || where != "`users`.`external_id` IS NOT NULL AND `users`.`external_id` LIKE ?" || fmt.Sprint(args) != "[Ab%]" {
		t.Errorf("mysql sw: %s %v %v", where, args, err)
	}

	for _, bad := range []string{`nickName eq "x"`, `userName eq 1`, `active co "t"`, `meta.created gt "soon"`,
		`emails[value eq "x"].type[primary eq true]`, `urn:x:y:z eq "1"`, `userName eq`, strings.Repeat("(", 5000)} {
		if _, _, err := whereSQL(t, dialect.SQLite, userKind, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestNormaliseFilter: the forms the grammar lacks are rewritten to ones it has.
func TestNormaliseFilter(t *testing.T) {
	for in, want := range map[string]string{
		`emails[type eq "work"].value eq "a]b"`:                   `emails[type eq "work"] and emails.value eq "a]b"`,
		`userName eq "x[y].z" or emails[type eq "work"].value pr`: `userName eq "x[y].z" or emails[type eq "work"] and emails.value pr`,
		`members[value eq "1"]`:                                   `members[value eq "1"]`,
		`not (phoneNumbers[type eq "work"].value sw "+1")`:        `not (phoneNumbers[type eq "work"] and phoneNumbers.value sw "+1")`,
	} {
		if got := normaliseFilter(in); got != want {
			t.Errorf("%s:\n got  %s\n want %s", in, got, want)
		}
	}
}

// FuzzFilter: any filter text translates (or is refused) without panicking, and
// what translates renders as SQL on both dialects.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work"].value co "x"`, `not (active eq true) or id pr`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `members[value eq "x" or value eq "y"]`, `((a eq 1`, `x[y[z]]`, `"\"`, `emails[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []*kind{userKind, groupKind} {
			for _, d := range []string{dialect.SQLite, dialect.MySQL} {
				_, _, _ = whereSQL(t, d, k, s)
			}
		}
		_ = normaliseFilter(s)
	})
}

// TestSimpleComparisonIsTheParsers: wherever the fast path takes a filter, it gives
// what the library's parser gives; it takes the lookups IdPs send, and leaves
// everything unusual to the parser.
func TestSimpleComparisonIsTheParsers(t *testing.T) {
	takes := []string{
		`userName eq "jane@acme.test"`, `userName EQ "Jane"`, `externalId eq "00u1a2b3c4"`, `emails.value co "@acme"`,
		`name.familyName sw "O'Brien"`, `displayName eq ""`, `x-y_1 ne "a b"`, `meta.lastModified gt "2026-01-01T00:00:00Z"`,
		`userName eq "a[b] and c or d"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "42"`,
	}
	leaves := []string{
		`userName eq "a\"b"`, `userName eq "a\\b"`, `userName  eq "x"`, `userName eq  "x"`, `userName eq x`, `active eq true`,
		`userName pr`, `userName eq "é"`, `a.b.c eq "x"`, `1name eq "x"`, `urn:example:other:userName eq "x"`,
		`userName xx "x"`, `userName eq "x" and active eq true`, `emails[type eq "work"]`, `userName eq "x"y"`, `.a eq "x"`, `a. eq "x"`,
		`userName eq "tab	here"`, `not (userName eq "x")`,
	}
	for _, raw := range takes {
		got, ok := simpleComparison(raw)
		if !ok {
			t.Errorf("%s: not taken", raw)
			continue
		}
		want, err := filter.ParseFilter([]byte(raw))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast path %#v, parser %#v (%v)", raw, got, want, err)
		}
	}
	for _, raw := range leaves {
		if got, ok := simpleComparison(raw); ok {
			t.Errorf("%s: taken as %#v", raw, got)
		}
	}
	// Any filter the fast path takes, the parser reads the same: random filters made
	// of near-valid parts.
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	taken := 0
	for range 20000 {
		path := pick("aZ09-_.", 1+rng.IntN(8))
		if rng.IntN(4) == 0 {
			path = []string{"urn:ietf:params:scim:schemas:core:2.0:User:", "urn:x:", "urn:ietf:params:scim:schemas:core:2.0:Group:"}[rng.IntN(3)] + path
		}
		op := []string{"eq", "EQ", "Ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "pr", "xx", "e"}[rng.IntN(13)]
		value := `"` + pick("ab @.'[]()\\\"\t", rng.IntN(8)) + `"`
		if rng.IntN(8) == 0 {
			value = pick(`"truefalsnul0123`, 1+rng.IntN(5))
		}
		raw := path + pick(" ", 1+rng.IntN(2)/2) + op + pick(" ", 1+rng.IntN(2)/2) + value
		got, ok := simpleComparison(raw)
		if !ok {
			continue
		}
		taken++
		want, err := filter.ParseFilter([]byte(raw))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast path %#v, parser %#v (%v)", raw, got, want, err)
		}
	}
	t.Logf("taken %d", taken)
	if taken == 0 {
		t.Fatal("no random filter was taken: the comparison checked nothing")
	}
}
