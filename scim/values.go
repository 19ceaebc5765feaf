package scim

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// A document is a resource as SCIM attributes: canonical attribute names, values
// as JSON decodes them, extension attributes in a map under the extension's URN.
// Request bodies are coerced into documents before anything reads them, so the
// forms identity providers send ("True" for true, a manager as a bare id, attribute
// names in any case) all arrive the same way.
type document = map[string]any

// externalIDAttr is the common externalId attribute, writable on every resource.
var externalIDAttr = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
	Name: "externalId", CaseExact: true,
}))

// coerce returns v as attribute a holds it: a list for a multi-valued attribute,
// a map with canonical sub-attribute names for a complex one, a bool for a boolean
// (accepting "true"/"false" in any case), a string for strings and references.
// nil means absent. path names the attribute in errors.
func coerce(a schema.CoreAttribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !a.MultiValued() {
		return coerceSingle(a, v, path)
	}
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	default:
		items = []any{x}
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		c, err := coerceSingle(a, it, path)
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func coerceSingle(a schema.CoreAttribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.AttributeType() {
	case "complex":
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, sv := range x {
				sub, ok := subAttr(a, k)
				if !ok {
					continue // sub-attributes Latchkey does not keep (name.middleName, emails.display)
				}
				c, err := coerceSingle(sub, sv, path+"."+sub.Name())
				if err != nil {
					return nil, err
				}
				if c != nil {
					out[sub.Name()] = c
				}
			}
			return out, nil
		case string, json.Number, float64:
			// A bare value for a complex attribute with a value: Entra ID sends the
			// manager as its id alone.
			if sub, ok := subAttr(a, "value"); ok {
				c, err := coerceSingle(sub, x, path+".value")
				if err != nil {
					return nil, err
				}
				return map[string]any{"value": c}, nil
			}
		}
		return nil, invalidValue(path, "must be an object")
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, invalidValue(path, "must be true or false")
	case "integer", "decimal":
		switch x := v.(type) {
		case json.Number, float64:
			return x, nil
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return json.Number(strings.TrimSpace(x)), nil
			}
		}
		return nil, invalidValue(path, "must be a number")
	default: // string, reference, dateTime, binary
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1e15 {
				return strconv.FormatInt(int64(x), 10), nil
			}
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
		return nil, invalidValue(path, "must be a string")
	}
}

