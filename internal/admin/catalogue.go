package admin

import (
	"context"
	"fmt"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/dashboard"
	"latchkey/ent/hierarchynode"
	"latchkey/ent/orgunit"
	"latchkey/internal/access"
	"latchkey/internal/problem"
)

// CreateComputerInput registers a tracked device.
type CreateComputerInput struct {
	Name     string
	Hostname *string
	OwnerID  *int
}

func CreateComputer(ctx context.Context, client *gen.Client, in CreateComputerInput) (*gen.Computer, error) {
	if in.OwnerID != nil {
		if err := access.RequireAll(ctx, client, gen.TypeUser, []int{*in.OwnerID}, "ownerId", "owner"); err != nil {
			return nil, err
		}
	}
	return client.Computer.Create().SetName(strings.TrimSpace(in.Name)).SetNillableHostname(in.Hostname).
		SetNillableOwnerID(in.OwnerID).Save(ctx)
}

// UpdateComputerInput changes a computer; ClearOwner removes its owner.
type UpdateComputerInput struct {
	ID         int
	Name       *string
	Hostname   *string
	OwnerID    *int
	ClearOwner *bool
}

func UpdateComputer(ctx context.Context, client *gen.Client, in UpdateComputerInput) (*gen.Computer, error) {
	if in.OwnerID != nil {
		if err := access.RequireAll(ctx, client, gen.TypeUser, []int{*in.OwnerID}, "ownerId", "owner"); err != nil {
			return nil, err
		}
	}
	u := client.Computer.UpdateOneID(in.ID).SetNillableHostname(in.Hostname).SetNillableOwnerID(in.OwnerID)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	if in.ClearOwner != nil && *in.ClearOwner {
		u.ClearOwner()
	}
	c, err := u.Save(ctx)
	return c, problem.MissingIfNotFound(err, "id", "computer")
}

func DeleteComputer(ctx context.Context, client *gen.Client, id int) error {
	return problem.MissingIfNotFound(client.Computer.DeleteOneID(id).Exec(ctx), "id", "computer")
}

// CreateDataSetInput creates a data set.
type CreateDataSetInput struct {
	Name        string
	Description *string
}

func CreateDataSet(ctx context.Context, client *gen.Client, in CreateDataSetInput) (*gen.DataSet, error) {
	return client.DataSet.Create().SetName(strings.TrimSpace(in.Name)).SetNillableDescription(in.Description).Save(ctx)
}

// UpdateDataSetInput renames or describes a data set.
type UpdateDataSetInput struct {
	ID          int
	Name        *string
	Description *string
}

func UpdateDataSet(ctx context.Context, client *gen.Client, in UpdateDataSetInput) (*gen.DataSet, error) {
	u := client.DataSet.UpdateOneID(in.ID).SetNillableDescription(in.Description)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	d, err := u.Save(ctx)
	return d, problem.MissingIfNotFound(err, "id", "data set")
}

// DeleteDataSet deletes a data set with its hierarchy and every grant on it.
func DeleteDataSet(ctx context.Context, client *gen.Client, id int) error {
	return problem.MissingIfNotFound(client.DataSet.DeleteOneID(id).Exec(ctx), "id", "data set")
}

// CreateHierarchyNodeInput adds a level beneath a data set or beneath another node.
type CreateHierarchyNodeInput struct {
	DataSetID int
	ParentID  *int
	Name      string
}

// CreateHierarchyNode adds a node; its path lists its ancestors so that "is this
// node within that one" is a prefix test.
func CreateHierarchyNode(ctx context.Context, client *gen.Client, in CreateHierarchyNodeInput) (*gen.HierarchyNode, error) {
	if err := access.RequireAll(ctx, client, gen.TypeDataSet, []int{in.DataSetID}, "dataSetId", "data set"); err != nil {
		return nil, err
	}
	parentPath, depth := "/", 0
	if in.ParentID != nil {
		p, err := client.HierarchyNode.Query().Where(hierarchynode.ID(*in.ParentID)).Only(ctx)
		if err != nil {
			return nil, problem.MissingIfNotFound(err, "parentId", "parent node")
		}
		if p.DataSetID != in.DataSetID {
			return nil, problem.BadInput("parentId", "the parent node belongs to another data set")
		}
		parentPath, depth = p.Path, p.Depth+1
	}
	n, err := client.HierarchyNode.Create().SetDataSetID(in.DataSetID).SetNillableParentID(in.ParentID).
		SetName(strings.TrimSpace(in.Name)).SetDepth(depth).Save(ctx)
	if err != nil {
		return nil, err
	}
	return client.HierarchyNode.UpdateOne(n).SetPath(fmt.Sprintf("%s%d/", parentPath, n.ID)).Save(ctx)
}

