package auth

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	const spa = "https://admin.example.com"
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name      string
		origins   []string
		method    string
		origin    string
		reqHeader string // Access-Control-Request-Headers of a preflight
		allowed   bool   // Access-Control-Allow-Origin is the origin
		status    int
	}{
		{name: "preflight from the SPA", origins: []string{spa}, method: http.MethodOptions, origin: spa, reqHeader: "authorization,content-type", allowed: true, status: http.StatusNoContent},
		{name: "request from the SPA", origins: []string{spa}, method: http.MethodPost, origin: spa, allowed: true, status: http.StatusTeapot},
		{name: "subdomain wildcard", origins: []string{"https://*.example.com"}, method: http.MethodGet, origin: "https://app.example.com", allowed: true, status: http.StatusTeapot},
		{name: "preflight from another origin", origins: []string{spa}, method: http.MethodOptions, origin: "https://evil.example", reqHeader: "authorization", status: http.StatusNoContent},
		{name: "request from another origin", origins: []string{spa}, method: http.MethodPost, origin: "https://evil.example", status: http.StatusTeapot},
		{name: "same scheme and host, other port", origins: []string{spa}, method: http.MethodPost, origin: spa + ":8443", status: http.StatusTeapot},
		{name: "http instead of https", origins: []string{spa}, method: http.MethodPost, origin: "http://admin.example.com", status: http.StatusTeapot},
		{name: "preflight asking for another header", origins: []string{spa}, method: http.MethodOptions, origin: spa, reqHeader: "x-custom", status: http.StatusNoContent},
		{name: "no origins configured", method: http.MethodPost, origin: spa, status: http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/query", nil)
			r.Header.Set("Origin", tt.origin)
			if tt.method == http.MethodOptions {
				r.Header.Set("Access-Control-Request-Method", http.MethodPost)
				r.Header.Set("Access-Control-Request-Headers", tt.reqHeader)
			}
			rec := httptest.NewRecorder()
			CORS(tt.origins)(next).ServeHTTP(rec, r)
			h := rec.Header()
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := h.Get("Access-Control-Allow-Origin"); (got == tt.origin) != tt.allowed || (!tt.allowed && got != "") {
				t.Errorf("Access-Control-Allow-Origin = %q, allowed %v", got, tt.allowed)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}
			if tt.allowed && tt.method == http.MethodOptions {
				allow := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
				if !strings.Contains(allow, "authorization") || !strings.Contains(allow, "content-type") {
					t.Errorf("Access-Control-Allow-Headers = %q", allow)
				}
				if !strings.Contains(h.Get("Access-Control-Allow-Methods"), http.MethodPost) {
					t.Errorf("Access-Control-Allow-Methods = %q", h.Get("Access-Control-Allow-Methods"))
				}
			}
			if tt.allowed && tt.method != http.MethodOptions && !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Errorf("Access-Control-Expose-Headers = %q", h.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

func TestParseCORSOrigins(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "https://Admin.Example.com", want: []string{"https://admin.example.com"}},
		{in: "https://a.example, http://localhost:5173  https://a.example/", want: []string{"https://a.example", "http://localhost:5173"}},
		{in: "https://*.example.com", want: []string{"https://*.example.com"}},
		{in: "*", err: "list the origins"},
		{in: "ftp://a.example", err: "http or https"},
		{in: "https://a.example/app", err: "nothing else"},
		{in: "https://user@a.example", err: "nothing else"},
		{in: "https://a.*.example", err: "wildcard"},
		{in: "a.example", err: "http or https"},
	}
	for _, tt := range tests {
		got, err := ParseCORSOrigins(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseCORSOrigins(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseCORSOrigins(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
