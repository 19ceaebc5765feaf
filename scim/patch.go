package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

// PATCH is applied by this package, never by the library (whose ApplyPatch drops
// every member on Entra ID's remove form, flattens extension attributes and stores
// dotted keys literally). Operations are applied in order to the resource as a
// document; the result is then read like a PUT body and stored in one transaction.

// target is what a PATCH path (or a key of a path-less value) addresses.
type target struct {
	ext    string // the extension's URN, or "" for the core schema
	attr   schema.CoreAttribute
	sub    *schema.CoreAttribute // name.givenName, emails[…].value
	filter filter.Expression     // emails[type eq "work"]
}

func (t target) String() string {
	s := t.attr.Name()
	if t.ext != "" {
		s = t.ext + ":" + s
	}
	if t.filter != nil {
		s += "[" + fmt.Sprint(t.filter) + "]"
	}
	if t.sub != nil {
		s += "." + t.sub.Name()
	}
	return s
}

// container is the map t's attribute lives in: the document, or its extension map.
func (t target) container(d document, create bool) map[string]any {
	if t.ext == "" {
		return d
	}
	m, _ := d[t.ext].(map[string]any)
	if m == nil {
		m = map[string]any{}
		if create {
			d[t.ext] = m
		}
	}
	return m
}

var (
	idAttr = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
		Name: "id", Mutability: schema.AttributeMutabilityReadOnly()}))
	metaAttr = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
		Name: "meta", Mutability: schema.AttributeMutabilityReadOnly()}))
)

// parsePath parses a PATCH path; the parser must never take the server down.
// Plain names ("title", "name.givenName", with or without a schema URN) are read
// directly: they are most of what clients send, and the grammar is slow.
func parsePath(s string) (p filter.Path, err error) {
	if p, ok := simplePath(s); ok {
		return p, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unparsable path")
		}
	}()
	return filter.ParsePath([]byte(s))
}

// resolve finds what path addresses in k's schemas (inExt: relative to that
// extension). ignored reports an attribute of RFC 7643 that Latchkey does not keep.
func resolve(k *kind, path, inExt string) (t target, ignored bool, err error) {
	p, perr := parsePath(strings.TrimSpace(path))
	if perr != nil {
		return t, false, invalidPath("%q is not a valid attribute path", path)
	}
	s := k.core
	switch uri := p.AttributePath.URI(); {
	case uri == "" && inExt != "":
		s, _ = k.extension(inExt)
		t.ext = s.ID
	case uri == "" || strings.EqualFold(uri, k.core.ID):
	default:
		ext, ok := k.extension(uri)
		if !ok || inExt != "" {
			return t, false, invalidPath("%q names a schema this resource does not have", path)
		}
		s, t.ext = ext, ext.ID
	}
	name := p.AttributePath.AttributeName
	a, ok := attrIn(s, name)
	switch {
	case ok:
	case t.ext == "" && strings.EqualFold(name, "externalId"):
		a = externalIDAttr
	case t.ext == "" && strings.EqualFold(name, "id"):
		a = idAttr
	case t.ext == "" && strings.EqualFold(name, "meta"):
		a = metaAttr
	case ignoredAttributes[strings.ToLower(name)]:
		return t, true, nil
	default:
		return t, false, invalidPath("%q is not an attribute of %s", name, k.name)
	}
	t.attr = a
	subName := p.AttributePath.SubAttributeName()
	if subName == "" {
		subName = p.SubAttributeName()
	} else if p.SubAttribute != nil {
		return t, false, invalidPath("%q has two sub-attributes", path)
	}
	if p.ValueExpression != nil {
		if !a.MultiValued() {
			return t, false, invalidPath("%q: only a multi-valued attribute can be filtered", path)
		}
		t.filter = p.ValueExpression
	}
	if subName != "" {
		if a.AttributeType() != "complex" {
			return t, false, invalidPath("%q: %s has no sub-attributes", path, a.Name())
		}
		sub, ok := subAttr(a, subName)
		if !ok {
			return t, true, nil // name.middleName and the like: not kept
		}
		t.sub = &sub
	}
	return t, false, nil
}

// patchOp is one operation of a PATCH request.
type patchOp struct {
	op      string // add, remove or replace
	path    string
	hasPath bool
	value   any
}