// RenameInput renames a tree node (hierarchy node or organisation unit).
type RenameInput struct {
	ID   int
	Name string
}

func RenameHierarchyNode(ctx context.Context, client *gen.Client, in RenameInput) (*gen.HierarchyNode, error) {
	n, err := client.HierarchyNode.UpdateOneID(in.ID).SetName(strings.TrimSpace(in.Name)).Save(ctx)
	return n, problem.MissingIfNotFound(err, "id", "hierarchy node")
}

// DeleteHierarchyNode deletes a node with its subtree and the grants on them.
func DeleteHierarchyNode(ctx context.Context, client *gen.Client, id int) error {
	n, err := client.HierarchyNode.Get(ctx, id)
	if err != nil {
		return problem.MissingIfNotFound(err, "id", "hierarchy node")
	}
	_, err = client.HierarchyNode.Delete().
		Where(hierarchynode.DataSetID(n.DataSetID), hierarchynode.PathHasPrefix(n.Path)).Exec(ctx)
	return err
}

// CreateOrgUnitInput adds a unit to the organisation tree.
type CreateOrgUnitInput struct {
	ParentID *int
	Name     string
}

func CreateOrgUnit(ctx context.Context, client *gen.Client, in CreateOrgUnitInput) (*gen.OrgUnit, error) {
	parentPath, depth := "/", 0
	if in.ParentID != nil {
		p, err := client.OrgUnit.Query().Where(orgunit.ID(*in.ParentID)).Only(ctx)
		if err != nil {
			return nil, problem.MissingIfNotFound(err, "parentId", "parent unit")
		}
		parentPath, depth = p.Path, p.Depth+1
	}
	u, err := client.OrgUnit.Create().SetNillableParentID(in.ParentID).SetName(strings.TrimSpace(in.Name)).
		SetDepth(depth).Save(ctx)
	if err != nil {
		return nil, err
	}
	return client.OrgUnit.UpdateOne(u).SetPath(fmt.Sprintf("%s%d/", parentPath, u.ID)).Save(ctx)
}

func RenameOrgUnit(ctx context.Context, client *gen.Client, in RenameInput) (*gen.OrgUnit, error) {
	u, err := client.OrgUnit.UpdateOneID(in.ID).SetName(strings.TrimSpace(in.Name)).Save(ctx)
	return u, problem.MissingIfNotFound(err, "id", "organisation unit")
}

// DeleteOrgUnit deletes a unit with everything beneath it.
func DeleteOrgUnit(ctx context.Context, client *gen.Client, id int) error {
	u, err := client.OrgUnit.Get(ctx, id)
	if err != nil {
		return problem.MissingIfNotFound(err, "id", "organisation unit")
	}
	_, err = client.OrgUnit.Delete().Where(orgunit.PathHasPrefix(u.Path)).Exec(ctx)
	return err
}

// CreateDashboardInput registers a management dashboard.
type CreateDashboardInput struct {
	Name        string
	Kind        dashboard.Kind
	Description *string
}

func CreateDashboard(ctx context.Context, client *gen.Client, in CreateDashboardInput) (*gen.Dashboard, error) {
	return client.Dashboard.Create().SetName(strings.TrimSpace(in.Name)).SetKind(in.Kind).
		SetNillableDescription(in.Description).Save(ctx)
}

// UpdateDashboardInput changes a dashboard.
type UpdateDashboardInput struct {
	ID          int
	Name        *string
	Kind        *dashboard.Kind
	Description *string
}

func UpdateDashboard(ctx context.Context, client *gen.Client, in UpdateDashboardInput) (*gen.Dashboard, error) {
	u := client.Dashboard.UpdateOneID(in.ID).SetNillableKind(in.Kind).SetNillableDescription(in.Description)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	d, err := u.Save(ctx)
	return d, problem.MissingIfNotFound(err, "id", "dashboard")
}

func DeleteDashboard(ctx context.Context, client *gen.Client, id int) error {
	return problem.MissingIfNotFound(client.Dashboard.DeleteOneID(id).Exec(ctx), "id", "dashboard")
}
