package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// The authorization matrix: every registered route × every kind of actor ×
// own and other organization, with the status each must get, and a check
// that no response carries the other organization's data. A route missing
// from the rules table fails the test, so new routes must be added here.

// access says who may use a route.
type access int

const (
	public       access = iota // anyone, signed in or not
	guestOnly                  // sign-in pages: signed-in users are sent away
	signedIn                   // any signed-in user, no organization
	orgMember                  // any member of the organization
	orgAdmin                   // owner or admin of the organization
	orgOwner                   // owner of the organization
	orgBilling                 // owner, admin or billing of the organization
	wsViewer                   // anyone who can see the target workspace
	wsManager                  // anyone who manages the target workspace
	wsParentMgr                // anyone who manages the target workspace's parent (move, archive)
	apiKey                     // the usage API: a bearer API key, never a session (api_test.go covers keys)
	providerHook               // a payment provider's signed webhook, never a session (stripe_webhook_test.go covers signatures)
)

// rule is a route's access and the form it is sent with.
type rule struct {
	access access
	form   url.Values
	also   []int // statuses that also count as served (e.g. 404 for an unknown session of one's own)
}

var routeRules = map[string]rule{
	"GET /healthz":                         {access: public},
	"GET /readyz":                          {access: public},
	"GET /metrics":                         {access: public},
	"GET /static/*":                        {access: public},
	"GET /api/openapi.json":                {access: public},
	"POST /api/v1/usage":                   {access: apiKey},
	"GET /api/v1/usage":                    {access: apiKey},
	"GET /api/v1/balance":                  {access: apiKey},
	"POST /webhooks/stripe":                {access: providerHook},
	"GET /":                                {access: public},
	"GET /signup":                          {access: guestOnly},
	"POST /signup":                         {access: guestOnly},
	"GET /login":                           {access: guestOnly},
	"POST /login":                          {access: guestOnly},
	"POST /logout":                         {access: public},
	"GET /forgot":                          {access: public},
	"POST /forgot":                         {access: public},
	"GET /reset/:token":                    {access: public},
	"POST /reset/:token":                   {access: public},
	"GET /verify/:token":                   {access: public},
	"POST /verify/:token":                  {access: public},
	"GET /dev/mail":                        {access: public},
	"GET /dev/mail/:id":                    {access: public},
	"GET /dev/mail/:id/html":               {access: public},
	"POST /verify/resend":                  {access: signedIn},
	"GET /account":                         {access: signedIn},
	"POST /account/name":                   {access: signedIn},
	"POST /account/password":               {access: signedIn},
	"POST /account/sessions/revoke":        {access: signedIn, form: url.Values{"session": {"nope"}}, also: []int{404}},
	"POST /account/sessions/revoke-others": {access: signedIn},
	"GET /orgs":                            {access: signedIn},
	"GET /orgs/new":                        {access: signedIn},
	"POST /orgs/new":                       {access: signedIn},

	"GET /orgs/:org":                                     {access: orgMember},
	"GET /orgs/:org/logo":                                {access: orgMember},
	"GET /orgs/:org/settings":                            {access: orgAdmin},
	"POST /orgs/:org/settings":                           {access: orgAdmin},
	"POST /orgs/:org/settings/logo":                      {access: orgAdmin},
	"POST /orgs/:org/settings/logo/delete":               {access: orgAdmin},
	"POST /orgs/:org/delete":                             {access: orgOwner},
	"POST /orgs/:org/restore":                            {access: orgOwner},
	"GET /orgs/:org/workspaces":                          {access: orgMember},
	"POST /orgs/:org/workspaces":                         {access: wsManager, form: url.Values{"parent_id": {":ws"}}},
	"GET /orgs/:org/workspaces/:ws":                      {access: wsViewer},
	"POST /orgs/:org/workspaces/:ws":                     {access: wsManager},
	"GET /orgs/:org/workspaces/:ws/row":                  {access: wsViewer},
	"GET /orgs/:org/workspaces/:ws/new":                  {access: wsManager},
	"GET /orgs/:org/workspaces/:ws/edit":                 {access: wsManager},
	"GET /orgs/:org/workspaces/:ws/move":                 {access: wsParentMgr},
	"POST /orgs/:org/workspaces/:ws/move":                {access: wsParentMgr},
	"POST /orgs/:org/workspaces/:ws/archive":             {access: wsParentMgr},
	"POST /orgs/:org/workspaces/:ws/restore":             {access: wsParentMgr},
	"POST /orgs/:org/workspaces/:ws/grants":              {access: wsManager, form: url.Values{"role": {"bogus"}}},
	"GET /orgs/:org/workspaces/:ws/credits":              {access: wsManager},
	"POST /orgs/:org/workspaces/:ws/credits":             {access: wsManager, form: url.Values{"amount": {"1"}}},
	"POST /orgs/:org/workspaces/:ws/funding":             {access: wsParentMgr, form: url.Values{"mode": {"bogus"}}},
	"POST /orgs/:org/funding":                            {access: orgAdmin, form: url.Values{"mode": {"bogus"}}},
	"GET /orgs/:org/workspaces/:ws/limit":                {access: wsParentMgr},
	"POST /orgs/:org/workspaces/:ws/limit":               {access: wsParentMgr, form: url.Values{"monthly_limit": {"bogus"}}},
	"POST /orgs/:org/workspaces/:ws/keys":                {access: wsManager, form: url.Values{"name": {""}}},
	"GET /orgs/:org/workspaces/:ws/keys/:key/revoke":     {access: wsManager, also: []int{404}}, // :key is no key of the workspace
	"POST /orgs/:org/workspaces/:ws/keys/:key/revoke":    {access: wsManager, also: []int{404}},
	"GET /orgs/:org/members/:user/limit":                 {access: orgAdmin},
	"POST /orgs/:org/members/:user/limit":                {access: orgAdmin, form: url.Values{"monthly_limit": {"bogus"}}},
	"POST /orgs/:org/workspaces/:ws/grants/:user/delete": {access: wsManager},
	"GET /orgs/:org/access":                              {access: orgAdmin},
	"GET /invites/:token":                                {access: public},
	"GET /invites/:token/logo":                           {access: public},
	"POST /invites/:token/accept":                        {access: signedIn},
	"POST /invites/:token/decline":                       {access: signedIn},
	"GET /orgs/:org/members":                             {access: orgAdmin},
	"GET /orgs/:org/members.csv":                         {access: orgAdmin},
	"GET /orgs/:org/members/invite":                      {access: orgAdmin},
	"POST /orgs/:org/invitations":                        {access: orgAdmin},
	"POST /orgs/:org/invitations/:id/resend":             {access: orgAdmin},
	"POST /orgs/:org/invitations/:id/revoke":             {access: orgAdmin},
	"POST /orgs/:org/members/:user/role":                 {access: orgAdmin, form: url.Values{"role": {"billing"}}},
	"POST /orgs/:org/members/:user/suspend":              {access: orgAdmin},
	"POST /orgs/:org/members/:user/restore":              {access: orgAdmin},
	"POST /orgs/:org/members/:user/remove":               {access: orgAdmin},
	"POST /orgs/:org/leave":                              {access: orgMember},
	"POST /orgs/:org/access/:user":                       {access: orgAdmin, form: url.Values{"role": {"member"}, "workspace_id": {":ws"}}},
	"GET /orgs/:org/audit":                               {access: orgAdmin},
	"GET /orgs/:org/audit.csv":                           {access: orgAdmin},
	"GET /orgs/:org/history":                             {access: orgMember},
	"GET /orgs/:org/history.csv":                         {access: orgMember},
	"GET /orgs/:org/prices":                              {access: orgBilling},
	"GET /orgs/:org/billing":                             {access: orgBilling},
	"POST /orgs/:org/billing/checkout":                   {access: orgBilling, form: url.Values{"kind": {"plan"}, "key": {"bogus"}}},
	"POST /orgs/:org/billing/auto-recharge":              {access: orgBilling, form: url.Values{"threshold": {"bogus"}}},
	"GET /orgs/:org/billing/checkout/:id":                {access: orgBilling, also: []int{404}}, // :id is no checkout reference
	"POST /orgs/:org/billing/checkout/:id":               {access: orgBilling, also: []int{404}},
	"GET /orgs/:org/billing/invoices/:id":                {access: orgBilling, also: []int{404}}, // :id is no invoice of the organization
	"GET /orgs/:org/billing/invoices/:id/pdf":            {access: orgBilling, also: []int{404}},
	"GET /orgs/:org/billing/subscription":                {access: orgBilling, also: []int{303}}, // no running subscription: back to the tab
	"POST /orgs/:org/billing/subscription":               {access: orgBilling, form: url.Values{"action": {"explode"}}},
	"POST /orgs/:org/billing/upgrade":                    {access: orgBilling, form: url.Values{"plan": {"bogus"}}},
	"POST /orgs/:org/billing/portal":                     {access: orgBilling, also: []int{303}}, // no customer yet: back to the tab
	"GET /orgs/:org/notifications":                       {access: orgMember},
	"GET /orgs/:org/notifications/menu":                  {access: orgMember},
	"POST /orgs/:org/notifications/read":                 {access: orgMember},
	"POST /orgs/:org/notifications/settings":             {access: orgAdmin, form: url.Values{"thresholds": {"bogus"}}},
}

