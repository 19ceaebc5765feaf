package ent

import "context"

// IDRangeStart returns the first id of table's range of universal ids: with ent's
// global ids every row of a table has an id in [start, start+1<<32). Ids that are
// built from rows' places in their ranges (access's copied grants) need it.
func IDRangeStart(table string) (int, bool) {
	for start, t := range nodeTypes {
		if t == table {
			return start, true
		}
	}
	return 0, false
}

// NodesOf is Noders without reporting to GraphQL: the nodes ids name, in their
// order, each table's in one statement, and per id the error that left it nil (not
// found, or its table's statement failed). A caller that resolves some ids itself
// (access's copied grants) reports every miss at its own place.
func (c *Client) NodesOf(ctx context.Context, ids []int) ([]Noder, []error) {
	nodes, errs := make([]Noder, len(ids)), make([]error, len(ids))
	tables := map[string][]int{}
	at := make(map[int][]int, len(ids))
	nopts := c.newNodeOpts(nil)
	for i, id := range ids {
		table, err := nopts.nodeType(ctx, id)
		if err != nil {
			errs[i] = err
			continue
		}
		if len(at[id]) == 0 {
			tables[table] = append(tables[table], id)
		}
		at[id] = append(at[id], i)
	}
	for table, ids := range tables {
		found, err := c.noders(ctx, table, ids)
		for j, id := range ids {
			for _, i := range at[id] {
				switch {
				case err != nil:
					errs[i] = err
				case found[j] == nil:
					errs[i] = &NotFoundError{label: table}
				default:
					nodes[i] = found[j]
				}
			}
		}
	}
	return nodes, errs
}