// coerceBody reads a POST or PUT body of kind k into a document: known attributes
// coerced, readOnly ones (id, meta, groups) and unknown ones dropped, extension
// attributes gathered under their URN whether sent nested or as URN-prefixed keys.
func coerceBody(k *kind, body map[string]any) (document, error) {
	d := document{}
	for key, v := range body {
		if err := setFromKey(d, k, key, v, ""); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// setFromKey stores the attribute that key names (as a top-level body key or a key
// of a path-less PATCH value: "userName", "name.givenName", an extension URN, or a
// URN-prefixed name) in d. Unknown and readOnly attributes are skipped.
func setFromKey(d document, k *kind, key string, v any, inExt string) error {
	key = strings.TrimSpace(key)
	switch strings.ToLower(key) {
	case "schemas", "id", "meta":
		return nil
	}
	if inExt == "" {
		if ext, ok := k.extension(key); ok {
			m, isMap := v.(map[string]any)
			if v == nil {
				return nil
			}
			if !isMap {
				return invalidValue(ext.ID, "must be an object")
			}
			for sk, sv := range m {
				if err := setFromKey(d, k, sk, sv, ext.ID); err != nil {
					return err
				}
			}
			return nil
		}
	}
	t, ignored, err := resolve(k, key, inExt)
	if err != nil || ignored {
		return nil // a body may carry what Latchkey does not keep
	}
	if readOnly(t.attr) || t.filter != nil {
		return nil
	}
	return setTarget(d, t, v, false)
}

// setTarget sets (merge false: replaces) the attribute or sub-attribute t in d.
func setTarget(d document, t target, v any, merge bool) error {
	c := t.container(d, true)
	name := t.attr.Name()
	if t.sub != nil {
		cv, err := coerceSingle(*t.sub, v, t.String())
		if err != nil {
			return err
		}
		if t.attr.MultiValued() {
			return setSubOnItems(c, t, cv)
		}
		m, _ := c[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if cv == nil {
			delete(m, t.sub.Name())
		} else {
			m[t.sub.Name()] = cv
		}
		setOrDelete(c, name, m)
		return nil
	}
	cv, err := coerce(t.attr, v, t.String())
	if err != nil {
		return err
	}
	if merge {
		switch {
		case t.attr.MultiValued():
			cv = mergeItems(t.attr, asList(c[name]), asList(cv))
		case t.attr.AttributeType() == "complex":
			m, _ := c[name].(map[string]any)
			merged := map[string]any{}
			for key, val := range m {
				merged[key] = val
			}
			if nv, ok := cv.(map[string]any); ok {
				for key, val := range nv {
					merged[key] = val
				}
			}
			cv = merged
		}
	}
	setOrDelete(c, name, cv)
	return nil
}

// setSubOnItems sets a sub-attribute of a multi-valued attribute addressed without
// a filter ("emails.value"): on the primary item, else the first, creating one when
// there is none.
func setSubOnItems(c map[string]any, t target, v any) error {
	items := asList(c[t.attr.Name()])
	i := primaryIndex(items)
	if i < 0 {
		if v == nil {
			return nil
		}
		items = append(items, map[string]any{})
		i = 0
	}
	m, _ := items[i].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	if v == nil {
		delete(m, t.sub.Name())
	} else {
		m[t.sub.Name()] = v
	}
	items[i] = m
	setOrDelete(c, t.attr.Name(), items)
	return nil
}

// mergeItems adds items to a multi-valued attribute: an item with the same value as
// an existing one replaces it, others are appended, and a new primary item makes
// the others not primary.
func mergeItems(a schema.CoreAttribute, have, add []any) []any {
	exact := true
	if sub, ok := subAttr(a, "value"); ok {
		exact = sub.CaseExact()
	}
	out := append([]any{}, have...)
	for _, it := range add {
		m, _ := it.(map[string]any)
		if m == nil {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			for _, o := range out {
				if om, ok := o.(map[string]any); ok {
					delete(om, "primary")
				}
			}
		}
		replaced := false
		if val, ok := m["value"].(string); ok {
			for i, o := range out {
				om, _ := o.(map[string]any)
				if ov, ok := om["value"].(string); ok && sameString(ov, val, exact) {
					out[i], replaced = m, true
					break
				}
			}
		}
		if !replaced {
			out = append(out, m)
		}
	}
	return out
}

func sameString(a, b string, exact bool) bool {
	if exact {
		return a == b
	}
	return strings.EqualFold(a, b)
}

func primaryIndex(items []any) int {
	for i, it := range items {
		if m, ok := it.(map[string]any); ok {
			if p, _ := m["primary"].(bool); p {
				return i
			}
		}
	}
	if len(items) > 0 {
		return 0
	}
	return -1
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// setOrDelete stores v under name, or removes name when v is empty.
func setOrDelete(c map[string]any, name string, v any) {
	switch x := v.(type) {
	case nil:
		delete(c, name)
	case []any:
		if len(x) == 0 {
			delete(c, name)
			return
		}
		c[name] = x
	case map[string]any:
		if len(x) == 0 {
			delete(c, name)
			return
		}
		c[name] = x
	default:
		c[name] = v
	}
}

// str returns the string at key of m ("" when absent).
func strAt(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// sub returns the map at key of m (nil when absent).
func mapAt(m map[string]any, key string) map[string]any {
	s, _ := m[key].(map[string]any)
	return s
}
