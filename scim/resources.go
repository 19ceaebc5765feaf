package scim

import (
	"net/http"

	elscim "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
)

// resourceHandler is what the library calls for GET by id, POST, PUT and DELETE
// of Users and Groups. Bodies were read and coerced before the library saw them
// (request.body); every error leaves here as a ScimError, so the library never
// shows a client an internal message.
type resourceHandler struct {
	h *Handler
	k *kind
}

var _ elscim.ResourceHandler = resourceHandler{}

func (rh resourceHandler) fail(r *http.Request, err error) error {
	se, internal := toScim(rh.k, err)
	if internal {
		rh.h.log.ErrorContext(r.Context(), "scim request failed", "err", err, "method", r.Method, "path", r.URL.Path)
	}
	return se
}

func (rh resourceHandler) projection(r *http.Request) projection {
	q := r.URL.Query()
	return newProjection(rh.k, queryList(q, "attributes"), queryList(q, "excludedAttributes"))
}

func (rh resourceHandler) Create(r *http.Request, _ elscim.ResourceAttributes) (elscim.Resource, error) {
	ctx, rq, proj := r.Context(), requestFrom(r.Context()), rh.projection(r)
	if rh.k == userKind {
		u, err := rq.createUser(ctx, rq.body)
		if err != nil {
			return elscim.Resource{}, rh.fail(r, err)
		}
		return userResource(rq.base, u, nil).library(rh.k, proj), nil
	}
	g, err := rq.createGroup(ctx, rq.body)
	if err == nil && proj.wants(groupKind, "members") {
		g, err = rq.loadGroup(ctx, idOf(g.ID), true)
	}
	if err != nil {
		return elscim.Resource{}, rh.fail(r, err)
	}
	return groupResource(rq.base, g, g.Edges.Users).library(rh.k, proj), nil
}

func (rh resourceHandler) Get(r *http.Request, id string) (elscim.Resource, error) {
	ctx, rq, proj := r.Context(), requestFrom(r.Context()), rh.projection(r)
	if rh.k == userKind {
		u, err := rq.loadUser(ctx, id, proj.wants(userKind, "groups"))
		if err != nil {
			return elscim.Resource{}, rh.fail(r, err)
		}
		return userResource(rq.base, u, u.Edges.Groups).library(rh.k, proj), nil
	}
	g, err := rq.loadGroup(ctx, id, proj.wants(groupKind, "members"))
	if err != nil {
		return elscim.Resource{}, rh.fail(r, err)
	}
	return groupResource(rq.base, g, g.Edges.Users).library(rh.k, proj), nil
}

// Replace is PUT: attributes the body leaves out are cleared (active, when left
// out, stays as it is).
func (rh resourceHandler) Replace(r *http.Request, id string, _ elscim.ResourceAttributes) (elscim.Resource, error) {
	ctx, rq, proj := r.Context(), requestFrom(r.Context()), rh.projection(r)
	if rh.k == userKind {
		u, err := rq.loadUser(ctx, id, false)
		if err == nil {
			err = checkIfMatch(r, etag(u.UpdatedAt))
		}
		if err == nil {
			_, err = rq.updateUser(ctx, u, rq.body)
		}
		if err == nil {
			u, err = rq.loadUser(ctx, id, proj.wants(userKind, "groups"))
		}
		if err != nil {
			return elscim.Resource{}, rh.fail(r, err)
		}
		return userResource(rq.base, u, u.Edges.Groups).library(rh.k, proj), nil
	}
	g, err := rq.loadGroup(ctx, id, false)
	if err == nil {
		err = checkIfMatch(r, etag(g.UpdatedAt))
	}
	if err == nil {
		_, err = rq.replaceGroup(ctx, g, rq.body)
	}
	if err == nil {
		g, err = rq.loadGroup(ctx, id, proj.wants(groupKind, "members"))
	}
	if err != nil {
		return elscim.Resource{}, rh.fail(r, err)
	}
	return groupResource(rq.base, g, g.Edges.Users).library(rh.k, proj), nil
}

func (rh resourceHandler) Delete(r *http.Request, id string) error {
	ctx, rq := r.Context(), requestFrom(r.Context())
	if rh.k == userKind {
		u, err := rq.loadUser(ctx, id, false)
		if err == nil {
			err = checkIfMatch(r, etag(u.UpdatedAt))
		}
		if err == nil {
			err = rq.deleteUser(ctx, u)
		}
		if err != nil {
			return rh.fail(r, err)
		}
		return nil
	}
	g, err := rq.loadGroup(ctx, id, false)
	if err == nil {
		err = checkIfMatch(r, etag(g.UpdatedAt))
	}
	if err == nil {
		err = rq.deleteGroup(ctx, g)
	}
	if err != nil {
		return rh.fail(r, err)
	}
	return nil
}

// GetAll and Patch are served by this package before the library is reached.
func (rh resourceHandler) GetAll(*http.Request, elscim.ListRequestParams) (elscim.Page, error) {
	return elscim.Page{}, scimerr.ScimError{Status: http.StatusNotImplemented}
}

func (rh resourceHandler) Patch(*http.Request, string, []elscim.PatchOperation) (elscim.Resource, error) {
	return elscim.Resource{}, scimerr.ScimError{Status: http.StatusNotImplemented}
}
