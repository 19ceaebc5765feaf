package scim

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	elscim "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"

	"latchkey/graph/relayid"
)

// resource is a User or Group as this endpoint answers with it.
type resource struct {
	id         string
	externalID *string
	created    time.Time
	modified   time.Time
	doc        document // every other attribute
}

// etag is the resource's version: weak, from the time it last changed.
func etag(modified time.Time) string { return fmt.Sprintf(`W/"%x"`, modified.UnixMicro()) }

func (r resource) version() string { return etag(r.modified) }

func location(base string, k *kind, id string) string {
	return base + k.endpoint + "/" + url.PathEscape(id)
}

// render is the resource as JSON, exactly as the library renders it (schemas, id,
// externalId, meta with the absolute location), the attributes limited by p.
func (r resource) render(base string, k *kind, p projection) map[string]any {
	out := p.apply(k, r.doc)
	out["schemas"] = k.schemaURNs()
	out["id"] = r.id
	if r.externalID != nil && p.wants(k, "externalId") {
		out["externalId"] = *r.externalID
	}
	if p.wants(k, "meta") {
		out["meta"] = map[string]any{
			"resourceType": k.name,
			"created":      r.created.UTC().Format(time.RFC3339),
			"lastModified": r.modified.UTC().Format(time.RFC3339),
			"location":     location(base, k, r.id),
			"version":      r.version(),
		}
	}
	return out
}

// library is the resource for the library's handlers (GET by id, POST, PUT).
func (r resource) library(k *kind, p projection) elscim.Resource {
	res := elscim.Resource{
		ID:         r.id,
		Attributes: elscim.ResourceAttributes(p.apply(k, r.doc)),
		Meta:       elscim.Meta{Created: ptr(r.created.UTC()), LastModified: ptr(r.modified.UTC()), Version: r.version()},
	}
	if r.externalID != nil && p.wants(k, "externalId") {
		res.ExternalID = optional.NewString(*r.externalID)
	}
	return res
}

func ptr[T any](v T) *T { return &v }

// projection is what the attributes and excludedAttributes parameters ask for.
// Names are kept lower-cased as "<urn>|<attr>|<sub>" with an empty urn for the
// core schema.
type projection struct {
	include map[string]bool // nil: the default set
	exclude map[string]bool
}

// newProjection reads attributes and excludedAttributes (comma-separated lists);
// attributes wins when both are given.
func newProjection(k *kind, attributes, excluded []string) projection {
	var p projection
	if names := splitNames(attributes); len(names) > 0 {
		p.include = projectionKeys(k, names)
	} else if names := splitNames(excluded); len(names) > 0 {
		p.exclude = projectionKeys(k, names)
	}
	return p
}

func splitNames(lists []string) []string {
	var out []string
	for _, l := range lists {
		for _, n := range strings.Split(l, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

func projectionKeys(k *kind, names []string) map[string]bool {
	keys := map[string]bool{}
	for _, n := range names {
		if ext, ok := k.extension(n); ok {
			keys[strings.ToLower(ext.ID)+"||"] = true
			continue
		}
		p, err := parsePath(n)
		if err != nil || p.ValueExpression != nil {
			continue // not an attribute: nothing to select
		}
		urn := strings.ToLower(p.AttributePath.URI())
		if strings.EqualFold(urn, k.core.ID) {
			urn = ""
		}
		keys[urn+"|"+strings.ToLower(p.AttributePath.AttributeName)+"|"+strings.ToLower(p.AttributePath.SubAttributeName())] = true
	}
	return keys
}

func (p projection) has(set map[string]bool, urn, attr string) (whole, part bool) {
	urn, attr = strings.ToLower(urn), strings.ToLower(attr)
	if set[urn+"||"] && urn != "" {
		return true, true
	}
	if set[urn+"|"+attr+"|"] {
		return true, true
	}
	prefix := urn + "|" + attr + "|"
	if attr == "" {
		prefix = urn + "|"
	}
	for key := range set {
		if strings.HasPrefix(key, prefix) {
			return false, true
		}
	}
	return false, false
}

// wants reports whether the response includes the core attribute attr at all (to
// skip loading what is not returned: a group's members, a user's groups).
func (p projection) wants(k *kind, attr string) bool {
	switch {
	case p.include != nil:
		_, part := p.has(p.include, "", attr)
		return part
	case p.exclude != nil:
		whole, _ := p.has(p.exclude, "", attr)
		return !whole
	}
	return true
}

// apply returns the attributes of d that p selects.
func (p projection) apply(k *kind, d document) map[string]any {
	out := make(map[string]any, len(d)+4)
	for name, v := range d {
		urn := ""
		if _, ok := k.extension(name); ok {
			urn = name
		}
		if urn != "" {
			m, _ := v.(map[string]any)
			sub := map[string]any{}
			for an, av := range m {
				if pv, ok := p.pick(urn, an, av); ok {
					sub[an] = pv
				}
			}
			if len(sub) > 0 {
				out[name] = sub
			}
			continue
		}
		if pv, ok := p.pick("", name, v); ok {
			out[name] = pv
		}
	}
	return out
}

// pick returns what p keeps of attribute attr (in the schema urn) with value v.
func (p projection) pick(urn, attr string, v any) (any, bool) {
	set, including := p.include, true
	if set == nil {
		set, including = p.exclude, false
	}
	if set == nil {
		return v, true
	}
	whole, part := p.has(set, urn, attr)
	if including {
		if whole || !part {
			return v, whole
		}
		return p.subs(set, urn, attr, v, true), true
	}
	if whole {
		return nil, false
	}
	if part {
		return p.subs(set, urn, attr, v, false), true
	}
	return v, true
}

// subs keeps (keep) or drops the sub-attributes listed in set of a complex value.
func (p projection) subs(set map[string]bool, urn, attr string, v any, keep bool) any {
	prefix := strings.ToLower(urn) + "|" + strings.ToLower(attr) + "|"
	one := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, sv := range m {
			if set[prefix+strings.ToLower(k)] == keep {
				out[k] = sv
			}
		}
		return out
	}
	switch x := v.(type) {
	case map[string]any:
		return one(x)
	case []any:
		out := make([]any, 0, len(x))
		for _, it := range x {
			if m, ok := it.(map[string]any); ok {
				out = append(out, one(m))
			}
		}
		return out
	}
	return v
}

func idOf(id int) string { return relayid.Encode(id) }
