package access

// Every test of this package checks that a snapshot derived from an earlier one
// (after a change that only gives grants, or writes none) is what reading gives.
func init() { checkDerivedSnapshots = true }
