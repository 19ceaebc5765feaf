package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestServiceClient: an admin creates an API client holding a role; the service gets
// tokens with the client-credentials grant and calls the API with the role's rights;
// a rotated secret replaces the old one.
func TestServiceClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		admin, _ := env.Bootstrap("acme", "admin@acme.test")
		ds := admin.Must(`mutation { createDataSet(input: {name: "West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		u := admin.Must(`mutation { createUser(input: {userName: "jane", email: "jane@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
		admin.Must(`mutation($u: ID!, $d: ID!) { grantRights(input: {userId: $u, grants: [{dataSetId: $d}, {right: "reports.view"}]}) { affectedCount } }`, map[string]any{"u": u, "d": ds})
		role := admin.Must(`mutation { createRole(input: {name: "Checker", rights: ["access.admin"], allData: true}) { role { id } } }`, nil).String("createRole.role.id")
		created := admin.Must(`mutation($r: ID!) { createApiClient(input: {name: "reports", roleIds: [$r]}) { clientId clientSecret apiClient { id name roles { name } } } }`, map[string]any{"r": role})
		id, secret := created.String("createApiClient.clientId"), created.String("createApiClient.clientSecret")
		if id == "" || secret == "" || created.String("createApiClient.apiClient.roles.0.name") != "Checker" {
			t.Fatalf("createApiClient: %v", created.Data)
		}
		token := func(id, secret string) (int, string) {
			form := url.Values{"grant_type": {"client_credentials"}}
			req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body.AccessToken
		}
		status, tok := token(id, secret)
		if status != http.StatusOK || tok == "" {
			t.Fatalf("client credentials: %d", status)
		}
		svc := env.Client(tok)
		if ok := svc.Must(`query($u: ID!, $d: ID!) { can(userId: $u, right: "reports.view", dataSetId: $d) }`, map[string]any{"u": u, "d": ds}); ok.Get("can") != true {
			t.Errorf("the service's can: %v", ok.Data)
		}
		if e := svc.Fail(`mutation { createUser(input: {userName: "x", email: "x@acme.test"}) { user { id } } }`, nil); e.Code() != "FORBIDDEN" {
			t.Errorf("the service beyond its role: %+v", e)
		}
		ev := admin.Must(`{ auditEvents(where: {action: "api_client.token"}) { totalCount edges { node { actorKind actor } } } }`, nil)
		if ev.Int("auditEvents.totalCount") != 1 || ev.String("auditEvents.edges.0.node.actorKind") != "SERVICE" {
			t.Errorf("token issue not audited with the client as actor: %v", ev.Data)
		}
		// Rotation: the new secret works, the old one no longer (keepOldSeconds 0).
		newSecret := admin.Must(`mutation($c: ID!) { rotateApiClientSecret(input: {id: $c}) { clientSecret } }`,
			map[string]any{"c": created.String("createApiClient.apiClient.id")}).String("rotateApiClientSecret.clientSecret")
		if status, _ := token(id, secret); status != http.StatusUnauthorized {
			t.Errorf("the rotated-out secret: HTTP %d", status)
		}
		if status, _ := token(id, newSecret); status != http.StatusOK {
			t.Errorf("the new secret: HTTP %d", status)
		}
		// Escalation: a caller cannot give a client a role with rights they lack.
		mgr := admin.Must(`mutation { createUser(input: {userName: "mgr", email: "mgr@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
		aa := admin.Must(`mutation { createRole(input: {name: "App Access", rights: ["access.admin"], allData: true}) { role { id } } }`, nil).String("createRole.role.id")
		admin.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": mgr, "r": aa})
		adminRole := admin.Must(`{ roles(where: {name: "Admin"}) { edges { node { id } } } }`, nil).String("roles.edges.0.node.id")
		manager := env.Client(env.Token(admin.Must(`{ account { id } }`, nil).String("account.id"), mgr))
		if e := manager.Fail(`mutation($r: ID!) { createApiClient(input: {name: "sneaky", roleIds: [$r]}) { clientId } }`, map[string]any{"r": adminRole}); e.Code() != "FORBIDDEN" {
			t.Errorf("a client with rights the caller lacks: %+v", e)
		}
		manager.Must(`mutation($r: ID!) { createApiClient(input: {name: "fine", roleIds: [$r]}) { clientId } }`, map[string]any{"r": aa})
	})
}
