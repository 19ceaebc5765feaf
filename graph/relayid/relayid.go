// Package relayid marshals the GraphQL ID scalar. Ids inside Latchkey are integers,
// unique across all tables (ent's global ids); clients see them as opaque strings.
package relayid

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"latchkey/internal/problem"
)

const prefix = "lk:"

// Encode returns the opaque form of id.
func Encode(id int) string {
	return string(appendEncoded(nil, id))
}

// appendEncoded appends the opaque form of id to dst.
func appendEncoded(dst []byte, id int) []byte {
	var raw [len(prefix) + 20]byte // an int64 has at most 20 characters
	return base64.RawURLEncoding.AppendEncode(dst, strconv.AppendInt(append(raw[:0], prefix...), int64(id), 10))
}

// ErrInvalid is returned for a string that is not an id Latchkey issued.
var ErrInvalid = problem.BadInput("", "not a valid ID")

// Decode returns the id behind an opaque string.
func Decode(s string) (int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return 0, ErrInvalid
	}
	id, err := strconv.Atoi(string(raw[len(prefix):]))
	// Negative ids name rights copied from roles (internal/access, copiedGrantID).
	if err != nil || id == 0 {
		return 0, ErrInvalid
	}
	return id, nil
}

// MarshalID writes id as a GraphQL ID: a JSON string, whose base64url characters
// need no escaping.
func MarshalID(id int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [64]byte
		b := append(buf[:0], '"')
		b = append(appendEncoded(b, id), '"')
		_, _ = w.Write(b)
	})
}

// UnmarshalID reads a GraphQL ID.
func UnmarshalID(v any) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, ErrInvalid
	}
	return Decode(s)
}

// MarshalJSON writes raw JSON (audit before/after) as a GraphQL JSON value.
func MarshalJSON(v json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(v) == 0 {
			_, _ = io.WriteString(w, "null")
			return
		}
		_, _ = w.Write(v)
	})
}

// UnmarshalJSON reads a GraphQL JSON value.
func UnmarshalJSON(v any) (json.RawMessage, error) {
	return json.Marshal(v)
}
