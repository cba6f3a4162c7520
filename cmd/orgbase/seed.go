package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/password"
	"github.com/orgbase/orgbase/internal/store"
)

// The demo account `make run` prints; the other demo people share its password.
const (
	demoEmail    = "demo@orgbase.test"
	demoPassword = "orgbase-demo-password"
	demoOrgSlug  = "demo"
	demoGrant    = 25_000 * orgbase.Credit // the demo pool's credits
)

// demoTree is the demo organization's workspace tree: name → children.
type demoNode struct {
	name, description string
	children          []demoNode
}

var demoTree = []demoNode{
	{"Marketing", "Campaigns, content and brand", []demoNode{
		{"Campaigns", "Seasonal and product launch campaigns", nil},
		{"Brand", "Logos, imagery and style", nil},
	}},
	{"Engineering", "Product engineering", []demoNode{
		{"Platform", "APIs and infrastructure", nil},
		{"Research", "Model evaluation and prototypes", nil},
	}},
	{"Clients", "Work done for customers", []demoNode{
		{"Acme Corp", "Retail client", []demoNode{
			{"Website", "Product photography and copy", nil},
			{"Mobile app", "In-app assistant", nil},
		}},
		{"Globex", "Logistics client", nil},
	}},
}

// demoPerson is a member of the demo organization and their grants.
type demoPerson struct {
	email, name string
	role        orgbase.Role
	grants      map[string]orgbase.WorkspaceRole
}

