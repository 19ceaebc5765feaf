package access

import (
	"context"
	"fmt"

	gen "latchkey/ent"
	"latchkey/ent/hierarchynode"
	"latchkey/ent/right"
	"latchkey/ent/schema/enums"
	"latchkey/internal/problem"
)

// GrantInput names a grant by which of its fields are set (SPEC §6):
// right alone is an application right; dataSetId (+ nodeId) alone is data-set
// access; right + dataSetId (+ nodeId, a hierarchy level) or right + allDataSets is a
// company-specific right; orgUnitId is organisation access; dashboardId is dashboard
// access.
type GrantInput struct {
	Right       *string
	DataSetID   *int
	NodeID      *int
	AllDataSets *bool
	OrgUnitID   *int
	DashboardID *int
}

// Grant is a resolved grant target: the ids are checked to exist in the account.
type Grant struct {
	Kind        enums.GrantKind
	RightID     int
	DataSetID   int
	NodeID      int
	AllDataSets bool
	OrgUnitID   int
	DashboardID int
	GroupID     int
}

// Key encodes the grant's kind and target in one string, unique per holder.
func (g Grant) Key() string {
	switch g.Kind {
	case enums.GrantAppRight:
		return fmt.Sprintf("R:%d", g.RightID)
	case enums.GrantCompanyRight:
		if g.AllDataSets {
			return fmt.Sprintf("C:%d:*", g.RightID)
		}
		if g.NodeID != 0 {
			return fmt.Sprintf("C:%d:%d:%d", g.RightID, g.DataSetID, g.NodeID)
		}
		return fmt.Sprintf("C:%d:%d", g.RightID, g.DataSetID)
	case enums.GrantDataSet:
		if g.NodeID != 0 {
			return fmt.Sprintf("D:%d:%d", g.DataSetID, g.NodeID)
		}
		return fmt.Sprintf("D:%d", g.DataSetID)
	case enums.GrantOrgUnit:
		return fmt.Sprintf("O:%d", g.OrgUnitID)
	case enums.GrantDashboard:
		return fmt.Sprintf("B:%d", g.DashboardID)
	case enums.GrantViewableGroup:
		return fmt.Sprintf("G:%d", g.GroupID)
	}
	return ""
}

// heldGrantKeys is an SQL condition on grant_key (of alias g) that matches the
// grants that decide rights and data-set access: application rights ("R:12"),
// company-specific rights ("C:12:3", "C:12:*") and data-set access ("D:3", "D:3:45").
// It lets a scan of a user's grants read the unique index (user_id, grant_key,
// source_key) alone, without visiting the rows; parseKey reads the keys back.
const heldGrantKeys = `(g.grant_key LIKE 'R:%' OR g.grant_key LIKE 'C:%' OR g.grant_key LIKE 'D:%')`

// parseKey reads a key made by Key back: the right of an application or
// company-specific right, or the scope of data-set access (zero otherwise).
func parseKey[K string | []byte](key K) (rightID int, access Scope) {
	if len(key) < 3 || key[1] != ':' {
		return 0, Scope{}
	}
	var nums [2]int
	n := 0
	for i := 2; i < len(key) && n < len(nums); i++ {
		switch c := key[i]; {
		case c >= '0' && c <= '9':
			nums[n] = nums[n]*10 + int(c-'0')
		case c == ':':
			n++
		default:
			n = len(nums)
		}
	}
	switch key[0] {
	case 'R', 'C':
		return nums[0], Scope{}
	case 'D':
		return 0, Scope{DataSetID: nums[0], NodeID: nums[1]}
	}
	return 0, Scope{}
}

