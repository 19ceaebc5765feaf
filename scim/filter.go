package scim

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	filter "github.com/scim2/filter-parser/v2"

	"latchkey/ent/group"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
)

// Filters are translated to SQL (ent predicates); nothing is ever filtered in
// memory. Each supported attribute maps to a column; comparison follows the
// attribute's case sensitivity (userName through its lower-cased key column, so
// that equality stays on the unique index).

type fieldKind int

const (
	fFold  fieldKind = iota // a string compared case-insensitively
	fExact                  // a string compared exactly
	fKey                    // a lower-cased key column: compared with the lower-cased value
	fBool
	fTime
	fID     // an id column, compared with a SCIM id
	fConst  // a fixed value, present when the column presence is not empty
	fMember // a group's member, by user id
)

type field struct {
	kind     fieldKind
	col      string
	nullable bool
	value    any    // fConst: the value
	presence string // fConst: the column whose value makes the attribute present
}

var userFilterFields = map[string]field{
	"username":             {kind: fKey, col: user.FieldUserNameKey},
	"id":                   {kind: fID, col: user.FieldID},
	"externalid":           {kind: fExact, col: user.FieldExternalID, nullable: true},
	"displayname":          {kind: fFold, col: user.FieldDisplayName, nullable: true},
	"emails":               {kind: fFold, col: user.FieldEmail},
	"emails.value":         {kind: fFold, col: user.FieldEmail},
	"emails.type":          {kind: fConst, value: "work", presence: user.FieldEmail},
	"emails.primary":       {kind: fConst, value: true, presence: user.FieldEmail},
	"phonenumbers":         {kind: fFold, col: user.FieldPhone, nullable: true},
	"phonenumbers.value":   {kind: fFold, col: user.FieldPhone, nullable: true},
	"phonenumbers.type":    {kind: fConst, value: "work", presence: user.FieldPhone},
	"phonenumbers.primary": {kind: fConst, value: true, presence: user.FieldPhone},
	"name.givenname":       {kind: fFold, col: user.FieldGivenName, nullable: true},
	"name.familyname":      {kind: fFold, col: user.FieldFamilyName, nullable: true},
	"title":                {kind: fFold, col: user.FieldTitle, nullable: true},
	"locale":               {kind: fFold, col: user.FieldLocale, nullable: true},
	"active":               {kind: fBool, col: user.FieldActive},
	"meta.created":         {kind: fTime, col: user.FieldCreatedAt},
	"meta.lastmodified":    {kind: fTime, col: user.FieldUpdatedAt},
	"employeenumber":       {kind: fFold, col: user.FieldEmployeeNumber, nullable: true},
	"department":           {kind: fFold, col: user.FieldDepartment, nullable: true},
	"manager":              {kind: fID, col: user.FieldManagerID, nullable: true},
	"manager.value":        {kind: fID, col: user.FieldManagerID, nullable: true},
}

var groupFilterFields = map[string]field{
	"displayname":       {kind: fFold, col: group.FieldName},
	"id":                {kind: fID, col: group.FieldID},
	"externalid":        {kind: fExact, col: group.FieldExternalID, nullable: true},
	"meta.created":      {kind: fTime, col: group.FieldCreatedAt},
	"meta.lastmodified": {kind: fTime, col: group.FieldUpdatedAt},
	"members":           {kind: fMember},
	"members.value":     {kind: fMember},
}

func filterFields(k *kind) map[string]field {
	if k == groupKind {
		return groupFilterFields
	}
	return userFilterFields
}

// term is a translated filter: a constant, or a predicate built on the query's
// selector.
type term struct {
	constant *bool
	build    func(s *sql.Selector) *sql.Predicate
}

var (
	yes, no      = true, false
	always       = term{constant: &yes}
	never        = term{constant: &no}
	errNoFilter  = fmt.Errorf("no filter")
	maxFilterLen = 4096
)

func pred(b func(s *sql.Selector) *sql.Predicate) term { return term{build: b} }

func and(a, b term) term {
	switch {
	case a.constant != nil && !*a.constant, b.constant != nil && !*b.constant:
		return never
	case a.constant != nil:
		return b
	case b.constant != nil:
		return a
	}
	return pred(func(s *sql.Selector) *sql.Predicate { return sql.And(a.build(s), b.build(s)) })
}

