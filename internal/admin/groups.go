package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/computer"
	"latchkey/ent/group"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/problem"
)

// CreateGroupInput creates a group, optionally with members.
type CreateGroupInput struct {
	Name        string
	Description *string
	UserIDs     []int
	ComputerIDs []int
}

// CreateGroup creates a group; its members get what the mapping rules for its
// name give.
func CreateGroup(ctx context.Context, client *gen.Client, in CreateGroupInput) (*gen.Group, error) {
	if err := membersExist(ctx, client, in.UserIDs, in.ComputerIDs); err != nil {
		return nil, err
	}
	users := access.Unique(in.UserIDs)
	g, err := client.Group.Create().SetName(strings.TrimSpace(in.Name)).SetNillableDescription(in.Description).
		AddUserIDs(users...).AddComputerIDs(access.Unique(in.ComputerIDs)...).Save(ctx)
	if err != nil {
		return nil, err
	}
	return g, access.GroupMembersJoined(ctx, client, g.ID, g.Name, users)
}

// UpdateGroupInput renames or describes a group.
type UpdateGroupInput struct {
	ID          int
	Name        *string
	Description *string
}

// UpdateGroup renames or describes a group; a rename keeps the members' rights in
// step with the mapping rules of the new name.
func UpdateGroup(ctx context.Context, client *gen.Client, in UpdateGroupInput) (*gen.Group, error) {
	old, err := client.Group.Get(ctx, in.ID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "id", "group")
	}
	u := client.Group.UpdateOne(old).SetNillableDescription(in.Description)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	g, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	return g, access.GroupRenamed(ctx, client, g.ID, old.Name, g.Name)
}

// DeleteGroup deletes a group; its members stay, and viewable-group grants of it go,
// as do the types its mapping rules linked (unless something else keeps them).
func DeleteGroup(ctx context.Context, client *gen.Client, id int) error {
	if err := access.GroupDeleting(ctx, client, id); err != nil {
		return err
	}
	return problem.MissingIfNotFound(client.Group.DeleteOneID(id).Exec(ctx), "id", "group")
}

// GroupMembersInput names a group and users and computers to add or remove.
type GroupMembersInput struct {
	GroupID     int
	UserIDs     []int
	ComputerIDs []int
}

// AddGroupMembers adds members; ones already in the group stay as they are.
func AddGroupMembers(ctx context.Context, client *gen.Client, in GroupMembersInput) (*gen.Group, error) {
	if err := membersExist(ctx, client, in.UserIDs, in.ComputerIDs); err != nil {
		return nil, err
	}
	users, computers, err := currentMembers(ctx, client, in.GroupID, in.UserIDs, in.ComputerIDs)
	if err != nil {
		return nil, err
	}
	joined := missing(in.UserIDs, users)
	g, err := client.Group.UpdateOneID(in.GroupID).
		AddUserIDs(joined...).AddComputerIDs(missing(in.ComputerIDs, computers)...).Save(ctx)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "groupId", "group")
	}
	return g, access.GroupMembersJoined(ctx, client, g.ID, g.Name, joined)
}

// RemoveGroupMembers removes members; ids that are not members are ignored. Those
// who leave lose the types the group's mapping rules linked, unless something else
// keeps them.
func RemoveGroupMembers(ctx context.Context, client *gen.Client, in GroupMembersInput) (*gen.Group, error) {
	users := access.Unique(in.UserIDs)
	g, err := client.Group.UpdateOneID(in.GroupID).
		RemoveUserIDs(users...).RemoveComputerIDs(access.Unique(in.ComputerIDs)...).Save(ctx)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "groupId", "group")
	}
	return g, access.GroupMembersLeft(ctx, client, g.ID, users)
}

func membersExist(ctx context.Context, client *gen.Client, userIDs, computerIDs []int) error {
	if err := access.RequireAll(ctx, client, gen.TypeUser, userIDs, "userIds", "users"); err != nil {
		return err
	}
	return access.RequireAll(ctx, client, gen.TypeComputer, computerIDs, "computerIds", "computers")
}

