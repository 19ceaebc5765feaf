package ent

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
