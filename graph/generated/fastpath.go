package generated

// Written by hand, not by gqlgen: internal/gqlgenpatch, which go generate runs after
// gqlgen, makes the generated marshaller of a list of effective rights try
// fastEffectiveRights first.
//
// A user's effective rights with their sources are the largest answer the server
// makes: 245 rights, about 3,400 fields and 57 KB for the bench's subject at 100k
// users. gqlgen spends on every field a field context, a context value, closures, a
// panic guard and a field set per object, so that resolvers can run concurrently
// and fail one by one; that bookkeeping was 97% of the answer's CPU (the engine and
// SQL under 2%), for fields that are plain reads of records the resolver already
// loaded. fastEffectiveRights writes such a list in one pass. It keeps gqlgen's
// bytes: the fields are gqlgen's collected fields in their order, each written
// once per alias, and every value is written by the generated marshaller that
// gqlgen's own field function calls. Any field it does not know (an edge that
// loads, a deferred fragment…) leaves the whole list to gqlgen. It runs no field
// middleware: graph/handler.go registers none (only root-field middleware).

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/right"
	"latchkey/ent/user"
	"latchkey/internal/access"
)

// fastPaths turns the fast path on; tests turn it off to compare with gqlgen's own
// answers, and count in fastPathsTaken the lists it wrote.
var (
	fastPaths      = true
	fastPathsTaken atomic.Int64
)

// fastEffectiveRights writes v in one pass when every field sel asks for, at every
// depth, is one fastpath.go knows; ok is false otherwise, and gqlgen marshals v.
func (ec *executionContext) fastEffectiveRights(ctx context.Context, sel ast.SelectionSet, v []*access.EffectiveRight) (m graphql.Marshaler, ok bool) {
	if !fastPaths {
		return nil, false
	}
	plan := ec.effectiveRightPlan(ctx, sel)
	if plan == nil {
		return nil, false
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, er := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		// A missing non-null value is an error at its own path, which gqlgen reports.
		if er == nil || !plan.write(&b, er) {
			return nil, false
		}
	}
	b.WriteByte(']')
	fastPathsTaken.Add(1)
	return graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(b.Bytes()) }), true
}

// A fieldWriter writes one field's value of obj; false when it cannot (a non-null
// value missing), and the list is left to gqlgen.
type fieldWriter[T any] func(b *bytes.Buffer, obj T) bool

type fieldPlan[T any] struct {
	alias string
	key   string // the quoted alias and a colon
	write fieldWriter[T]
}

// An objectPlan writes the selected fields of one object type; nil when a field is
// not one fastpath.go knows.
type objectPlan[T any] []fieldPlan[T]

func (p objectPlan[T]) write(b *bytes.Buffer, obj T) bool {
	b.WriteByte('{')
	for i, f := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f.key)
		if !f.write(b, obj) {
			return false
		}
	}
	b.WriteByte('}')
	return true
}

// planObject plans sel on the object type implementors names first, as gqlgen's
// object marshaller collects it; field gives the writer of one field by name (nil:
// unknown).
func planObject[T any](oc *graphql.OperationContext, sel ast.SelectionSet, implementors []string,
	field func(f graphql.CollectedField) fieldWriter[T],
) objectPlan[T] {
	fields := graphql.CollectFields(oc, sel, implementors)
	plan := make(objectPlan[T], 0, len(fields))
	for _, f := range fields {
		if f.IsDeferred() {
			return nil
		}
		if slices.ContainsFunc(plan, func(p fieldPlan[T]) bool { return p.alias == f.Alias }) {
			continue // gqlgen writes an alias once, its first field
		}
		var write fieldWriter[T]
		if f.Name == "__typename" {
			typename := graphql.MarshalString(implementors[0])
			write = func(b *bytes.Buffer, _ T) bool { typename.MarshalGQL(b); return true }
		} else {
			write = field(f)
		}
		if write == nil {
			return nil
		}
		var key bytes.Buffer
		graphql.MarshalString(f.Alias).MarshalGQL(&key)
		key.WriteByte(':')
		plan = append(plan, fieldPlan[T]{alias: f.Alias, key: key.String(), write: write})
	}
	return plan
}

