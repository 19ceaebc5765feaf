package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	gen "latchkey/ent"
	"latchkey/internal/viewer"
)

// scimTokenPrefix marks Latchkey SCIM tokens, so secret scanners can find leaked ones.
const scimTokenPrefix = "lk_scim_"

// NewSCIMToken creates a SCIM bearer token for the caller's account and returns the
// secret, which is not stored and cannot be shown again.
func NewSCIMToken(ctx context.Context, client *gen.Client, name string) (string, *gen.ScimToken, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	secret := scimTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	c := client.ScimToken.Create().SetName(strings.TrimSpace(name)).
		SetSecretHash(HashSCIMToken(secret)).SetPrefix(secret[:len(scimTokenPrefix)+4])
	if id := viewer.FromContext(ctx).UserID(); id != 0 {
		c.SetCreatedByID(id)
	}
	t, err := c.Save(ctx)
	if err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// HashSCIMToken is the stored form of a SCIM token.
func HashSCIMToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
