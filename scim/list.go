package scim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	filter "github.com/scim2/filter-parser/v2"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/predicate"
	"latchkey/ent/user"
)

// listParams are a query's parameters, from the URL (GET) or a SearchRequest
// (POST /.search).
type listParams struct {
	filter     string
	startIndex int
	count      int
	sortBy     string
	descending bool
	attributes []string
	excluded   []string
}

const defaultCount = 100

func (p *listParams) clamp() {
	if p.startIndex < 1 {
		p.startIndex = 1
	}
	p.count = min(max(p.count, 0), maxResults)
}

// queryParam reads a URL parameter by name, in any case.
func queryParam(q url.Values, name string) (string, bool) {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

func queryList(q url.Values, name string) []string {
	var out []string
	for k, v := range q {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
		}
	}
	return out
}

func listParamsFromQuery(q url.Values) (listParams, error) {
	p := listParams{startIndex: 1, count: defaultCount}
	p.filter, _ = queryParam(q, "filter")
	for _, n := range []struct {
		name string
		dst  *int
	}{{"startIndex", &p.startIndex}, {"count", &p.count}} {
		if s, ok := queryParam(q, n.name); ok && strings.TrimSpace(s) != "" {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return p, invalidValue(n.name, "must be an integer")
			}
			*n.dst = v
		}
	}
	p.sortBy, _ = queryParam(q, "sortBy")
	if order, ok := queryParam(q, "sortOrder"); ok {
		if err := p.setOrder(order); err != nil {
			return p, err
		}
	}
	p.attributes, p.excluded = queryList(q, "attributes"), queryList(q, "excludedAttributes")
	p.clamp()
	return p, nil
}

func (p *listParams) setOrder(order string) error {
	switch strings.ToLower(strings.TrimSpace(order)) {
	case "", "ascending":
		p.descending = false
	case "descending":
		p.descending = true
	default:
		return invalidValue("sortOrder", "must be ascending or descending")
	}
	return nil
}

// listParamsFromSearch reads a SearchRequest body.
func listParamsFromSearch(body []byte) (listParams, error) {
	p := listParams{startIndex: 1, count: defaultCount}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req map[string]any
	if err := dec.Decode(&req); err != nil || req == nil {
		return p, invalidSyntax("the body is not a JSON object")
	}
	hasSchema := false
	for k, v := range req {
		var err error
		switch strings.ToLower(k) {
		case "schemas":
			list, _ := v.([]any)
			hasSchema = slices.ContainsFunc(list, func(s any) bool { str, _ := s.(string); return strings.EqualFold(str, searchURN) })
		case "filter":
			p.filter, err = stringParam(k, v)
		case "sortby":
			p.sortBy, err = stringParam(k, v)
		case "sortorder":
			var s string
			if s, err = stringParam(k, v); err == nil {
				err = p.setOrder(s)
			}
		case "startindex":
			p.startIndex, err = intParam(k, v)
		case "count":
			p.count, err = intParam(k, v)
		case "attributes":
			p.attributes, err = namesParam(k, v)
		case "excludedattributes":
			p.excluded, err = namesParam(k, v)
		}
		if err != nil {
			return p, err
		}
	}
	if !hasSchema {
		return p, invalidSyntax("schemas must be [%q]", searchURN)
	}
	p.clamp()
	return p, nil
}

func stringParam(name string, v any) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalidValue(name, "must be a string")
	}
	return s, nil
}

func intParam(name string, v any) (int, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(max(min(i, 1<<31), -1)), nil
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return i, nil
		}
	}
	return 0, invalidValue(name, "must be an integer")
}

func namesParam(name string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, invalidValue(name, "must list attribute names")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, invalidValue(name, "must list attribute names")
}

// sortColumns are the attributes a list can be sorted by.
var sortColumns = map[*kind]map[string]string{
	userKind: {
		"username": user.FieldUserNameKey, "id": user.FieldID, "externalid": user.FieldExternalID,
		"displayname": user.FieldDisplayName, "name.familyname": user.FieldFamilyName, "name.givenname": user.FieldGivenName,
		"emails": user.FieldEmail, "emails.value": user.FieldEmail, "title": user.FieldTitle, "active": user.FieldActive,
		"meta.created": user.FieldCreatedAt, "meta.lastmodified": user.FieldUpdatedAt,
		"employeenumber": user.FieldEmployeeNumber, "department": user.FieldDepartment,
	},
	groupKind: {
		"displayname": group.FieldName, "id": group.FieldID, "externalid": group.FieldExternalID,
		"meta.created": group.FieldCreatedAt, "meta.lastmodified": group.FieldUpdatedAt,
	},
}