// parsePatch reads a PatchOp request body. op is accepted in any case (Entra ID
// sends "Replace"), as are the names of the body's members.
func parsePatch(body []byte) ([]patchOp, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req map[string]any
	if err := dec.Decode(&req); err != nil || req == nil {
		return nil, invalidSyntax("the body is not a JSON object")
	}
	var rawSchemas, rawOps any
	for k, v := range req {
		switch strings.ToLower(k) {
		case "schemas":
			rawSchemas = v
		case "operations":
			rawOps = v
		}
	}
	schemas, _ := rawSchemas.([]any)
	if !slices.ContainsFunc(schemas, func(s any) bool { str, _ := s.(string); return strings.EqualFold(str, patchOpURN) }) {
		return nil, invalidSyntax("schemas must be [%q]", patchOpURN)
	}
	list, ok := rawOps.([]any)
	if !ok || len(list) == 0 {
		return nil, invalidSyntax("Operations must list at least one operation")
	}
	ops := make([]patchOp, 0, len(list))
	for i, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, invalidSyntax("Operations[%d] is not an object", i)
		}
		var op patchOp
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.op = strings.ToLower(strings.TrimSpace(s))
			case "path":
				if v == nil {
					continue
				}
				s, ok := v.(string)
				if !ok {
					return nil, invalidPath("Operations[%d].path must be a string", i)
				}
				op.path = strings.TrimSpace(s)
				op.hasPath = op.path != ""
			case "value":
				op.value = v
			}
		}
		switch op.op {
		case "add", "remove", "replace":
		default:
			return nil, invalidSyntax("Operations[%d].op must be add, remove or replace", i)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// patcher applies operations to a document of kind k. members, when set, takes the
// operations on a group's members instead (they are applied to the store by id, so
// that a group's whole membership is never loaded to change part of it).
type patcher struct {
	k       *kind
	members func(op string, t target, value any) error
}

func (p *patcher) apply(d document, ops []patchOp) error {
	for _, op := range ops {
		if err := p.applyOne(d, op); err != nil {
			return err
		}
	}
	return nil
}

func (p *patcher) applyOne(d document, op patchOp) error {
	if !op.hasPath {
		if op.op == "remove" {
			return noTarget("remove needs a path")
		}
		m, ok := op.value.(map[string]any)
		if !ok {
			return invalidValue("", "an operation without a path needs an object of attributes as its value")
		}
		for _, key := range sortedKeys(m) {
			if err := p.applyKey(d, op.op, key, m[key], ""); err != nil {
				return err
			}
		}
		return nil
	}
	if ext, ok := p.k.extension(op.path); ok {
		return p.applyExtension(d, op.op, ext, op.value)
	}
	t, ignored, err := resolve(p.k, op.path, "")
	if err != nil || ignored {
		return err
	}
	if readOnly(t.attr) {
		return mutability(t.String())
	}
	return p.applyTarget(d, op.op, t, op.value)
}

// applyExtension applies an operation whose path is an extension's URN: its value
// holds the extension's attributes.
func (p *patcher) applyExtension(d document, op string, ext schema.Schema, value any) error {
	if op == "remove" {
		delete(d, ext.ID)
		return nil
	}
	m, ok := value.(map[string]any)
	if !ok {
		return invalidValue(ext.ID, "must be an object")
	}
	for _, key := range sortedKeys(m) {
		if err := p.applyKey(d, op, key, m[key], ext.ID); err != nil {
			return err
		}
	}
	return nil
}

// applyKey applies one attribute of a path-less add or replace: key may be
// "displayName", "name.givenName", "emails[type eq \"work\"].value", an extension
// URN (with an object) or a URN-prefixed name. readOnly attributes (Okta sends the
// id along) and attributes Latchkey does not keep are skipped.
func (p *patcher) applyKey(d document, op, key string, v any, inExt string) error {
	if inExt == "" {
		if ext, ok := p.k.extension(key); ok {
			return p.applyExtension(d, op, ext, v)
		}
	}
	t, ignored, err := resolve(p.k, key, inExt)
	if err != nil {
		return err
	}
	if ignored || readOnly(t.attr) {
		return nil
	}
	return p.applyTarget(d, op, t, v)
}

func (p *patcher) applyTarget(d document, op string, t target, value any) error {
	if p.members != nil && t.ext == "" && t.attr.Name() == "members" {
		return p.members(op, t, value)
	}
	if op != "remove" && value == nil {
		op = "remove" // replace with null: Entra ID clears an attribute this way
	}
	c := t.container(d, op != "remove")
	name := t.attr.Name()
	switch {
	case op == "remove" && t.filter == nil:
		switch {
		case t.sub != nil && t.attr.MultiValued():
			for _, it := range asList(c[name]) {
				if m, ok := it.(map[string]any); ok {
					delete(m, t.sub.Name())
				}
			}
		case t.sub != nil:
			if m := mapAt(c, name); m != nil {
				delete(m, t.sub.Name())
				setOrDelete(c, name, m)
			}
		case t.attr.MultiValued() && value != nil:
			drop, err := coerce(t.attr, value, t.String())
			if err != nil {
				return err
			}
			setOrDelete(c, name, withoutValues(t.attr, asList(c[name]), asList(drop)))
		default:
			delete(c, name)
		}
	case op == "remove":
		items := asList(c[name])
		match, err := matching(t, items)
		if err != nil {
			return err
		}
		var keep []any
		for i, it := range items {
			switch {
			case !match[i]:
				keep = append(keep, it)
			case t.sub != nil:
				if m, ok := it.(map[string]any); ok {
					delete(m, t.sub.Name())
				}
				keep = append(keep, it)
			}
		}
		setOrDelete(c, name, keep)
	case t.filter == nil:
		merge := op == "add" || (t.attr.AttributeType() == "complex" && !t.attr.MultiValued())
		return setTarget(d, t, value, merge)
	default: // add or replace on the values a filter selects
		items := asList(c[name])
		match, err := matching(t, items)
		if err != nil {
			return err
		}
		var nv any
		if t.sub != nil {
			nv, err = coerceSingle(*t.sub, value, t.String())
		} else {
			nv, err = coerceSingle(t.attr, value, t.String())
		}
		if err != nil {
			return err
		}
		hit := false
		for i := range items {
			if !match[i] {
				continue
			}
			hit = true
			m, _ := items[i].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			if t.sub != nil {
				m[t.sub.Name()] = nv
			} else if nm, ok := nv.(map[string]any); ok {
				if op == "replace" {
					m = map[string]any{}
				}
				for k, v := range nm {
					m[k] = v
				}
			}
			items[i] = m
		}
		if !hit {
			// Entra ID replaces emails[type eq "work"].value on users that have no
			// work address yet: the filter's equalities describe the value to add.
			item := itemFromFilter(t.attr, t.filter)
			if item == nil {
				return noTarget("%s selects no value", t.String())
			}
			if t.sub != nil {
				item[t.sub.Name()] = nv
			} else if nm, ok := nv.(map[string]any); ok {
				for k, v := range nm {
					item[k] = v
				}
			}
			items = append(items, item)
		}
		setOrDelete(c, name, items)
	}
	return nil
}

// withoutValues removes from items those whose value is among drop's values.
func withoutValues(a schema.CoreAttribute, items, drop []any) []any {
	exact := true
	if sub, ok := subAttr(a, "value"); ok {
		exact = sub.CaseExact()
	}
	var out []any
	for _, it := range items {
		v := strAt(asMap(it), "value")
		gone := false
		for _, d := range drop {
			if dv := strAt(asMap(d), "value"); dv != "" && sameString(v, dv, exact) {
				gone = true
				break
			}
		}
		if !gone {
			out = append(out, it)
		}
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// matching reports which items t's filter selects.
func matching(t target, items []any) ([]bool, error) {
	out := make([]bool, len(items))
	for i, it := range items {
		m := asMap(it)
		if m == nil {
			continue
		}
		ok, err := evalItem(t.attr, t.filter, m)
		if err != nil {
			return nil, err
		}
		out[i] = ok
	}
	return out, nil
}

// itemFromFilter is the value a filter of equalities on type (and primary)
// describes (type eq "work" gives {"type": "work"}), or nil when it is not one.
func itemFromFilter(a schema.CoreAttribute, e filter.Expression) map[string]any {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ || x.AttributePath.SubAttribute != nil || x.AttributePath.URIPrefix != nil {
			return nil
		}
		sub, ok := subAttr(a, x.AttributePath.AttributeName)
		if !ok || (sub.Name() != "type" && sub.Name() != "primary") {
			return nil // only a type (and primary) names a slot a value can be added to
		}
		v, err := coerceSingle(sub, x.CompareValue, sub.Name())
		if err != nil || v == nil {
			return nil
		}
		return map[string]any{sub.Name(): v}
	case *filter.LogicalExpression:
		if x.Operator != filter.AND {
			return nil
		}
		l, r := itemFromFilter(a, x.Left), itemFromFilter(a, x.Right)
		if l == nil || r == nil {
			return nil
		}
		for k, v := range r {
			l[k] = v
		}
		return l
	}
	return nil
}

// evalItem evaluates a value filter (the part in brackets) on one value of the
// multi-valued attribute a. This filters the values of one resource being patched,
// never a listing (those are SQL).
func evalItem(a schema.CoreAttribute, e filter.Expression, item map[string]any) (bool, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := evalItem(a, x.Left, item)
		if err != nil {
			return false, err
		}
		if x.Operator == filter.AND && !l {
			return false, nil
		}
		if x.Operator == filter.OR && l {
			return true, nil
		}
		return evalItem(a, x.Right, item)
	case *filter.NotExpression:
		v, err := evalItem(a, x.Expression, item)
		return !v, err
	case *filter.AttributeExpression:
		if x.AttributePath.SubAttribute != nil || x.AttributePath.URIPrefix != nil {
			return false, invalidFilter("%v: a value filter compares sub-attributes", x)
		}
		sub, ok := subAttr(a, x.AttributePath.AttributeName)
		if !ok {
			return false, invalidFilter("%s has no sub-attribute %q", a.Name(), x.AttributePath.AttributeName)
		}
		have, present := item[sub.Name()]
		if s, isStr := have.(string); present && isStr && s == "" {
			present = false
		}
		if x.Operator == filter.PR {
			return present, nil
		}
		if !present {
			return x.Operator == filter.NE, nil
		}
		want, err := coerceSingle(sub, x.CompareValue, sub.Name())
		if err != nil {
			return false, invalidFilter("%v: %v", x, err)
		}
		return compareValues(have, want, x.Operator, sub.CaseExact())
	}
	return false, invalidFilter("unsupported value filter %v", e)
}

func compareValues(have, want any, op filter.CompareOperator, caseExact bool) (bool, error) {
	switch h := have.(type) {
	case bool:
		w, ok := want.(bool)
		if !ok {
			return false, nil
		}
		switch op {
		case filter.EQ:
			return h == w, nil
		case filter.NE:
			return h != w, nil
		}
		return false, invalidFilter("booleans compare with eq and ne only")
	case string:
		w, ok := want.(string)
		if !ok {
			return false, nil
		}
		if !caseExact {
			h, w = strings.ToLower(h), strings.ToLower(w)
		}
		switch op {
		case filter.EQ:
			return h == w, nil
		case filter.NE:
			return h != w, nil
		case filter.CO:
			return strings.Contains(h, w), nil
		case filter.SW:
			return strings.HasPrefix(h, w), nil
		case filter.EW:
			return strings.HasSuffix(h, w), nil
		case filter.GT:
			return h > w, nil
		case filter.GE:
			return h >= w, nil
		case filter.LT:
			return h < w, nil
		case filter.LE:
			return h <= w, nil
		}
	}
	return false, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// simplePath reads "[urn:]name[.sub]" where urn is one of the known schemas.
func simplePath(s string) (filter.Path, bool) {
	var p filter.Path
	rest := s
	if strings.HasPrefix(strings.ToLower(s), "urn:") {
		i := strings.LastIndexByte(s, ':')
		uri := s[:i]
		known := false
		for _, k := range []*kind{userKind, groupKind} {
			if strings.EqualFold(uri, k.core.ID) {
				known = true
			}
			if _, ok := k.extension(uri); ok {
				known = true
			}
		}
		if !known {
			return p, false
		}
		p.AttributePath.URIPrefix, rest = &uri, s[i+1:]
	}
	name, sub, dotted := strings.Cut(rest, ".")
	if !isAttrName(name) || (dotted && !isAttrName(sub)) {
		return p, false
	}
	p.AttributePath.AttributeName = name
	if dotted {
		p.AttributePath.SubAttribute = &sub
	}
	return p, true
}

func isAttrName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}
