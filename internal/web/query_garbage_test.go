package web_test

import (
	"net/url"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// TestQueryGarbage sends the values fuzzing found troublesome (a NUL byte,
// invalid UTF-8, huge numbers, far-away dates, LIKE wildcards) to every
// query parameter of the organization's GET pages and exports, on both
// dialects: each page answers (200, or 422 naming the field), never 500.
// The decoders themselves are fuzzed in fuzz_internal_test.go; this checks
// that whatever they let through, the database takes.
func TestQueryGarbage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		owner.createOrg("Acme", "acme")
		values := []string{"a\x00b", "\xff\xfe", "%.", "-1", "9223372036854775808", "0000-01-01", "9999-12-31", "\u202e"}
		pages := map[string][]string{
			"/orgs/acme":               {"range", "from", "to", "workspace"},
			"/orgs/acme/members":       {"q", "sort", "dir", "page", "period", "closed"},
			"/orgs/acme/members.csv":   {"q", "sort", "period"},
			"/orgs/acme/audit":         {"actor", "action", "from", "to", "before"},
			"/orgs/acme/audit.csv":     {"actor", "action", "from", "to"},
			"/orgs/acme/history":       {"workspace", "tool", "me", "from", "to", "cursor"},
			"/orgs/acme/history.csv":   {"workspace", "tool", "from", "to"},
			"/orgs/acme/workspaces":    {"period", "archived", "level"},
			"/orgs/acme/notifications": {"before", "filter"},
			"/orgs/acme/billing":       {"notice"},
		}
		for path, params := range pages {
			for _, p := range params {
				for _, v := range values {
					q := url.Values{p: {v}}
					if p == "from" || p == "to" {
						q.Set("range", "custom")
					}
					owner.get(path + "?" + q.Encode()) // the client fails the test on a 5xx
				}
			}
		}
	})
}

// TestFormGarbage posts the same values to each field of the forms people
// fill in (account, organization, workspaces, credits, limits, keys,
// grants, invitations, alert levels, auto-recharge), one field at a time
// with the other fields valid, on both dialects: each form answers (a
// redirect, or 422 with the field's message), never 500.
func TestFormGarbage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := creditsWorld(t, e) // Tree Co: Clients and Acme with budgets, 1,000 credits in the pool
		org := "/orgs/" + w.slug
		clients := org + "/workspaces/" + id(w.clients.ID)
		acme := org + "/workspaces/" + id(w.acme.ID)
		mia := id(e.user(t, "mia@example.com").ID)
		pack := orgbase.Packs()[0].Key
		values := []string{"a\x00b", "\xff\xfe", "-1", "9223372036854775808", "=1+1", " "}
		forms := []struct {
			path string
			base url.Values
		}{
			{"/account/name", url.Values{"name": {"Olga Owner"}}},
			{"/account/password", url.Values{"current_password": {"wrong password"}, "new_password": {"another long passphrase"}}},
			{"/account/sessions/revoke", url.Values{"session": {"nope"}}},
			{"/orgs/new", url.Values{"name": {"Beta"}, "slug": {""}, "company_size": {""}, "creator_function": {""}, "plan": {""}}},
			{org + "/settings", url.Values{"name": {"Tree Co"}, "slug": {w.slug}, "billing_email": {"books@tree.example"}, "company_size": {""}, "creator_function": {""}}},
			{org + "/workspaces", url.Values{"parent_id": {id(w.primary.ID)}, "name": {"New"}, "description": {"d"}}},
			{acme, url.Values{"name": {"Acme"}, "description": {"d"}}},
			{clients + "/credits", url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {"1"}, "key": {"k"}}},
			{acme + "/credits", url.Values{"direction": {"out"}, "account": {id(w.clients.ID)}, "amount": {"0.001"}, "key": {"k2"}}},
			{clients + "/funding", url.Values{"mode": {"budget"}}},
			{org + "/funding", url.Values{"mode": {"shared"}}},
			{clients + "/limit", url.Values{"monthly_limit": {"100"}, "clear": {""}}},
			{clients + "/keys", url.Values{"name": {"CI"}}},
			{clients + "/grants", url.Values{"user_id": {mia}, "role": {"member"}}},
			{org + "/access/" + mia, url.Values{"workspace_id": {id(w.acme.ID)}, "role": {"manager"}}},
			{org + "/invitations", url.Values{"emails": {"new@example.com"}, "role": {"member"}, "note": {"hi"}, "days": {"7"}, "ws": {id(w.primary.ID)}}},
			{org + "/members/" + mia + "/role", url.Values{"role": {"member"}}},
			{org + "/members/" + mia + "/limit", url.Values{"monthly_limit": {"50"}}},
			{org + "/notifications/read", url.Values{"id": {"1"}, "view": {"page"}, "filter": {""}}},
			{org + "/notifications/settings", url.Values{"thresholds": {"50, 80, 100"}, "pool_percent": {"20"}}},
			{org + "/billing/auto-recharge", url.Values{"enabled": {"1"}, "threshold": {"5000"}, "pack": {pack}, "monthly_cap": {"120"}}},
			{org + "/billing/checkout", url.Values{"kind": {"pack"}, "key": {pack}}},
			{org + "/billing/subscription", url.Values{"action": {"cancel"}, "plan": {""}}},
		}
		for _, f := range forms {
			for field := range f.base {
				for _, v := range values {
					form := url.Values{}
					for k, vs := range f.base {
						form[k] = vs
					}
					form.Set(field, v)
					w.owner.post(f.path, form) // the client fails the test on a 5xx
				}
			}
		}
		w.checkLedger(t)
	})
}
