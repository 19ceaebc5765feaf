package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"latchkey/graph/relayid"
)

// runner holds one run's state: what setup discovered and what to clean up.
type runner struct {
	o   Options
	c   *client
	run string // a random id in the names of what the run creates
	raw *rawDB // nil without Options.DB

	mu    sync.Mutex
	notes []string

	serverLatencyFailed sync.Once // noted once: the server's latencies could not be read

	accountID  int
	subject    string // opaque id of the subject user
	subjectID  int
	checks     []check // (right, data set[, node]) the subject holds, and some it does not
	role       ref     // a role held through one of the subject's types (usersWithRole)
	whoCan     check   // the target of whoCan
	userNames  []string
	selCount   int // users in the selection
	benchRight []ref

	// One answer of each read operation, to compare the raw SQL with.
	canAnswers    []atomic.Int32 // per check: 0 not asked, 1 no, 2 yes
	batchSample   batchAnswer
	rightsSample  []rawRight
	roleSample    page
	whoCanSample  page
	summarySample *summary
	scimSample    map[string]string // userName → SCIM id

	// What the run created and must remove, in reverse order.
	cleanups []cleanupStep
	cleaned  bool
}

// ref is a record by opaque id, with a name for messages.
type ref struct {
	ID, Name string
}

// check is one (right, data set[, node]) question of can and canBatch.
type check struct {
	Right   string
	DataSet string // opaque id
	Node    string // opaque id, "" for the whole data set
	ds      int
	node    int
}

func (k check) vars() map[string]any {
	v := map[string]any{"right": k.Right, "dataSetId": k.DataSet}
	if k.Node != "" {
		v["nodeId"] = k.Node
	}
	return v
}

func (k check) String() string {
	if k.Node != "" {
		return fmt.Sprintf("%s on %s/%s", k.Right, k.DataSet, k.Node)
	}
	return fmt.Sprintf("%s on %s", k.Right, k.DataSet)
}

type cleanupStep struct {
	what string
	do   func(ctx context.Context) error
}

// onCleanup registers a step to undo something the run created.
func (r *runner) onCleanup(what string, do func(ctx context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, cleanupStep{what, do})
}

// cleanup runs the registered steps once, newest first, each failure a note.
func (r *runner) cleanup(ctx context.Context) {
	r.mu.Lock()
	steps := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	if len(steps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].do(ctx); err != nil {
			r.note("cleanup: %s: %v", steps[i].what, err)
		}
	}
}

const (
	qAccount = `query($s: String!, $d: String) {
  account { id }
  subject: users(first: 2, where: {userName: $s}) { edges { node { id } } }
  selection: users(first: 1, where: {department: $d}) { totalCount }
}`
	qSubject = `query($u: ID!) { node(id: $u) { ... on User {
  id userName active
  effectiveRights { right { key } dataSet { id } node { id } }
  dataSetAccess { dataSet { id } node { id } }
  roles { id name }
  types { id name roles { id name } }
} } }`
	qCatalogue = `query {
  rights(first: 500) { edges { node { key } } }
  roles(first: 100) { edges { node { id name } } }
  dataSets(first: 50) { edges { node { id } } }
  users(first: 200) { edges { node { userName } } }
}`
)

type idNode struct {
	ID string `json:"id"`
}

type subjectData struct {
	Node *struct {
		ID              string `json:"id"`
		UserName        string `json:"userName"`
		Active          bool   `json:"active"`
		EffectiveRights []struct {
			Right   struct{ Key string } `json:"right"`
			DataSet *idNode              `json:"dataSet"`
			Node    *idNode              `json:"node"`
		} `json:"effectiveRights"`
		DataSetAccess []struct {
			DataSet *idNode `json:"dataSet"`
			Node    *idNode `json:"node"`
		} `json:"dataSetAccess"`
		Roles []ref `json:"roles"`
		Types []struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Roles []ref  `json:"roles"`
		} `json:"types"`
	} `json:"node"`
}

// setupBare asks the bare stack about made-up ids: its can answers true to any.
func (r *runner) setupBare() {
	r.subject, r.subjectID = relayid.Encode(1), 1
	for i := range 8 {
		r.checks = append(r.checks, check{Right: fmt.Sprintf("bare.right.%d", i), DataSet: relayid.Encode(i + 1), ds: i + 1})
	}
}