func or(a, b term) term {
	switch {
	case a.constant != nil && *a.constant, b.constant != nil && *b.constant:
		return always
	case a.constant != nil:
		return b
	case b.constant != nil:
		return a
	}
	return pred(func(s *sql.Selector) *sql.Predicate { return sql.Or(a.build(s), b.build(s)) })
}

func not(a term) term {
	if a.constant != nil {
		if *a.constant {
			return never
		}
		return always
	}
	return pred(func(s *sql.Selector) *sql.Predicate { return sql.Not(a.build(s)) })
}

// selectorFunc is the predicate a term becomes: predicate.User or predicate.Group.
func (t term) selectorFunc() func(*sql.Selector) {
	switch {
	case t.constant == nil:
		return func(s *sql.Selector) { s.Where(t.build(s)) }
	case *t.constant:
		return func(*sql.Selector) {}
	default:
		return func(s *sql.Selector) { s.Where(sql.False()) }
	}
}

// parseFilter parses a SCIM filter after normalising the forms identity providers
// send that the grammar does not take: a sub-attribute after a value path
// (emails[type eq "work"].value eq "x"). The parser must never take the server down.
func parseFilter(raw string) (e filter.Expression, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errNoFilter
	}
	if len(raw) > maxFilterLen {
		return nil, invalidFilter("the filter is longer than %d characters", maxFilterLen)
	}
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, invalidFilter("the filter could not be parsed")
		}
	}()
	raw = normaliseFilter(raw)
	if e, ok := simpleComparison(raw); ok {
		return e, nil
	}
	e, err = filter.ParseFilter([]byte(raw))
	if err != nil {
		return nil, invalidFilter("the filter could not be parsed: %v", err)
	}
	return e, nil
}

// simpleComparison parses the filter IdPs send on every lookup — one attribute
// path compared with a plain string, as in userName eq "jane@acme.test" — to what
// filter.ParseFilter gives for it, and reports false for anything else, which goes
// to the parser. The parser backtracks through the whole grammar and took a fifth of
// such a lookup's time at 100k users. Only unambiguous text qualifies: one space
// between the parts, a path simplePath reads, and a value of printable ASCII
// without escapes.
func simpleComparison(raw string) (filter.Expression, bool) {
	path, rest, ok := strings.Cut(raw, " ")
	if !ok {
		return nil, false
	}
	op, value, ok := strings.Cut(rest, " ")
	if !ok || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return nil, false
	}
	value = value[1 : len(value)-1]
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, false
		}
	}
	op = strings.ToLower(op)
	switch filter.CompareOperator(op) {
	case filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.LT, filter.GE, filter.LE:
	default:
		return nil, false
	}
	p, ok := simplePath(path)
	if !ok {
		return nil, false
	}
	return &filter.AttributeExpression{AttributePath: p.AttributePath, Operator: filter.CompareOperator(op), CompareValue: value}, true
}

// normaliseFilter rewrites "attr[F].sub op value" as "attr[F] and attr.sub op
// value", which the grammar accepts. Latchkey keeps one value of each multi-valued
// attribute, so both conditions are about the same value and the meaning is the
// same; "and" binds tighter than "or", so the rewrite is safe inside any filter.
func normaliseFilter(s string) string {
	var out strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '"' {
			j := skipString(s, i)
			out.WriteString(s[i:j])
			i = j
			continue
		}
		if c != '[' {
			out.WriteByte(c)
			i++
			continue
		}
		// A value path: find its closing bracket, outside strings.
		end := i + 1
		for end < len(s) && s[end] != ']' {
			if s[end] == '"' {
				end = skipString(s, end)
				continue
			}
			end++
		}
		if end >= len(s) || end+1 >= len(s) || s[end+1] != '.' {
			out.WriteString(s[i:min(end+1, len(s))])
			i = end + 1
			continue
		}
		// "].sub op value": read the sub-attribute, the operator and the value.
		j := end + 2
		subStart := j
		for j < len(s) && (isNameByte(s[j])) {
			j++
		}
		sub := s[subStart:j]
		k := skipSpace(s, j)
		opStart := k
		for k < len(s) && isLetter(s[k]) {
			k++
		}
		op := strings.ToLower(s[opStart:k])
		valEnd := k
		if op != "pr" {
			v := skipSpace(s, k)
			if v < len(s) && s[v] == '"' {
				valEnd = skipString(s, v)
			} else {
				valEnd = v
				for valEnd < len(s) && s[valEnd] != ' ' && s[valEnd] != ')' && s[valEnd] != ']' {
					valEnd++
				}
			}
		}
		if sub == "" || op == "" {
			out.WriteString(s[i : end+1])
			i = end + 1
			continue
		}
		// The attribute path before the bracket.
		a := i
		for a > 0 && (isNameByte(s[a-1]) || s[a-1] == ':' || s[a-1] == '.') {
			a--
		}
		out.WriteString(s[i : end+1])
		out.WriteString(" and ")
		out.WriteString(s[a:i])
		out.WriteString(".")
		out.WriteString(sub)
		out.WriteString(s[j:valEnd])
		i = valEnd
	}
	return out.String()
}