// scalar writes a scalar or enum field with the generated marshaller of its type.
// The marshallers passed here never answer null for a non-null field (ID, String,
// Int, Boolean and enums of a value that is set), so none reports an error.
func scalar[T, V any](ctx context.Context, get func(T) V,
	marshal func(context.Context, ast.SelectionSet, V) graphql.Marshaler,
) fieldWriter[T] {
	return func(b *bytes.Buffer, obj T) bool {
		marshal(ctx, nil, get(obj)).MarshalGQL(b)
		return true
	}
}

// scalars writes a list of scalars or enums.
func scalars[T, V any](ctx context.Context, get func(T) []V,
	marshal func(context.Context, ast.SelectionSet, V) graphql.Marshaler,
) fieldWriter[T] {
	return func(b *bytes.Buffer, obj T) bool {
		b.WriteByte('[')
		for i, v := range get(obj) {
			if i > 0 {
				b.WriteByte(',')
			}
			marshal(ctx, nil, v).MarshalGQL(b)
		}
		b.WriteByte(']')
		return true
	}
}

// object writes an object field: null when nil and nullable.
func object[T, V any](plan objectPlan[*V], get func(T) *V, nonNull bool) fieldWriter[T] {
	if plan == nil {
		return nil
	}
	return func(b *bytes.Buffer, obj T) bool {
		v := get(obj)
		if v == nil {
			if nonNull {
				return false
			}
			b.WriteString("null")
			return true
		}
		return plan.write(b, v)
	}
}

// objects writes a non-null list of objects held by value.
func objects[T, V any](plan objectPlan[*V], get func(T) []V) fieldWriter[T] {
	if plan == nil {
		return nil
	}
	return func(b *bytes.Buffer, obj T) bool {
		b.WriteByte('[')
		list := get(obj)
		for i := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			if !plan.write(b, &list[i]) {
				return false
			}
		}
		b.WriteByte(']')
		return true
	}
}

func (ec *executionContext) effectiveRightPlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*access.EffectiveRight] {
	type er = *access.EffectiveRight
	return planObject(ec.OperationContext, sel, effectiveRightImplementors, func(f graphql.CollectedField) fieldWriter[er] {
		switch f.Name {
		case "right":
			return object(ec.rightPlan(ctx, f.Selections), func(e er) *ent.Right { return e.Right }, true)
		case "dataSet":
			return object(ec.dataSetPlan(ctx, f.Selections), func(e er) *ent.DataSet { return e.DataSet }, false)
		case "node":
			return object(ec.hierarchyNodePlan(ctx, f.Selections), func(e er) *ent.HierarchyNode { return e.Node }, false)
		case "sources":
			return objects(ec.rightPathPlan(ctx, f.Selections), func(e er) []access.Path { return e.Paths })
		case "masks":
			return scalars(ctx, func(e er) []access.Mask { return e.Masks }, ec.marshalNRightMask2latchkeyᚋinternalᚋaccessᚐMask)
		case "effective":
			return scalar(ctx, func(e er) bool { return e.Effective() }, ec.marshalNBoolean2bool)
		}
		return nil
	})
}