// ResolveGrant reads in as a grant of one of the allowed kinds, checking that what it
// names exists in the caller's account. field names the input for errors.
func ResolveGrant(ctx context.Context, client *gen.Client, in GrantInput, field string, allowed ...enums.GrantKind) (Grant, error) {
	all := in.AllDataSets != nil && *in.AllDataSets
	var g Grant
	switch {
	case in.Right != nil && in.DataSetID == nil && !all && in.NodeID == nil && in.OrgUnitID == nil && in.DashboardID == nil:
		g.Kind = enums.GrantAppRight
	case in.Right != nil && (in.DataSetID != nil) != all && (in.NodeID == nil || !all) && in.OrgUnitID == nil && in.DashboardID == nil:
		g.Kind, g.AllDataSets = enums.GrantCompanyRight, all
	case in.Right == nil && in.DataSetID != nil && !all && in.OrgUnitID == nil && in.DashboardID == nil:
		g.Kind = enums.GrantDataSet
	case in.Right == nil && in.DataSetID == nil && in.NodeID == nil && !all && in.OrgUnitID != nil && in.DashboardID == nil:
		g.Kind = enums.GrantOrgUnit
	case in.Right == nil && in.DataSetID == nil && in.NodeID == nil && !all && in.OrgUnitID == nil && in.DashboardID != nil:
		g.Kind = enums.GrantDashboard
	default:
		return g, problem.BadInput(field, "set right; dataSetId (with nodeId); right with dataSetId or allDataSets; orgUnitId; or dashboardId")
	}
	if !kindAllowed(g.Kind, allowed) {
		return g, problem.BadInput(field, "a %s grant is not allowed here", g.Kind)
	}
	var err error
	if in.Right != nil {
		if g.RightID, err = client.Right.Query().Where(right.Key(*in.Right)).OnlyID(ctx); err != nil {
			return g, problem.MissingIfNotFound(err, field+".right", "right "+*in.Right)
		}
	}
	if in.DataSetID != nil {
		g.DataSetID = *in.DataSetID
		if err := exists(ctx, client, gen.TypeDataSet, g.DataSetID, field+".dataSetId", "data set"); err != nil {
			return g, err
		}
	}
	if in.NodeID != nil {
		g.NodeID = *in.NodeID
		ok, err := client.HierarchyNode.Query().
			Where(hierarchynode.ID(g.NodeID), hierarchynode.DataSetID(g.DataSetID)).Exist(ctx)
		if err != nil {
			return g, err
		}
		if !ok {
			return g, problem.Missing(field+".nodeId", "hierarchy node in that data set")
		}
	}
	if in.OrgUnitID != nil {
		g.OrgUnitID = *in.OrgUnitID
		if err := exists(ctx, client, gen.TypeOrgUnit, g.OrgUnitID, field+".orgUnitId", "organisation unit"); err != nil {
			return g, err
		}
	}
	if in.DashboardID != nil {
		g.DashboardID = *in.DashboardID
		if err := exists(ctx, client, gen.TypeDashboard, g.DashboardID, field+".dashboardId", "dashboard"); err != nil {
			return g, err
		}
	}
	return g, nil
}

func kindAllowed(k enums.GrantKind, allowed []enums.GrantKind) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if a == k {
			return true
		}
	}
	return false
}

// exists checks that a record of type typ and id is in the caller's account.
func exists(ctx context.Context, client *gen.Client, typ string, id int, field, what string) error {
	n, err := client.CountByIDs(ctx, typ, []int{id})
	if err != nil {
		return err
	}
	if n == 0 {
		return problem.Missing(field, what)
	}
	return nil
}

// RequireAll checks that every id is a record of type typ in the caller's account,
// reporting the input field when one is not.
func RequireAll(ctx context.Context, client *gen.Client, typ string, ids []int, field, what string) error {
	ids = Unique(ids)
	if len(ids) == 0 {
		return nil
	}
	n, err := client.CountByIDs(ctx, typ, ids)
	if err != nil {
		return err
	}
	if n != len(ids) {
		return problem.Missing(field, "one or more "+what)
	}
	return nil
}

// Unique returns ids without repeats, in their first order.
func Unique(ids []int) []int {
	seen := make(map[int]bool, len(ids))
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