var demoPeople = []demoPerson{
	{"amir@orgbase.test", "Amir Haddad", orgbase.RoleAdmin, nil},
	{"beth@orgbase.test", "Beth Okafor", orgbase.RoleBilling, nil},
	{"carla@orgbase.test", "Carla Mendes", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Clients": orgbase.WorkspaceManager}},
	{"dev@orgbase.test", "Dev Patel", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Acme Corp": orgbase.WorkspaceMember}},
	{"elena@orgbase.test", "Elena Rossi", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Marketing": orgbase.WorkspaceManager, "Research": orgbase.WorkspaceMember}},
	{"felix@orgbase.test", "Felix Wagner", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Engineering": orgbase.WorkspaceMember}},
	{"grace@orgbase.test", "Grace Kim", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Brand": orgbase.WorkspaceMember}},
	{"hiro@orgbase.test", "Hiro Tanaka", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Platform": orgbase.WorkspaceManager}},
	{"ines@orgbase.test", "Ines Duarte", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Website": orgbase.WorkspaceMember, "Campaigns": orgbase.WorkspaceMember}},
	{"jonas@orgbase.test", "Jonas Berg", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Mobile app": orgbase.WorkspaceMember}},
	{"kofi@orgbase.test", "Kofi Mensah", orgbase.RoleMember, map[string]orgbase.WorkspaceRole{"Globex": orgbase.WorkspaceManager}},
}

func seed(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ifEmpty := fs.Bool("if-empty", false, "do nothing when the demo user exists")
	withUsage := fs.Bool("demo", false, "also charge 90 days of usage, ending today, through the charging service")
	if err := fs.Parse(args); err != nil {
		return usageError{"seed: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"seed: unexpected argument " + fs.Arg(0)}
	}
	// The store's clock is the real one, except while the demo's history
	// is written: then it is set to the moment each change happened.
	clock := &demoClock{}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{Now: clock.Now})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	if err := seedCatalog(ctx, db); err != nil {
		return err
	}
	exists, err := db.UserExists(ctx, demoEmail)
	if err != nil {
		return err
	}
	if exists {
		if !*ifEmpty {
			fmt.Fprintln(stdout, "demo data already present")
		}
		return nil
	}
	if !*withUsage {
		if _, err := seedDemo(ctx, db); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		fmt.Fprintf(stdout, "seeded demo organization %q; log in as %s / %s\n", demoOrgSlug, demoEmail, demoPassword)
		return nil
	}
	events, total, err := seedDemoWithUsage(ctx, db, clock, time.Now())
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	fmt.Fprintf(stdout, "seeded demo organization %q with %d usage events over %d days (%s credits); log in as %s / %s\n",
		demoOrgSlug, events, demoDays, total, demoEmail, demoPassword)
	return nil
}

// demoOrg is what seedDemo created, for the usage that follows.
type demoOrg struct {
	id         int64
	owner      orgbase.Access   // the demo's owner (Dana), who sets limits and moves credits
	workspaces map[string]int64 // by name; the Primary as orgbase.PrimaryWorkspaceName
	users      map[string]int64 // by email
}

// seedDemo builds the demo organization through the same store methods the
// app uses: its owner, a workspace tree and people with roles and grants,
// a funded pool and two budget workspaces.
func seedDemo(ctx context.Context, db *store.DB) (*demoOrg, error) {
	hash, err := password.Hash(demoPassword)
	if err != nil {
		return nil, err
	}
	ownerID, err := db.CreateVerifiedUser(ctx, demoEmail, "Dana Demo", hash)
	if err != nil {
		return nil, err
	}
	// The audit log shows the demo's owner as the author of what follows.
	ctx = orgbase.WithAuditMeta(ctx, orgbase.AuditMeta{ActorID: ownerID})
	org, err := db.CreateOrg(ctx, ownerID, store.NewOrg{Name: "Demo Company", Slug: demoOrgSlug, CompanySize: "11-50", CreatorFunction: "Engineering", BillingEmail: demoEmail,
		FreeTrial: true}) // created on Free, as the wizard would: its trial credits first
	if err != nil {
		return nil, err
	}
	// The demo's owner builds the tree (so it shows as created by them).
	owner := orgbase.Access{Membership: &orgbase.Membership{OrgID: org.ID, UserID: ownerID, Role: orgbase.RoleOwner, Status: orgbase.MemberActive}}
	primary, err := db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := &demoOrg{id: org.ID, owner: owner, workspaces: map[string]int64{orgbase.PrimaryWorkspaceName: primary.ID},
		users: map[string]int64{demoEmail: ownerID}}
	ids := out.workspaces
	var build func(parent int64, nodes []demoNode) error
	build = func(parent int64, nodes []demoNode) error {
		for _, n := range nodes {
			ws, err := db.CreateWorkspace(ctx, org.ID, owner, store.NewWorkspace{ParentID: parent, Name: n.name, Description: n.description}, orgbase.DefaultMaxDepth)
			if err != nil {
				return err
			}
			ids[n.name] = ws.ID
			if err := build(ws.ID, n.children); err != nil {
				return err
			}
		}
		return nil
	}
	if err := build(primary.ID, demoTree); err != nil {
		return nil, err
	}
	for _, p := range demoPeople {
		uid, err := db.CreateVerifiedUser(ctx, p.email, p.name, hash)
		if err != nil {
			return nil, err
		}
		out.users[p.email] = uid
		if err := db.AddMember(ctx, org.ID, uid, p.role); err != nil {
			return nil, err
		}
		for _, ws := range slices.Sorted(maps.Keys(p.grants)) {
			if err := db.SetGrant(ctx, org.ID, owner, ids[ws], uid, p.grants[ws]); err != nil {
				return nil, err
			}
		}
	}
	// A funded pool, granted by the operator (no actor), as `orgbase credits grant` would.
	opCtx := orgbase.WithAuditMeta(ctx, orgbase.AuditMeta{})
	if _, err := db.GrantCredits(opCtx, org.ID, demoGrant, "Demo credits", "demo-seed-grant"); err != nil {
		return nil, err
	}
	// Two branches run on budgets of their own; the rest share the pool.
	for _, b := range demoBudgets {
		if _, err := db.SetFundingMode(ctx, org.ID, owner, ids[b.name], orgbase.FundingBudget); err != nil {
			return nil, err
		}
		if _, err := db.Transfer(ctx, org.ID, owner, orgbase.PoolAccount(), orgbase.WorkspaceAccount(ids[b.name]), b.initial,
			orgbase.TransferMove, "Initial budget", "demo-budget-"+b.name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// demoBudgets are the workspaces with budgets of their own: their first
// budget, and (with --demo) what the owner moves in when one runs low.
var demoBudgets = []struct {
	name           string
	initial, topUp orgbase.Credits
}{{"Clients", 6_000 * orgbase.Credit, 4_000 * orgbase.Credit}, {"Marketing", 2_500 * orgbase.Credit, 5_000 * orgbase.Credit}}