// actor is one kind of caller.
type actor struct {
	name    string
	email   string // "" for logged out
	role    orgbase.Role
	member  bool // member of the own organization
	canView bool // can see the target workspace
	manages bool // manages the target workspace
	mgrPar  bool // manages the target workspace's parent
}

// Markers that identify each organization's data in a response body.
const (
	ownMarker   = "Acme Visible Works"
	otherMarker = "Zeta Hidden Holdings"
)

type world struct {
	e        *env
	orgID    int64
	members  []worldMember // restored before every case (leave and remove take them away)
	ownInv   int64
	otherInv int64
	ownSlug  string
	ownWS    int64 // Primary > Team > Project: the target workspace is Project
	ownUser  int64 // a member whose grant on Project the grant routes act on
	other    string
	otherWS  int64
	otherUsr int64
	team     int64
	users    map[string]int64
}

func buildWorld(t *testing.T, e *env) *world {
	ctx := context.Background()
	w := &world{e: e, users: map[string]int64{}}
	mk := func(name, email string) *orgbase.User {
		u, err := e.db.CreateUser(ctx, email, name, "x", store.NewToken{Hash: "v-" + email, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		w.users[email] = u.ID
		return u
	}
	owner := mk("Olive Owner", "owner@acme.test")
	org, err := e.db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: ownMarker, Slug: "acme-visible"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetOrgLogo(ctx, org.ID, "image/png", []byte("\x89PNG\r\n\x1a\nlogo")); err != nil {
		t.Fatal(err)
	}
	w.ownSlug = org.Slug
	root, _ := e.db.FindPrimaryWorkspace(ctx, org.ID)
	team, err := e.db.CreateWorkspace(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.NewWorkspace{ParentID: root.ID, Name: "Team"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	project, err := e.db.CreateWorkspace(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.NewWorkspace{ParentID: team.ID, Name: "Project"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	sibling, err := e.db.CreateWorkspace(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.NewWorkspace{ParentID: root.ID, Name: "Sibling"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	w.ownWS, w.team = project.ID, team.ID
	w.orgID = org.ID
	add := func(email string, role orgbase.Role, ws int64, wr orgbase.WorkspaceRole) {
		u := mk(email, email)
		w.members = append(w.members, worldMember{org.ID, u.ID, role, ws, wr})
		if err := e.db.AddMember(ctx, org.ID, u.ID, role); err != nil {
			t.Fatal(err)
		}
		if ws != 0 {
			if err := e.db.SetGrant(ctx, org.ID, orgbase.OperatorAccess(org.ID), ws, u.ID, wr); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("admin@acme.test", orgbase.RoleAdmin, 0, "")
	add("billing@acme.test", orgbase.RoleBilling, 0, "")
	add("teammgr@acme.test", orgbase.RoleMember, team.ID, orgbase.WorkspaceManager)
	add("projmgr@acme.test", orgbase.RoleMember, project.ID, orgbase.WorkspaceManager)
	add("teammember@acme.test", orgbase.RoleMember, team.ID, orgbase.WorkspaceMember)
	add("nogrant@acme.test", orgbase.RoleMember, 0, "")
	add("siblingmgr@acme.test", orgbase.RoleMember, sibling.ID, orgbase.WorkspaceManager)
	add("victim@acme.test", orgbase.RoleMember, project.ID, orgbase.WorkspaceMember)
	w.ownUser = w.users["victim@acme.test"]
	w.ownInv = invite(t, e, org.ID, root.ID, "invited@acme.test")

	zowner := mk("Zed Owner", "owner@zeta.test")
	zorg, err := e.db.CreateOrg(ctx, zowner.ID, store.NewOrg{Name: otherMarker, Slug: "zeta-hidden"})
	if err != nil {
		t.Fatal(err)
	}
	zroot, _ := e.db.FindPrimaryWorkspace(ctx, zorg.ID)
	zws, err := e.db.CreateWorkspace(ctx, zorg.ID, orgbase.OperatorAccess(zorg.ID), store.NewWorkspace{ParentID: zroot.ID, Name: "Zeta Secret Project"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetOrgLogo(ctx, zorg.ID, "image/png", []byte("\x89PNG\r\n\x1a\nzeta")); err != nil {
		t.Fatal(err)
	}
	zm := mk("Zelda Member", "member@zeta.test")
	if err := e.db.AddMember(ctx, zorg.ID, zm.ID, orgbase.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetGrant(ctx, zorg.ID, orgbase.OperatorAccess(zorg.ID), zws.ID, zm.ID, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	w.members = append(w.members, worldMember{zorg.ID, zm.ID, orgbase.RoleMember, zws.ID, orgbase.WorkspaceMember})
	w.other, w.otherWS, w.otherUsr = zorg.Slug, zws.ID, zm.ID
	w.otherInv = invite(t, e, zorg.ID, zroot.ID, "invited@zeta.test")
	return w
}

var actors = []actor{
	{name: "owner", email: "owner@acme.test", member: true, role: orgbase.RoleOwner, canView: true, manages: true, mgrPar: true},
	{name: "admin", email: "admin@acme.test", member: true, role: orgbase.RoleAdmin, canView: true, manages: true, mgrPar: true},
	{name: "billing", email: "billing@acme.test", member: true, role: orgbase.RoleBilling},
	{name: "manager-of-parent", email: "teammgr@acme.test", member: true, role: orgbase.RoleMember, canView: true, manages: true, mgrPar: true},
	{name: "manager-of-target", email: "projmgr@acme.test", member: true, role: orgbase.RoleMember, canView: true, manages: true},
	{name: "member-with-grant", email: "teammember@acme.test", member: true, role: orgbase.RoleMember, canView: true},
	{name: "member-without-grant", email: "nogrant@acme.test", member: true, role: orgbase.RoleMember},
	{name: "manager-of-sibling", email: "siblingmgr@acme.test", member: true, role: orgbase.RoleMember},
	{name: "other-org-member", email: "member@zeta.test"},
	{name: "logged-out"},
}

// plantUserSession stores a signed-in session for userID and returns its cookie.
func (w *world) plantUserSession(t *testing.T, userID int64) string {
	t.Helper()
	var b [32]byte
	rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	key, _ := hex.DecodeString(testSessionKey)
	sc := securecookie.New(key, nil)
	sc.MaxAge(int((720 * time.Hour).Seconds()))
	cookie, err := sc.Encode(sessionCookie, secret)
	if err != nil {
		t.Fatal(err)
	}
	now := w.e.clock.Now().UTC()
	var data bytes.Buffer
	if err := gob.NewEncoder(&data).Encode(map[any]any{"uid": userID, "created": now.Unix()}); err != nil {
		t.Fatal(err)
	}
	err = w.e.db.SaveSession(context.Background(), &orgbase.Session{ID: hashSecret(secret), UserID: userID, Data: data.Bytes(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return cookie
}

type worldMember struct {
	orgID  int64
	userID int64
	role   orgbase.Role
	ws     int64
	wr     orgbase.WorkspaceRole
}

func invite(t *testing.T, e *env, orgID, wsID int64, email string) int64 {
	t.Helper()
	invs, err := e.db.CreateInvitations(context.Background(), orgID, orgbase.OperatorAccess(orgID), store.InviteBatch{
		Role: orgbase.RoleMember, ExpiresAt: time.Now().Add(time.Hour),
		Grants:  []orgbase.InvitationGrant{{WorkspaceID: wsID, Role: orgbase.WorkspaceMember}},
		Invites: []store.NewInvite{{Email: email, TokenHash: "hash-" + email}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return invs[0].ID
}

// reset puts back what a previous case may have changed.
func (w *world) reset(t *testing.T) {
	ctx := context.Background()
	org, _, err := w.e.db.FindOrgForMember(ctx, w.ownSlug, w.users["owner@acme.test"])
	if err != nil {
		t.Fatalf("own org: %v", err)
	}
	_, _ = w.e.db.RestoreWorkspace(ctx, org.ID, orgbase.OperatorAccess(org.ID), w.ownWS)
	if _, err := w.e.db.MoveWorkspace(ctx, org.ID, orgbase.OperatorAccess(org.ID), w.ownWS, w.team, 5); err != nil {
		t.Fatalf("reset move: %v", err)
	}
	for _, m := range w.members {
		if err := w.e.db.AddMember(ctx, m.orgID, m.userID, m.role); err != nil && orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Fatalf("reset member: %v", err)
		}
		if err := w.e.db.ChangeRole(ctx, m.orgID, orgbase.OperatorAccess(m.orgID), m.userID, m.role); err != nil {
			t.Fatalf("reset role: %v", err)
		}
		if err := w.e.db.SetMemberStatus(ctx, m.orgID, orgbase.OperatorAccess(m.orgID), m.userID, orgbase.MemberActive); err != nil {
			t.Fatalf("reset status: %v", err)
		}
		if m.ws != 0 {
			if err := w.e.db.SetGrant(ctx, m.orgID, orgbase.OperatorAccess(m.orgID), m.ws, m.userID, m.wr); err != nil {
				t.Fatalf("reset grant: %v", err)
			}
		}
	}
}

type target struct {
	name string
	org  string
	ws   int64
	user int64
	inv  int64
}

func (w *world) fill(path string, tg target) string {
	r := strings.NewReplacer(":org", tg.org, ":ws", strconv.FormatInt(tg.ws, 10), ":user", strconv.FormatInt(tg.user, 10),
		":token", "bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtMDEyMzQ1Njc4OWFi", ":id", idFor(path, tg), "*", "css/app.css")
	return r.Replace(path)
}

// idFor is the :id of a path: the target's invitation on invitation routes.
func idFor(path string, tg target) string {
	if strings.Contains(path, "/invitations/:id") {
		return strconv.FormatInt(tg.inv, 10)
	}
	return "1"
}

// expected returns the statuses the actor may get, and whether that means
// the route served them (so the body may show the target's data).
func expected(a actor, ru rule, own bool) (ok func(int) bool, desc string) {
	in := func(codes ...int) func(int) bool {
		return func(s int) bool {
			for _, c := range codes {
				if s == c {
					return true
				}
			}
			return false
		}
	}
	served := func(s int) bool {
		for _, c := range ru.also {
			if s == c {
				return true
			}
		}
		return s < 500 && s != 403 && s != 404 && s != 401
	}
	loggedOut := a.email == ""
	switch ru.access {
	case public:
		return func(s int) bool { return s < 500 && s != 403 }, "any non-5xx, non-403"
	case apiKey:
		return in(401), "401: a session is not an API key"
	case providerHook:
		// 404 while Stripe is not enabled (as here), 400 without a valid signature.
		return in(400, 404), "400 or 404: a session is not a signature"
	case guestOnly:
		if loggedOut {
			return in(200, 422), "200 or 422"
		}
		return in(303), "303 away from the sign-in page"
	case signedIn:
		if loggedOut {
			return in(303), "303 to /login"
		}
		return served, "served"
	}
	// Organization routes.
	if loggedOut {
		return in(303), "303 to /login"
	}
	if !own || !a.member {
		return in(404), "404 (the organization's existence must not leak)"
	}
	allowed, hidden := false, false
	switch ru.access {
	case orgMember:
		allowed = true
	case orgAdmin:
		allowed = a.role == orgbase.RoleOwner || a.role == orgbase.RoleAdmin
	case orgOwner:
		allowed = a.role == orgbase.RoleOwner
	case orgBilling:
		allowed = a.role == orgbase.RoleOwner || a.role == orgbase.RoleAdmin || a.role == orgbase.RoleBilling
	case wsViewer:
		allowed, hidden = a.canView, !a.canView
	case wsManager:
		allowed, hidden = a.manages, !a.canView
	case wsParentMgr:
		allowed, hidden = a.mgrPar, !a.canView
	}
	switch {
	case allowed:
		return served, "served"
	case hidden:
		return in(404), "404 (a workspace the caller cannot see)"
	}
	return in(403), "403"
}

// registeredRoutes returns the server's routes as sorted, distinct
// "METHOD /path" keys, without Echo's own not-found handlers.
func registeredRoutes(t *testing.T, e *env) []string {
	t.Helper()
	router, ok := e.handler.(*echo.Echo)
	if !ok {
		t.Fatalf("server handler is %T, want *echo.Echo", e.handler)
	}
	seen := map[string]bool{}
	var routes []string
	for _, r := range router.Routes() {
		if strings.HasPrefix(r.Name, "github.com/labstack/echo") || r.Method == echo.RouteNotFound {
			continue // Echo's own not-found handlers for groups
		}
		if key := r.Method + " " + r.Path; !seen[key] {
			seen[key] = true
			routes = append(routes, key)
		}
	}
	sort.Strings(routes)
	return routes
}

func TestAuthorizationMatrix(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := buildWorld(t, e)
		routes := registeredRoutes(t, e)
		seen := map[string]bool{}
		for _, key := range routes {
			seen[key] = true
			if _, ok := routeRules[key]; !ok {
				t.Errorf("route %s is not in the authorization matrix: add it to routeRules", key)
			}
		}
		for key := range routeRules {
			if !seen[key] {
				t.Errorf("routeRules lists %s, which the router does not have", key)
			}
		}
		targets := []target{
			{name: "own-org", org: w.ownSlug, ws: w.ownWS, user: w.ownUser, inv: w.ownInv},
			{name: "other-org", org: w.other, ws: w.otherWS, user: w.otherUsr, inv: w.otherInv},
			{name: "own-org-other-workspace", org: w.ownSlug, ws: w.otherWS, user: w.otherUsr, inv: w.otherInv},
		}
		cases := 0
		for _, key := range routes {
			ru := routeRules[key]
			method, path, _ := strings.Cut(key, " ")
			for _, a := range actors {
				for _, tg := range targets {
					if !strings.Contains(path, ":org") && tg.name != "own-org" {
						continue // routes outside an organization have one target
					}
					if !strings.Contains(path, ":ws") && !strings.Contains(path, ":user") && !strings.Contains(path, ":id") && tg.name == "own-org-other-workspace" {
						continue
					}
					w.reset(t)
					cases++
					var wantOK func(int) bool
					var desc string
					inOwn := a.member || a.email == ""
					switch {
					case tg.name == "own-org-other-workspace":
						// Another organization's workspace or member id under our own
						// organization's URL: never found (or refused before lookup).
						if !a.member {
							wantOK, desc = expected(a, ru, false)
						} else if ru.access == wsViewer || ru.access == wsManager || ru.access == wsParentMgr {
							wantOK, desc = func(s int) bool { return s == 404 }, "404 (another organization's id)"
						} else {
							wantOK, desc = func(s int) bool { return s == 403 || s == 404 }, "403 or 404 (another organization's id)"
						}
					case tg.name == "other-org" && a.email == "member@zeta.test":
						// The other organization is this actor's own: a member with a member grant there.
						wantOK, desc = expected(actor{email: a.email, member: true, role: orgbase.RoleMember, canView: true}, ru, true)
					case tg.name == "other-org":
						wantOK, desc = expected(a, ru, false)
					default:
						wantOK, desc = expected(a, ru, inOwn)
					}
					c := e.client(t)
					if a.email != "" {
						c.setCookie(sessionCookie, w.plantUserSession(t, w.users[a.email]))
					}
					form := url.Values{}
					for k, vs := range ru.form {
						for _, v := range vs {
							form.Add(k, w.fill(v, tg))
						}
					}
					url := w.fill(path, tg)
					var r *resp
					if method == http.MethodGet {
						r = c.get(url)
					} else {
						r = c.post(url, form)
					}
					name := fmt.Sprintf("%s %s as %s on %s", method, url, a.name, tg.name)
					if !wantOK(r.status) {
						t.Errorf("%s: got %d, want %s", name, r.status, desc)
					}
					if a.email == "" && r.status == 303 && strings.Contains(path, ":org") && !strings.HasPrefix(r.header.Get("Location"), "/login") {
						t.Errorf("%s: redirected to %q, want /login", name, r.header.Get("Location"))
					}
					// No response may carry the other organization's data.
					leak := otherMarker
					if a.email == "member@zeta.test" {
						leak = ownMarker
					}
					if strings.Contains(r.body, leak) || strings.Contains(r.body, "Zeta Secret Project") && a.email != "member@zeta.test" {
						t.Errorf("%s: response contains another organization's data (%q)", name, leak)
					}
				}
			}
		}
		t.Logf("%d routes, %d cases", len(seen), cases)
	})
}
