package auth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// CORSOriginsEnv names the allow-list of browser origins (single-page apps) that
// may call the API from another origin: comma- or space-separated, such as
// "https://admin.example.com, http://localhost:5173".
const CORSOriginsEnv = "LATCHKEY_CORS_ORIGINS"

// CORS lets browsers on the listed origins call the wrapped handler. Requests
// carry their credential in the Authorization header, never a cookie, so
// credentials stay off and only Authorization and Content-Type may be sent;
// Retry-After and WWW-Authenticate are readable by the page. Preflight requests
// are answered here and never reach next, so wrap the authentication middleware,
// not the other way round. With no origins, the handler is returned unchanged and
// no CORS header is ever sent.
func CORS(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type"},
		ExposedHeaders:   []string{"Retry-After", "WWW-Authenticate"},
		AllowCredentials: false,
		MaxAge:           600,
	})
	return c.Handler
}

// ParseCORSOrigins reads a LATCHKEY_CORS_ORIGINS value. Each origin is
// scheme://host[:port] with scheme http or https and nothing after the host; the
// host may start with "*." to allow its subdomains. A bare "*" is refused: the
// point is an allow-list.
func ParseCORSOrigins(value string) ([]string, error) {
	fields := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	seen := map[string]bool{}
	var out []string
	for _, f := range fields {
		o, err := parseOrigin(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", CORSOriginsEnv, f, err)
		}
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out, nil
}

func parseOrigin(s string) (string, error) {
	if s == "*" {
		return "", fmt.Errorf("list the origins instead of allowing all")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("want an http or https origin")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("want scheme://host[:port] and nothing else")
	}
	host := strings.ToLower(u.Host)
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") {
		return "", fmt.Errorf("only a leading \"*.\" wildcard is allowed")
	}
	return scheme + "://" + host, nil
}
