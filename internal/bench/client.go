package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// client speaks to one Latchkey server over a shared pool of keep-alive
// connections. It is fasthttp's rather than net/http's because the client shares
// the server's two cores: per check, net/http's client took 59–74 µs of CPU
// (a read and a write goroutine per connection, a handoff to each per request)
// and fasthttp's 36–40 µs, against about 100 µs of the server's (16 clients as
// fast as they go, same server, a 2-core machine).
type client struct {
	base      string
	token     string
	scimToken string
	http      *fasthttp.Client
}

// requestTimeout bounds one request: bulk operations on tens of thousands of users
// may take a while, and a request that hangs still ends the run.
const requestTimeout = 5 * time.Minute

func newClient(base, token string, conns int) *client {
	return &client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http: &fasthttp.Client{
			MaxConnsPerHost:     conns + 8,
			MaxConnWaitTimeout:  time.Minute,      // wait for a connection rather than fail
			MaxIdleConnDuration: 90 * time.Second, // under the server's idle timeout
			// Send paths and queries (SCIM filters) byte for byte as built.
			DisablePathNormalizing: true,
			// The server's own header is the one that counts.
			NoDefaultUserAgentHeader: true,
		},
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// HTTPError is an answer with an unexpected status.
type HTTPError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// GraphQLError is an answer whose errors list is not empty.
type GraphQLError struct {
	Messages []string
}

func (e *GraphQLError) Error() string {
	return "GraphQL errors: " + strings.Join(e.Messages, "; ")
}

// roundTrip sends one request and reads the whole answer. The latency is the wall
// time from sending to the last byte of the body.
func (c *client) roundTrip(ctx context.Context, method, path, contentType, token string, body []byte, header ...string) (int, []byte, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, 0, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.base + path)
	req.Header.SetMethod(method)
	if contentType != "" {
		req.Header.SetContentType(contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if body != nil {
		req.SetBodyRaw(body)
	}
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	start := time.Now()
	err := c.http.DoDeadline(req, resp, deadline)
	elapsed := time.Since(start)
	if err != nil {
		return 0, nil, elapsed, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp.StatusCode(), bytes.Clone(resp.Body()), elapsed, nil
}

// gql posts a GraphQL request and decodes its data into out (when not nil). Any
// status but 200, any entry in errors, or missing data is an error.
func (c *client) gql(ctx context.Context, query string, vars map[string]any, out any) (time.Duration, error) {
	return c.post(ctx, query, vars, out)
}

// gqlFresh is gql asking for an answer made afresh, not one the server kept for a
// repeat of the request (Cache-Control: no-cache): the operations whose targets
// time the engine's work send it.
func (c *client) gqlFresh(ctx context.Context, query string, vars map[string]any, out any) (time.Duration, error) {
	return c.post(ctx, query, vars, out, fresh...)
}

// fresh is the header of a request for an answer made afresh.
var fresh = []string{"Cache-Control", "no-cache"}

func (c *client) post(ctx context.Context, query string, vars map[string]any, out any, header ...string) (time.Duration, error) {
	d, _, err := c.postKnown(ctx, nil, nil, query, vars, out, header...)
	return d, err
}

// A knownAnswer is one answer the client decoded and found whole.
type knownAnswer struct{ raw atomic.Pointer[[]byte] }

// postKnown is post, except that an answer byte for byte the same as known's is
// not decoded again (decoded false, out untouched); the first answer that decodes
// and passes check (which reads out) becomes known's. The client shares the
// server's two cores: decoding the 57 KB of a user's effective rights took it 1.85
// ms of CPU, more than the server took to make them afresh (1.2 ms).
func (c *client) postKnown(ctx context.Context, known *knownAnswer, check func() error,
	query string, vars map[string]any, out any, header ...string,
) (d time.Duration, decoded bool, err error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return 0, false, err
	}
	status, raw, d, err := c.roundTrip(ctx, http.MethodPost, "/query", "application/json", c.token, body, header...)
	if err != nil {
		return d, false, err
	}
	if known != nil && status == http.StatusOK {
		if k := known.raw.Load(); k != nil && bytes.Equal(*k, raw) {
			return d, false, nil
		}
	}
	if err := decodeAnswer(status, raw, out); err != nil {
		return d, true, err
	}
	if check != nil {
		if err := check(); err != nil {
			return d, true, err
		}
	}
	if known != nil {
		known.raw.CompareAndSwap(nil, &raw)
	}
	return d, true, nil
}

// decodeAnswer decodes a GraphQL answer's data into out (when not nil). Any status
// but 200, any entry in errors, or missing data is an error.
func decodeAnswer(status int, raw []byte, out any) error {
	// One pass decodes the answer into out: the client shares the server's cores,
	// and decoding a large answer twice took CPU from the requests being timed.
	var data any = new(json.RawMessage)
	if out != nil {
		data = out
	}
	resp := struct {
		Data   any `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Path       []any          `json:"path"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}{Data: data}
	decodeErr := json.Unmarshal(raw, &resp)
	if status != http.StatusOK {
		return &HTTPError{Method: http.MethodPost, Path: "/query", Status: status, Body: clip(string(raw), 300)}
	}
	if decodeErr != nil {
		return fmt.Errorf("POST /query: unexpected answer: %v: %s", decodeErr, clip(string(raw), 200))
	}
	if len(resp.Errors) > 0 {
		ge := &GraphQLError{}
		for _, e := range resp.Errors {
			msg := e.Message
			if code, _ := e.Extensions["code"].(string); code != "" {
				msg += " [" + code + "]"
			}
			if len(e.Path) > 0 {
				msg += fmt.Sprintf(" at %v", e.Path)
			}
			ge.Messages = append(ge.Messages, msg)
		}
		return ge
	}
	if resp.Data == nil || out == nil && len(*data.(*json.RawMessage)) == 0 {
		return errors.New("POST /query: the answer has no data")
	}
	return nil
}

// scim sends a SCIM request with the SCIM token and checks the status.
func (c *client) scim(ctx context.Context, method, path string, body []byte, want int) ([]byte, time.Duration, error) {
	ct := ""
	if body != nil {
		ct = "application/scim+json"
	}
	status, raw, d, err := c.roundTrip(ctx, method, "/scim/v2"+path, ct, c.scimToken, body)
	if err != nil {
		return nil, d, err
	}
	if status != want {
		return raw, d, &HTTPError{Method: method, Path: "/scim/v2" + path, Status: status, Body: clip(string(raw), 300)}
	}
	return raw, d, nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