// setup finds the subject and what the operations ask about, and makes sure the run
// has a SCIM token.
func (r *runner) setup(ctx context.Context) error {
	var acct struct {
		Account struct{ ID string } `json:"account"`
		Subject struct {
			Edges []struct{ Node idNode } `json:"edges"`
		} `json:"subject"`
		Selection struct {
			TotalCount int `json:"totalCount"`
		} `json:"selection"`
	}
	if _, err := r.c.gql(ctx, qAccount, map[string]any{"s": r.o.Subject, "d": r.o.Selection}, &acct); err != nil {
		var he *HTTPError
		if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
			return fmt.Errorf("bench: %w (HTTP %d at %s/query): %s", ErrUnauthorized, he.Status, r.c.base, he.Body)
		}
		var ge *GraphQLError
		if errors.As(err, &ge) {
			return fmt.Errorf("bench: %w, or it may not read the account: %v", ErrUnauthorized, err)
		}
		return fmt.Errorf("bench: reaching %s: %w", r.c.base, err)
	}
	var err error
	if r.accountID, err = relayid.Decode(acct.Account.ID); err != nil {
		return fmt.Errorf("bench: account id %q: %w", acct.Account.ID, err)
	}
	if len(acct.Subject.Edges) == 0 {
		return fmt.Errorf("bench: no user named %q in the account (the subject of the per-user reads)", r.o.Subject)
	}
	r.subject = acct.Subject.Edges[0].Node.ID
	if r.subjectID, err = relayid.Decode(r.subject); err != nil {
		return fmt.Errorf("bench: subject id %q: %w", r.subject, err)
	}
	r.selCount = acct.Selection.TotalCount
	if r.selCount == 0 {
		r.note("the selection (department %q) has no users: the bulk operations change nobody", r.o.Selection)
	}

	var subj subjectData
	if _, err := r.c.gql(ctx, qSubject, map[string]any{"u": r.subject}, &subj); err != nil {
		return fmt.Errorf("bench: reading the subject %s: %w", r.o.Subject, err)
	}
	if subj.Node == nil {
		return fmt.Errorf("bench: the subject %s (%s) cannot be read", r.o.Subject, r.subject)
	}
	var cat struct {
		Rights struct {
			Edges []struct{ Node struct{ Key string } } `json:"edges"`
		} `json:"rights"`
		Roles struct {
			Edges []struct{ Node ref } `json:"edges"`
		} `json:"roles"`
		DataSets struct {
			Edges []struct{ Node idNode } `json:"edges"`
		} `json:"dataSets"`
		Users struct {
			Edges []struct {
				Node struct{ UserName string }
			} `json:"edges"`
		} `json:"users"`
	}
	if _, err := r.c.gql(ctx, qCatalogue, nil, &cat); err != nil {
		return fmt.Errorf("bench: reading the catalogue: %w", err)
	}
	for _, e := range cat.Users.Edges {
		r.userNames = append(r.userNames, e.Node.UserName)
	}
	var rightKeys, dataSets []string
	for _, e := range cat.Rights.Edges {
		rightKeys = append(rightKeys, e.Node.Key)
	}
	for _, e := range cat.DataSets.Edges {
		dataSets = append(dataSets, e.Node.ID)
	}
	if err := r.buildChecks(subj, rightKeys, dataSets); err != nil {
		return err
	}

	// usersWithRole: a role the subject holds through a type (SPEC §2.7).
	for _, t := range subj.Node.Types {
		if len(t.Roles) > 0 {
			r.role = t.Roles[0]
			break
		}
	}
	if r.role.ID == "" {
		switch {
		case len(subj.Node.Roles) > 0:
			r.role = subj.Node.Roles[0]
		case len(cat.Roles.Edges) > 0:
			r.role = cat.Roles.Edges[0].Node
		}
		r.note("usersWithRole: the subject holds no role through a type; asking about role %q", r.role.Name)
	}

	if r.o.DB != nil {
		r.raw = &rawDB{db: r.o.DB, accountID: r.accountID}
	}
	return r.ensureSCIMToken(ctx)
}

