package access

// Every test of this package checks that a snapshot derived from an earlier one
// (after a change that only gives grants, or writes none) is what reading gives.
func init() { checkDerivedSnapshots = true }

// CheckDerivedSnapshots turns that check on or off (benchmarks time the work the
// server does, without it) and returns what restores the setting.
func CheckDerivedSnapshots(on bool) (restore func()) {
	was := checkDerivedSnapshots
	checkDerivedSnapshots = on
	return func() { checkDerivedSnapshots = was }
}

// RevisionQueries counts the revision reads c has sent to the database.
func (c *Cache) RevisionQueries() int64 { return c.queries.Load() }

// SetChunkSize makes bulk reads and writes take n users at a time and returns what
// restores the size.
func SetChunkSize(n int) (restore func()) {
	was := chunkSize
	chunkSize = n
	return func() { chunkSize = was }
}

// CopiedGrantID and SplitCopiedGrantID expose how a copied right's id is made.
var (
	CopiedGrantID      = copiedGrantID
	SplitCopiedGrantID = splitCopiedGrantID
	UserCopyIDStart    = userCopyIDStart
	RightIDStart       = rightIDStart
)