func (ec *executionContext) rightPathPlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*access.Path] {
	type path = *access.Path
	return planObject(ec.OperationContext, sel, rightPathImplementors, func(f graphql.CollectedField) fieldWriter[path] {
		switch f.Name {
		case "kind":
			return scalar(ctx, func(p path) access.PathKind { return p.Kind }, ec.marshalNPathKind2latchkeyᚋinternalᚋaccessᚐPathKind)
		case "source":
			// The field's resolver, called as gqlgen calls it; it reads only its path.
			return func(b *bytes.Buffer, p path) bool {
				v, err := ec.Resolvers.RightPath().Source(ctx, p)
				if err != nil {
					return false
				}
				ec.marshalOGrantSource2ᚖlatchkeyᚋentᚋschemaᚋenumsᚐGrantSource(ctx, nil, v).MarshalGQL(b)
				return true
			}
		case "role":
			return object(ec.rolePlan(ctx, f.Selections), func(p path) *ent.Role { return p.Role }, false)
		case "roleName":
			return scalar(ctx, func(p path) string { return p.RoleName }, ec.marshalOString2string)
		case "userType":
			return object(ec.userTypePlan(ctx, f.Selections), func(p path) *ent.UserType { return p.UserType }, false)
		case "group":
			return object(ec.groupPlan(ctx, f.Selections), func(p path) *ent.Group { return p.Group }, false)
		case "groupName":
			return scalar(ctx, func(p path) string { return p.GroupName }, ec.marshalOString2string)
		case "grantedAt":
			return scalar(ctx, func(p path) *time.Time { return p.GrantedAt }, ec.marshalOTime2ᚖtimeᚐTime)
		case "grantedBy":
			return object(ec.userPlan(ctx, f.Selections), func(p path) *ent.User { return p.GrantedBy }, false)
		case "dataSet":
			return object(ec.dataSetPlan(ctx, f.Selections), func(p path) *ent.DataSet { return p.DataSet }, false)
		case "node":
			return object(ec.hierarchyNodePlan(ctx, f.Selections), func(p path) *ent.HierarchyNode { return p.Node }, false)
		case "allDataSets":
			return scalar(ctx, func(p path) bool { return p.AllDataSets }, ec.marshalNBoolean2bool)
		}
		return nil
	})
}

// The records below are written with their own columns only: an edge loads, and is
// left to gqlgen, as are the timestamps (a zero one is an error gqlgen reports).

func (ec *executionContext) rightPlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.Right] {
	type rt = *ent.Right
	return planObject(ec.OperationContext, sel, rightImplementors, func(f graphql.CollectedField) fieldWriter[rt] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(r rt) int { return r.ID }, ec.marshalNID2int)
		case "key":
			return scalar(ctx, func(r rt) string { return r.Key }, ec.marshalNString2string)
		case "name":
			return scalar(ctx, func(r rt) string { return r.Name }, ec.marshalNString2string)
		case "application":
			return scalar(ctx, func(r rt) string { return r.Application }, ec.marshalNString2string)
		case "description":
			return scalar(ctx, func(r rt) string { return r.Description }, ec.marshalOString2string)
		case "kind":
			return scalar(ctx, func(r rt) right.Kind { return r.Kind }, ec.marshalNRightKind2latchkeyᚋentᚋrightᚐKind)
		case "builtIn":
			return scalar(ctx, func(r rt) bool { return r.BuiltIn }, ec.marshalNBoolean2bool)
		}
		return nil
	})
}

func (ec *executionContext) dataSetPlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.DataSet] {
	type ds = *ent.DataSet
	return planObject(ec.OperationContext, sel, dataSetImplementors, func(f graphql.CollectedField) fieldWriter[ds] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(d ds) int { return d.ID }, ec.marshalNID2int)
		case "name":
			return scalar(ctx, func(d ds) string { return d.Name }, ec.marshalNString2string)
		case "description":
			return scalar(ctx, func(d ds) string { return d.Description }, ec.marshalOString2string)
		}
		return nil
	})
}

func (ec *executionContext) hierarchyNodePlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.HierarchyNode] {
	type hn = *ent.HierarchyNode
	return planObject(ec.OperationContext, sel, hierarchyNodeImplementors, func(f graphql.CollectedField) fieldWriter[hn] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(n hn) int { return n.ID }, ec.marshalNID2int)
		case "name":
			return scalar(ctx, func(n hn) string { return n.Name }, ec.marshalNString2string)
		case "parentID":
			return scalar(ctx, func(n hn) *int { return n.ParentID }, ec.marshalOID2ᚖint)
		case "path":
			return scalar(ctx, func(n hn) string { return n.Path }, ec.marshalNString2string)
		case "depth":
			return scalar(ctx, func(n hn) int { return n.Depth }, ec.marshalNInt2int)
		case "dataSetID":
			return scalar(ctx, func(n hn) int { return n.DataSetID }, ec.marshalNID2int)
		}
		return nil
	})
}

