package auth

import (
	"encoding/json"
	"net/http"

	"github.com/MicahParks/jwkset"
)

// JWKSPath is where the JWKS is conventionally served.
const JWKSPath = "/.well-known/jwks.json"

// JWKSHandler serves every published public key as a JWK Set. Mount it at
// JWKSPath. The short max-age lets verifiers pick up a rotation quickly.
func (k *Keys) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		keys, err := k.published(r.Context())
		if err != nil {
			k.log().ErrorContext(r.Context(), "auth: serve JWKS", "err", err)
			http.Error(w, "signing keys unavailable", http.StatusInternalServerError)
			return
		}
		set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(keys))}
		for _, sk := range keys {
			set.Keys = append(set.Keys, sk.jwk)
		}
		body, err := json.Marshal(set)
		if err != nil {
			k.log().ErrorContext(r.Context(), "auth: encode JWKS", "err", err)
			http.Error(w, "signing keys unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
