package access

import (
	"context"

	gen "latchkey/ent"
)

// ApplyRole applies role R to the given users (SPEC §2.1): ApplyRoleTo for callers
// holding ids rather than a selection.
func ApplyRole(ctx context.Context, client *gen.Client, roleID int, userIDs ...int) error {
	_, err := ApplyRoleTo(ctx, client, UserSelection{UserIDs: userIDs, field: "userId"}, roleID, false)
	return err
}