func skipString(s string, i int) int {
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			j += 2
			continue
		case '"':
			return j + 1
		}
		j++
	}
	return len(s)
}

func skipSpace(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func isLetter(c byte) bool { return c < utf8.RuneSelf && unicode.IsLetter(rune(c)) }

func isNameByte(c byte) bool {
	return isLetter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '$'
}

// translator turns a parsed filter into a term for resources of kind k.
type translator struct {
	k      *kind
	fields map[string]field
}

// translateFilter translates raw (empty: every resource) for k.
func translateFilter(k *kind, raw string) (term, error) {
	e, err := parseFilter(raw)
	if err == errNoFilter {
		return always, nil
	}
	if err != nil {
		return term{}, err
	}
	tr := translator{k: k, fields: filterFields(k)}
	return tr.expr(e, "", 0)
}

const maxFilterDepth = 50

func (tr translator) expr(e filter.Expression, scope string, depth int) (term, error) {
	if depth > maxFilterDepth {
		return term{}, invalidFilter("the filter nests too deeply")
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := tr.expr(x.Left, scope, depth+1)
		if err != nil {
			return term{}, err
		}
		r, err := tr.expr(x.Right, scope, depth+1)
		if err != nil {
			return term{}, err
		}
		if x.Operator == filter.OR {
			return or(l, r), nil
		}
		return and(l, r), nil
	case *filter.NotExpression:
		t, err := tr.expr(x.Expression, scope, depth+1)
		return not(t), err
	case *filter.ValuePath:
		if scope != "" {
			return term{}, invalidFilter("value paths do not nest")
		}
		name, err := tr.key(x.AttributePath)
		if err != nil {
			return term{}, err
		}
		if x.AttributePath.SubAttribute != nil {
			return term{}, invalidFilter("%v: a value path names an attribute, not a sub-attribute", x.AttributePath)
		}
		inner, err := tr.expr(x.ValueFilter, name, depth+1)
		if err != nil {
			return term{}, err
		}
		// The value must exist for its sub-attributes to match.
		return and(tr.present(name), inner), nil
	case *filter.AttributeExpression:
		name, err := tr.key(x.AttributePath)
		if err != nil {
			return term{}, err
		}
		if scope != "" {
			if x.AttributePath.URIPrefix != nil || x.AttributePath.SubAttribute != nil {
				return term{}, invalidFilter("%v: a value filter compares sub-attributes", x.AttributePath)
			}
			name = scope + "." + name
		}
		f, ok := tr.fields[name]
		if !ok {
			return term{}, invalidFilter("filtering on %v is not supported", x.AttributePath)
		}
		return tr.compare(f, name, x.Operator, x.CompareValue)
	}
	return term{}, invalidFilter("unsupported filter expression")
}

// key is the lower-cased name under which an attribute path's field is kept: the
// core schema's URN is optional, the enterprise extension's URN may be left out.
func (tr translator) key(p filter.AttributePath) (string, error) {
	uri := p.URI()
	if uri != "" && !strings.EqualFold(uri, tr.k.core.ID) {
		if _, ok := tr.k.extension(uri); !ok {
			return "", invalidFilter("unknown schema %q", uri)
		}
	}
	name := strings.ToLower(p.AttributeName)
	if sub := p.SubAttributeName(); sub != "" {
		name += "." + strings.ToLower(sub)
	}
	return name, nil
}

// present is true where the multi-valued attribute name has a value.
func (tr translator) present(name string) term {
	f, ok := tr.fields[name]
	if !ok {
		f, ok = tr.fields[name+".value"]
	}
	if !ok {
		return always
	}
	t, err := tr.compare(f, name, filter.PR, nil)
	if err != nil {
		return always
	}
	return t
}

func (tr translator) compare(f field, name string, op filter.CompareOperator, v any) (term, error) {
	if v == nil && op != filter.PR {
		// "eq null" asks whether the attribute is absent.
		switch op {
		case filter.EQ:
			t, err := tr.compare(f, name, filter.PR, nil)
			return not(t), err
		case filter.NE:
			return tr.compare(f, name, filter.PR, nil)
		}
		return term{}, invalidFilter("%s %s needs a value", name, op)
	}
	switch f.kind {
	case fConst:
		present := pred(func(s *sql.Selector) *sql.Predicate { return nonEmpty(s.C(f.presence)) })
		if op == filter.PR {
			return present, nil
		}
		ok, err := compareValues(f.value, normaliseConst(f.value, v), op, false)
		if err != nil {
			return term{}, err
		}
		if ok {
			return present, nil
		}
		return never, nil
	case fMember:
		return memberTerm(name, op, v)
	case fBool:
		return boolTerm(f, name, op, v)
	case fTime:
		return timeTerm(f, name, op, v)
	case fID:
		return idTerm(f, name, op, v)
	}
	return stringTerm(f, name, op, v)
}

func normaliseConst(c, v any) any {
	if _, ok := c.(bool); ok {
		if s, ok := v.(string); ok {
			switch strings.ToLower(s) {
			case "true":
				return true
			case "false":
				return false
			}
		}
	}
	return v
}

// nonEmpty is col IS NOT NULL AND col <> ”.
func nonEmpty(col string) *sql.Predicate {
	return sql.And(sql.NotNull(col), sql.NEQ(col, ""))
}

func stringTerm(f field, name string, op filter.CompareOperator, v any) (term, error) {
	if op == filter.PR {
		return pred(func(s *sql.Selector) *sql.Predicate { return nonEmpty(s.C(f.col)) }), nil
	}
	val, ok := v.(string)
	if !ok {
		return term{}, invalidFilter("%s compares with a string", name)
	}
	if f.kind != fExact {
		val = strings.ToLower(val)
	}
	cmp := func(s *sql.Selector) *sql.Predicate {
		col := s.C(f.col)
		lhs := col
		if f.kind == fFold {
			lhs = sql.Lower(col)
		}
		var p *sql.Predicate
		switch op {
		case filter.EQ, filter.NE:
			p = sql.EQ(lhs, val)
		case filter.GT:
			p = sql.GT(lhs, val)
		case filter.GE:
			p = sql.GTE(lhs, val)
		case filter.LT:
			p = sql.LT(lhs, val)
		case filter.LE:
			p = sql.LTE(lhs, val)
		case filter.CO, filter.SW, filter.EW:
			p = like(s, lhs, op, val)
		}
		if f.nullable {
			// Two-valued: an absent value compares false, and "not" then holds.
			p = sql.And(sql.NotNull(col), p)
		}
		if op == filter.NE {
			p = sql.Not(p)
		}
		return p
	}
	switch op {
	case filter.EQ, filter.NE, filter.GT, filter.GE, filter.LT, filter.LE, filter.CO, filter.SW, filter.EW:
		return pred(cmp), nil
	}
	return term{}, invalidFilter("unknown operator %q", op)
}

// like matches lhs against val with co, sw or ew, byte-exactly on every store:
// MySQL's tables compare byte-wise (utf8mb4_bin), and SQLite's LIKE folds ASCII
// case, so there the match is checked again with instr/substr.
func like(s *sql.Selector, lhs string, op filter.CompareOperator, val string) *sql.Predicate {
	escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(val)
	pattern := escaped
	switch op {
	case filter.CO:
		pattern = "%" + escaped + "%"
	case filter.SW:
		pattern = escaped + "%"
	case filter.EW:
		pattern = "%" + escaped
	}
	d := s.Dialect()
	return sql.P(func(b *sql.Builder) {
		b.WriteString(lhs).WriteString(" LIKE ").Arg(pattern)
		if d == dialect.SQLite {
			b.WriteString(" ESCAPE '\\'")
			switch op {
			case filter.CO:
				b.WriteString(" AND instr(").WriteString(lhs).WriteString(", ").Arg(val).WriteString(") > 0")
			case filter.SW:
				b.WriteString(" AND substr(").WriteString(lhs).WriteString(", 1, ").Arg(utf8.RuneCountInString(val)).WriteString(") = ").Arg(val)
			case filter.EW:
				b.WriteString(" AND substr(").WriteString(lhs).WriteString(", ").Arg(-utf8.RuneCountInString(val)).WriteString(") = ").Arg(val)
			}
		}
	})
}

func boolTerm(f field, name string, op filter.CompareOperator, v any) (term, error) {
	if op == filter.PR {
		return always, nil
	}
	val, ok := v.(bool)
	if s, isStr := v.(string); isStr {
		switch strings.ToLower(s) {
		case "true":
			val, ok = true, true
		case "false":
			val, ok = false, true
		}
	}
	if !ok {
		return term{}, invalidFilter("%s compares with true or false", name)
	}
	switch op {
	case filter.EQ:
	case filter.NE:
		val = !val
	default:
		return term{}, invalidFilter("%s compares with eq and ne only", name)
	}
	return pred(func(s *sql.Selector) *sql.Predicate { return sql.EQ(s.C(f.col), val) }), nil
}

func timeTerm(f field, name string, op filter.CompareOperator, v any) (term, error) {
	if op == filter.PR {
		return always, nil
	}
	s, ok := v.(string)
	if !ok {
		return term{}, invalidFilter("%s compares with a date and time", name)
	}
	t, err := parseTime(s)
	if err != nil {
		return term{}, invalidFilter("%s: %q is not a date and time (RFC 3339)", name, s)
	}
	var mk func(col string, v any) *sql.Predicate
	switch op {
	case filter.EQ:
		mk = sql.EQ
	case filter.NE:
		mk = sql.NEQ
	case filter.GT:
		mk = sql.GT
	case filter.GE:
		mk = sql.GTE
	case filter.LT:
		mk = sql.LT
	case filter.LE:
		mk = sql.LTE
	default:
		return term{}, invalidFilter("%s compares with eq, ne, gt, ge, lt and le", name)
	}
	return pred(func(s *sql.Selector) *sql.Predicate { return mk(s.C(f.col), t) }), nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time")
}

func idTerm(f field, name string, op filter.CompareOperator, v any) (term, error) {
	if op == filter.PR {
		if f.nullable {
			return pred(func(s *sql.Selector) *sql.Predicate { return sql.NotNull(s.C(f.col)) }), nil
		}
		return always, nil
	}
	s, ok := v.(string)
	if !ok {
		return term{}, invalidFilter("%s compares with an id", name)
	}
	id, err := relayid.Decode(s)
	var eq term
	if err != nil {
		eq = never // not an id Latchkey issued: nothing has it
	} else {
		eq = pred(func(sel *sql.Selector) *sql.Predicate { return sql.EQ(sel.C(f.col), id) })
	}
	switch op {
	case filter.EQ:
		return eq, nil
	case filter.NE:
		if f.nullable {
			return pred(func(sel *sql.Selector) *sql.Predicate {
				if eq.constant != nil {
					return sql.NotNull(sel.C(f.col))
				}
				return sql.And(sql.NotNull(sel.C(f.col)), sql.Not(eq.build(sel)))
			}), nil
		}
		return not(eq), nil
	}
	return term{}, invalidFilter("%s compares with eq and ne only", name)
}

// memberTerm: groups with (or without) a member.
func memberTerm(name string, op filter.CompareOperator, v any) (term, error) {
	has := func(userID *int) term {
		return pred(func(s *sql.Selector) *sql.Predicate {
			j := sql.Table(group.UsersTable)
			q := sql.Select(j.C(group.UsersPrimaryKey[1])).From(j).Where(sql.ColumnsEQ(j.C(group.UsersPrimaryKey[0]), s.C(group.FieldID)))
			if userID != nil {
				q.Where(sql.EQ(j.C(group.UsersPrimaryKey[1]), *userID))
			}
			return sql.Exists(q)
		})
	}
	if op == filter.PR {
		return has(nil), nil
	}
	s, ok := v.(string)
	if !ok || (op != filter.EQ && op != filter.NE) {
		return term{}, invalidFilter("%s compares with eq or ne and a user id", name)
	}
	id, err := relayid.Decode(s)
	t := never
	if err == nil {
		t = has(&id)
	}
	if op == filter.NE {
		return not(t), nil
	}
	return t, nil
}
