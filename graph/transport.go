package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// postTransport is gqlgen's POST transport (transport.POST: the same requests, content
// types, statuses and error answers) except that it writes an answer's data as the
// executor made it. transport.POST hands the whole answer to json.Marshal, which
// scans the data byte by byte to check it is JSON and copies it with HTML characters
// escaped: 12–14% of the server's CPU for a user's effective rights with their
// sources (57 KB). The executor's marshallers only write valid JSON, so there is
// nothing to check; errors and extensions are still encoded by encoding/json.
type postTransport struct{}

var _ graphql.Transport = postTransport{}

// Supports takes the requests transport.POST takes.
func (postTransport) Supports(r *http.Request) bool { return transport.POST{}.Supports(r) }

// The media types of an answer (GraphQL over HTTP).
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := answerContentType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{
			gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, body)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	rc, opErr := exec.CreateOperationContext(ctx, &params)
	if opErr != nil {
		w.WriteHeader(statusForRequestErrors(opErr, contentType))
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, responses(ctx))
}

// answerContentType picks the answer's media type from the request's Accept header
// as transport.POST does: the first of application/json and
// application/graphql-response+json it names (*/* and application/* stand for the
// former), application/json without the header, else the latter.
func answerContentType(accept string) string {
	if accept == "" {
		return mediaJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

// statusForRequestErrors is the status of a request that could not be parsed or
// validated: 422 in application/json, 400 in application/graphql-response+json.
func statusForRequestErrors(errs gqlerror.List, contentType string) int {
	if errcode.GetErrorKind(errs) != errcode.KindProtocol {
		return http.StatusOK
	}
	if contentType == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

// writeResponse writes resp as json.Marshal would (the same members in the same
// order), with resp.Data as it is. Incremental answers (@defer) are left to
// json.Marshal.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		w.Write(mustMarshal("answer", resp))
		return
	}
	b := make([]byte, 0, len(resp.Data)+64)
	b = append(b, '{')
	if len(resp.Errors) > 0 {
		b = append(append(append(b, `"errors":`...), mustMarshal("errors", resp.Errors)...), ',')
	}
	b = append(b, `"data":`...)
	if len(resp.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, resp.Data...)
	}
	if len(resp.Extensions) > 0 {
		b = append(append(b, `,"extensions":`...), mustMarshal("extensions", resp.Extensions)...)
	}
	w.Write(append(b, '}'))
}

// mustMarshal encodes v, or panics as transport.POST does when it cannot.
func mustMarshal(what string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("unable to marshal the %s: %w", what, err))
	}
	return b
}