// order is a stable ORDER BY: the sortBy attribute (by default none: creation
// order), then the id.
func order(k *kind, p listParams) (func(*sql.Selector), error) {
	col := "id"
	if s := strings.TrimSpace(p.sortBy); s != "" {
		ap, err := filter.ParseAttrPath([]byte(s))
		if err != nil {
			return nil, invalidValue("sortBy", "%q is not an attribute", s)
		}
		tr := translator{k: k}
		key, err := tr.key(ap)
		if err != nil {
			return nil, invalidValue("sortBy", "%q is not an attribute", s)
		}
		c, ok := sortColumns[k][key]
		if !ok {
			return nil, invalidValue("sortBy", "cannot sort by %q", s)
		}
		col = c
	}
	return func(s *sql.Selector) {
		dir := sql.Asc
		if p.descending {
			dir = sql.Desc
		}
		s.OrderBy(dir(s.C(col)))
		if col != "id" {
			s.OrderBy(sql.Asc(s.C("id")))
		}
	}, nil
}

// pageAndTotal reads the page p asks for and the total it is a page of. A page that
// starts the list, or is not empty, and holds fewer than p.count resources ends it,
// so the total follows and is not counted: an IdP's lookup of one user by userName
// is then one statement instead of two.
func pageAndTotal[T any](ctx context.Context, p listParams, count func(context.Context) (int, error), page func() ([]T, error)) ([]T, int, error) {
	if p.count <= 0 {
		n, err := count(ctx)
		return nil, n, err
	}
	rows, err := page()
	if err != nil {
		return nil, 0, err
	}
	if len(rows) < p.count && (len(rows) > 0 || p.startIndex <= 1) {
		return rows, p.startIndex - 1 + len(rows), nil
	}
	n, err := count(ctx)
	return rows, n, err
}

// groupsColumn holds, in a row of a users query, the user's groups as a JSON array
// of {"id", "name"}. Identity providers look a user up by userName before every
// change they make; ent's eager loading would read the groups in a statement of its
// own, a round trip more to a MySQL server for every lookup. The group must be the
// user's account's, as the privacy rules that loading would apply demand.
const groupsColumn = "scim_groups"

func selectGroups(s *sql.Selector) {
	agg := "json_group_array(json_object('id', g.id, 'name', g.name))"
	if s.Dialect() == dialect.MySQL {
		agg = "JSON_ARRAYAGG(JSON_OBJECT('id', g.id, 'name', g.name))"
	}
	s.AppendSelectExprAs(sql.Raw("(SELECT "+agg+" FROM `group_users` gu JOIN `groups` g ON g.id = gu.group_id"+
		" WHERE gu.user_id = "+s.C(user.FieldID)+" AND g.account_id = "+s.C(user.FieldAccountID)+")"), groupsColumn)
}

// selectedGroups reads the groups selectGroups selected with u, ordered by id.
func selectedGroups(u *gen.User) ([]*gen.Group, error) {
	v, err := u.Value(groupsColumn)
	if err != nil {
		return nil, err
	}
	var raw []byte
	switch v := v.(type) {
	case nil: // MySQL aggregates no rows to NULL
		return nil, nil
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		return nil, fmt.Errorf("scim: a user's groups came as %T", v)
	}
	var groups []*gen.Group
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("scim: reading a user's groups: %w", err)
	}
	slices.SortFunc(groups, func(a, b *gen.Group) int { return cmp.Compare(a.ID, b.ID) })
	return groups, nil
}

// list runs a query: the filter as SQL, totalResults counted, one page read in a
// stable order.
func (rq *request) list(ctx context.Context, k *kind, p listParams) (map[string]any, error) {
	t, err := translateFilter(k, p.filter)
	if err != nil {
		return nil, err
	}
	ord, err := order(k, p)
	if err != nil {
		return nil, err
	}
	proj := newProjection(k, p.attributes, p.excluded)
	resources := []any{}
	var total int
	where := t.selectorFunc()
	if k == userKind {
		q := rq.c.User.Query().Where(predicate.User(where))
		users, n, err := pageAndTotal(ctx, p, q.Clone().Count, func() ([]*gen.User, error) {
			q.Order(ord).Offset(p.startIndex - 1).Limit(p.count)
			if proj.wants(k, "groups") {
				q.Modify(selectGroups)
			}
			return q.All(ctx)
		})
		if err != nil {
			return nil, err
		}
		total = n
		for _, u := range users {
			var groups []*gen.Group
			if proj.wants(k, "groups") {
				if groups, err = selectedGroups(u); err != nil {
					return nil, err
				}
			}
			resources = append(resources, userResource(rq.base, u, groups).render(rq.base, k, proj))
		}
	} else {
		q := rq.c.Group.Query().Where(predicate.Group(where))
		groups, n, err := pageAndTotal(ctx, p, q.Clone().Count, func() ([]*gen.Group, error) {
			q.Order(ord).Offset(p.startIndex - 1).Limit(p.count)
			if proj.wants(k, "members") {
				q.WithUsers(memberQuery)
			}
			return q.All(ctx)
		})
		if err != nil {
			return nil, err
		}
		total = n
		for _, g := range groups {
			resources = append(resources, groupResource(rq.base, g, g.Edges.Users).render(rq.base, k, proj))
		}
	}
	return map[string]any{
		"schemas":      []string{listURN},
		"totalResults": total,
		"itemsPerPage": len(resources),
		"startIndex":   p.startIndex,
		"Resources":    resources,
	}, nil
}
