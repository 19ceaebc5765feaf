package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPostKnownDecodesOnlyNewAnswers(t *testing.T) {
	answers := []string{
		`{"data":{"n":null}}`,                       // decodes, fails the check: not remembered
		`{"data":{"n":1}}`,                          // decodes, passes: remembered
		`{"data":{"n":1}}`,                          // the same bytes: not decoded
		`{"data":{"n": 1}}`,                         // other bytes: decoded
		`{"errors":[{"message":"no"}],"data":null}`, // an error, whatever was known
		`{"data":{"n":1}}`,                          // still known
	}
	wantDecoded := []bool{true, true, false, true, true, false}
	wantErr := []bool{true, false, false, false, true, false}
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(answers[i]))
	}))
	defer srv.Close()
	c := newClient(srv.URL, "t", 1)
	defer c.close()

	var known knownAnswer
	for ; i < len(answers); i++ {
		var out struct{ N *int }
		check := func() error {
			if out.N == nil {
				return errors.New("n is null")
			}
			return nil
		}
		_, decoded, err := c.postKnown(context.Background(), &known, check, "{ n }", nil, &out)
		if decoded != wantDecoded[i] || (err != nil) != wantErr[i] {
			t.Errorf("answer %d %s: decoded %v, error %v; want decoded %v, an error %v", i, answers[i], decoded, err, wantDecoded[i], wantErr[i])
		}
		if decoded && err == nil && (out.N == nil || *out.N != 1) {
			t.Errorf("answer %d: decoded n %v", i, out.N)
		}
	}
}