// currentMembers says which of the given users and computers are already in the
// group: it asks about those ids only, so its cost does not grow with the group.
func currentMembers(ctx context.Context, client *gen.Client, groupID int, userIDs, computerIDs []int) (users, computers map[int]bool, err error) {
	if ok, err := client.Group.Query().Where(group.ID(groupID)).Exist(ctx); err != nil {
		return nil, nil, err
	} else if !ok {
		return nil, nil, problem.Missing("groupId", "group")
	}
	users, computers = map[int]bool{}, map[int]bool{}
	if ids := access.Unique(userIDs); len(ids) > 0 {
		in, err := client.User.Query().Where(user.IDIn(ids...), user.HasGroupsWith(group.ID(groupID))).IDs(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range in {
			users[id] = true
		}
	}
	if ids := access.Unique(computerIDs); len(ids) > 0 {
		in, err := client.Computer.Query().Where(computer.IDIn(ids...), computer.HasGroupsWith(group.ID(groupID))).IDs(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range in {
			computers[id] = true
		}
	}
	return users, computers, nil
}

func missing(ids []int, have map[int]bool) []int {
	var out []int
	for _, id := range access.Unique(ids) {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

// ImportGroupCsvInput is a CSV upload of groups (ActivTrak's "upload a group from a
// .csv file"): a header row naming a group column ("group" or "name") and member
// columns ("user"/"userName" and/or "computer"), then one member per row.
type ImportGroupCsvInput struct {
	Csv string
}

// GroupImport says what an import did.
type GroupImport struct {
	Groups        []*gen.Group
	CreatedGroups int
	AddedMembers  int
}

// ImportGroupCsv creates the groups a CSV names that do not exist yet (source CSV)
// and adds the listed members to each; members already present stay. An unknown
// user or computer fails the whole import, naming its line.
func ImportGroupCsv(ctx context.Context, client *gen.Client, in ImportGroupCsvInput) (*GroupImport, error) {
	rows, err := parseGroupCsv(in.Csv)
	if err != nil {
		return nil, err
	}
	var order []string
	wanted := map[string]*csvGroup{}
	var userNames, computerNames []string
	for _, r := range rows {
		g := wanted[r.group]
		if g == nil {
			g = &csvGroup{}
			wanted[r.group] = g
			order = append(order, r.group)
		}
		if r.user != "" {
			g.users = append(g.users, r)
			userNames = append(userNames, strings.ToLower(r.user))
		}
		if r.computer != "" {
			g.computers = append(g.computers, r)
			computerNames = append(computerNames, r.computer)
		}
	}
	users, err := client.User.Query().Where(user.UserNameKeyIn(userNames...)).Select(user.FieldID, user.FieldUserNameKey).All(ctx)
	if err != nil {
		return nil, err
	}
	userID := make(map[string]int, len(users))
	for _, u := range users {
		userID[u.UserNameKey] = u.ID
	}
	computers, err := client.Computer.Query().Where(computer.NameIn(computerNames...)).Select(computer.FieldID, computer.FieldName).All(ctx)
	if err != nil {
		return nil, err
	}
	computerID := make(map[string]int, len(computers))
	for _, c := range computers {
		computerID[c.Name] = c.ID
	}
	existing, err := client.Group.Query().Where(group.NameIn(order...)).All(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*gen.Group, len(existing))
	for _, g := range existing {
		byName[g.Name] = g
	}
	out := &GroupImport{}
	for _, name := range order {
		want := wanted[name]
		var uids, cids []int
		for _, r := range want.users {
			id, ok := userID[strings.ToLower(r.user)]
			if !ok {
				return nil, problem.BadInput("csv", "line %d: no user with userName %q", r.line, r.user)
			}
			uids = append(uids, id)
		}
		for _, r := range want.computers {
			id, ok := computerID[r.computer]
			if !ok {
				return nil, problem.BadInput("csv", "line %d: no computer named %q", r.line, r.computer)
			}
			cids = append(cids, id)
		}
		g := byName[name]
		if g == nil {
			if g, err = client.Group.Create().SetName(name).SetSource(group.SourceCSV).Save(ctx); err != nil {
				return nil, err
			}
			out.CreatedGroups++
		}
		haveUsers, haveComputers, err := currentMembers(ctx, client, g.ID, uids, cids)
		if err != nil {
			return nil, err
		}
		addU, addC := missing(uids, haveUsers), missing(cids, haveComputers)
		if len(addU)+len(addC) > 0 {
			if g, err = client.Group.UpdateOne(g).AddUserIDs(addU...).AddComputerIDs(addC...).Save(ctx); err != nil {
				return nil, err
			}
			if err := access.GroupMembersJoined(ctx, client, g.ID, g.Name, addU); err != nil {
				return nil, err
			}
		}
		out.AddedMembers += len(addU) + len(addC)
		out.Groups = append(out.Groups, g)
	}
	return out, nil
}

type csvRow struct {
	line                  int
	group, user, computer string
}

type csvGroup struct{ users, computers []csvRow }

func parseGroupCsv(text string) ([]csvRow, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, problem.BadInput("csv", "the CSV is empty or unreadable")
	}
	col := map[string]int{}
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "group", "name", "group name", "groupname":
			col["group"] = i
		case "user", "username", "user name", "user id", "userid":
			col["user"] = i
		case "computer", "computer name", "computername":
			col["computer"] = i
		}
	}
	if _, ok := col["group"]; !ok {
		return nil, problem.BadInput("csv", "the header must name a group column (group or name)")
	}
	cell := func(rec []string, name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var rows []csvRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, problem.BadInput("csv", "line %d: %v", line, err)
		}
		row := csvRow{line: line, group: cell(rec, "group"), user: cell(rec, "user"), computer: cell(rec, "computer")}
		if row.group == "" && row.user == "" && row.computer == "" {
			continue
		}
		if row.group == "" {
			return nil, problem.BadInput("csv", "line %d: the group name is empty", line)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, problem.BadInput("csv", "the CSV lists no groups")
	}
	return rows, nil
}