// buildChecks picks what can and canBatch ask: the subject's effective rights on
// the scopes it has (or on its data-set access, for application rights), and a few
// questions whose answer is no — rights it lacks, and data sets it cannot reach.
func (r *runner) buildChecks(subj subjectData, rightKeys, dataSets []string) error {
	if len(dataSets) == 0 {
		return errors.New("bench: the account has no data set, so there is nothing for can to ask about")
	}
	u := subj.Node
	seen := map[string]bool{}
	// held: what the subject holds, where it holds it; the others are questions
	// expected to answer no (the server decides): a right limited to a level asked
	// about the whole data set, rights it lacks where it can look, and rights it has
	// where it cannot look.
	var held, broader, lacksRight, unreachable []check
	add := func(into *[]check, limit int, key, ds, node string) {
		k := check{Right: key, DataSet: ds, Node: node}
		if len(*into) >= limit || seen[k.String()] {
			return
		}
		seen[k.String()] = true
		*into = append(*into, k)
	}
	type scope struct{ ds, node string }
	var access []scope
	reachable := map[string]bool{}
	for _, a := range u.DataSetAccess {
		if a.DataSet == nil {
			continue
		}
		s := scope{ds: a.DataSet.ID}
		if a.Node != nil {
			s.node = a.Node.ID
		}
		access = append(access, s)
		reachable[s.ds] = true
	}
	holds := map[string]bool{}
	for _, er := range u.EffectiveRights {
		holds[er.Right.Key] = true
		if er.DataSet != nil {
			node := ""
			if er.Node != nil {
				node = er.Node.ID
				add(&broader, 4, er.Right.Key, er.DataSet.ID, "")
			}
			add(&held, 48, er.Right.Key, er.DataSet.ID, node)
			continue
		}
		for i, a := range access {
			if i >= 3 {
				break
			}
			add(&held, 48, er.Right.Key, a.ds, a.node)
		}
	}
	target := scope{ds: dataSets[0]}
	if len(access) > 0 {
		target = access[0]
	}
	for _, key := range rightKeys {
		if !holds[key] {
			add(&lacksRight, 8, key, target.ds, target.node)
		}
	}
	for _, ds := range dataSets {
		if !reachable[ds] && len(held) > 0 {
			add(&unreachable, 4, held[len(unreachable)%len(held)].Right, ds, "")
		}
	}
	lacking := slices.Concat(broader, lacksRight, unreachable)
	// Interleave, so every stretch of the rotation mixes yes and no.
	for i := 0; i < max(len(held), len(lacking)); i++ {
		if i < len(held) {
			r.checks = append(r.checks, held[i])
		}
		if i < len(lacking) {
			r.checks = append(r.checks, lacking[i])
		}
	}
	if len(r.checks) == 0 {
		return errors.New("bench: found no (right, data set) to ask can about")
	}
	for i := range r.checks {
		k := &r.checks[i]
		var err error
		if k.ds, err = relayid.Decode(k.DataSet); err != nil {
			return fmt.Errorf("bench: data set id %q: %w", k.DataSet, err)
		}
		if k.Node != "" {
			if k.node, err = relayid.Decode(k.Node); err != nil {
				return fmt.Errorf("bench: node id %q: %w", k.Node, err)
			}
		}
	}
	if len(held) == 0 {
		r.note("can: the subject %s holds no right, so every check answers no", r.o.Subject)
	}
	// whoCan asks about a right the subject holds on a whole data set, if any.
	r.whoCan = r.checks[0]
	for _, k := range held {
		if k.Node == "" {
			r.whoCan = k
			break
		}
	}
	for _, k := range r.checks {
		if k.Right == r.whoCan.Right && k.DataSet == r.whoCan.DataSet && k.Node == r.whoCan.Node {
			r.whoCan = k // with the decoded ids
			break
		}
	}
	return nil
}

// ensureSCIMToken creates a SCIM token for the run unless one was given, and
// revokes it at the end.
func (r *runner) ensureSCIMToken(ctx context.Context) error {
	if r.o.SCIMToken != "" {
		r.c.scimToken = r.o.SCIMToken
		return nil
	}
	var out struct {
		CreateScimToken struct {
			ScimToken idNode `json:"scimToken"`
			Token     string `json:"token"`
		} `json:"createScimToken"`
	}
	if _, err := r.c.gql(ctx, `mutation($n: String!) { createScimToken(input: {name: $n}) { scimToken { id } token } }`,
		map[string]any{"n": "bench-" + r.run}, &out); err != nil {
		return fmt.Errorf("bench: creating a SCIM token (pass one to skip this): %w", err)
	}
	if out.CreateScimToken.Token == "" {
		return errors.New("bench: createScimToken answered no token")
	}
	r.c.scimToken = out.CreateScimToken.Token
	id := out.CreateScimToken.ScimToken.ID
	r.onCleanup("revoking the SCIM token", func(ctx context.Context) error {
		_, err := r.c.gql(ctx, `mutation($id: ID!) { revokeScimToken(input: {id: $id}) { scimToken { revokedAt } } }`, map[string]any{"id": id}, nil)
		return err
	})
	return nil
}