func (ec *executionContext) rolePlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.Role] {
	type rl = *ent.Role
	return planObject(ec.OperationContext, sel, roleImplementors, func(f graphql.CollectedField) fieldWriter[rl] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(r rl) int { return r.ID }, ec.marshalNID2int)
		case "name":
			return scalar(ctx, func(r rl) string { return r.Name }, ec.marshalNString2string)
		case "description":
			return scalar(ctx, func(r rl) string { return r.Description }, ec.marshalOString2string)
		case "allData":
			return scalar(ctx, func(r rl) bool { return r.AllData }, ec.marshalNBoolean2bool)
		case "builtIn":
			return scalar(ctx, func(r rl) bool { return r.BuiltIn }, ec.marshalNBoolean2bool)
		}
		return nil
	})
}

func (ec *executionContext) userTypePlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.UserType] {
	type ut = *ent.UserType
	return planObject(ec.OperationContext, sel, userTypeImplementors, func(f graphql.CollectedField) fieldWriter[ut] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(t ut) int { return t.ID }, ec.marshalNID2int)
		case "name":
			return scalar(ctx, func(t ut) string { return t.Name }, ec.marshalNString2string)
		case "description":
			return scalar(ctx, func(t ut) string { return t.Description }, ec.marshalOString2string)
		case "readOnly":
			return scalar(ctx, func(t ut) bool { return t.ReadOnly }, ec.marshalNBoolean2bool)
		}
		return nil
	})
}

func (ec *executionContext) groupPlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.Group] {
	type gr = *ent.Group
	return planObject(ec.OperationContext, sel, groupImplementors, func(f graphql.CollectedField) fieldWriter[gr] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(g gr) int { return g.ID }, ec.marshalNID2int)
		case "name":
			return scalar(ctx, func(g gr) string { return g.Name }, ec.marshalNString2string)
		case "description":
			return scalar(ctx, func(g gr) string { return g.Description }, ec.marshalOString2string)
		case "externalID":
			return scalar(ctx, func(g gr) *string { return g.ExternalID }, ec.marshalOString2ᚖstring)
		case "source":
			return scalar(ctx, func(g gr) group.Source { return g.Source }, ec.marshalNGroupSource2latchkeyᚋentᚋgroupᚐSource)
		}
		return nil
	})
}

func (ec *executionContext) userPlan(ctx context.Context, sel ast.SelectionSet) objectPlan[*ent.User] {
	type us = *ent.User
	return planObject(ec.OperationContext, sel, userImplementors, func(f graphql.CollectedField) fieldWriter[us] {
		switch f.Name {
		case "id":
			return scalar(ctx, func(u us) int { return u.ID }, ec.marshalNID2int)
		case "userName":
			return scalar(ctx, func(u us) string { return u.UserName }, ec.marshalNString2string)
		case "email":
			return scalar(ctx, func(u us) string { return u.Email }, ec.marshalNString2string)
		case "givenName":
			return scalar(ctx, func(u us) string { return u.GivenName }, ec.marshalOString2string)
		case "familyName":
			return scalar(ctx, func(u us) string { return u.FamilyName }, ec.marshalOString2string)
		case "displayName":
			return scalar(ctx, func(u us) string { return u.DisplayName }, ec.marshalOString2string)
		case "active":
			return scalar(ctx, func(u us) bool { return u.Active }, ec.marshalNBoolean2bool)
		case "readOnly":
			return scalar(ctx, func(u us) bool { return u.ReadOnly }, ec.marshalNBoolean2bool)
		case "status":
			return scalar(ctx, func(u us) user.Status { return u.Status }, ec.marshalNUserStatus2latchkeyᚋentᚋuserᚐStatus)
		}
		return nil
	})
}
