// Package workspaces renders the Workspaces tab (the tree), a workspace's
// home page, and the dialogs and partials that htmx swaps into them.
package workspaces

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Node is one row of the tree with what the viewer may do to it.
type Node struct {
	WS         *orgbase.Workspace
	Children   []*Node
	Level      int // depth within the visible tree, for indentation
	Members    int
	CanManage  bool // edit, add children, grant access
	CanArchive bool // archive, restore, move
	// Credits: the workspace's own balance (the pool for Primary) when it
	// has one; Shared when it spends from above.
	Balance    orgbase.Credits
	Shared     bool
	CanCredits bool // open Manage credits (it has a balance and the viewer manages it)
	CanFunding bool // switch between shared and budget
	// Limits and usage: the monthly limit (nil for none) and what the
	// workspace (with everything below it) spent this month against it;
	// what it used in the tab's period, by category.
	Limit       *orgbase.Credits
	LimitUsed   orgbase.Credits
	CanLimit    bool // set or clear the limit (the viewer manages its parent)
	ImageSpeech orgbase.Credits
	Chatbot     orgbase.Credits
}

// Total is what the workspace used in the period, all categories.
func (n *Node) Total() orgbase.Credits { return n.ImageSpeech + n.Chatbot }

// LimitState is "near" (from 80 % of the limit), "reached" (from 100 %) or "".
func (n *Node) LimitState() string {
	if n.Limit == nil {
		return ""
	}
	return orgbase.LimitUse(n.LimitUsed, *n.Limit)
}

// ID is the stable DOM id of the node's row.
func (n *Node) ID() string { return "ws-" + strconv.FormatInt(n.WS.ID, 10) }

// TreeModel is the Workspaces tab's view model.
type TreeModel struct {
	Roots    []*Node
	Archived bool // the archived filter is on
	Total    int
	Notice   string
	// The organization-wide funding shortcut (owners and admins).
	CanOrgFunding bool
	OrgMode       string // "shared" (all shared), "budgets" (every top-level workspace in budget mode) or "" (neither)
	// Period is the range of the usage columns; Month names this month
	// (the limits' period), e.g. "June 2025".
	Period orgbase.UsagePeriod
	Month  string
}

// BuildTree arranges the visible workspaces into a forest: a node whose
// parent is not visible becomes a root. Children are sorted by name. ws must
// be ordered parents first (as FindWorkspaces returns them).
func BuildTree(ws []*orgbase.Workspace, visible func(*orgbase.Workspace) bool, decorate func(*Node)) []*Node {
	byID := make(map[int64]*Node, len(ws))
	var roots []*Node
	for _, w := range ws {
		if !visible(w) {
			continue
		}
		n := &Node{WS: w}
		decorate(n)
		byID[w.ID] = n
		if w.ParentID != nil {
			if p, ok := byID[*w.ParentID]; ok {
				n.Level = p.Level + 1
				p.Children = append(p.Children, n)
				continue
			}
		}
		roots = append(roots, n)
	}
	var sortNodes func([]*Node)
	sortNodes = func(ns []*Node) {
		sort.SliceStable(ns, func(i, j int) bool {
			if ns[i].WS.IsPrimary() != ns[j].WS.IsPrimary() {
				return ns[i].WS.IsPrimary()
			}
			return strings.ToLower(ns[i].WS.Name) < strings.ToLower(ns[j].WS.Name)
		})
		for _, n := range ns {
			sortNodes(n.Children)
		}
	}
	sortNodes(roots)
	return roots
}

// Crumb is one step of the breadcrumbs.
type Crumb struct {
	Name string
	Href string // "" for the current page
}

// Person is someone with access to a workspace, and how they have it.
type Person struct {
	UserID      int64
	Name        string
	Email       string
	Role        string // "Owner", "Admin", "Manager", "Member"
	Via         string // "" for a direct grant; else where it comes from
	CanRemove   bool
	WorkspaceID int64 // the workspace the grant is on
}

// HomeModel is a workspace's home page.
type HomeModel struct {
	WS         *orgbase.Workspace
	Crumbs     []Crumb
	Children   []*orgbase.Workspace
	People     []Person
	CanManage  bool
	SeesRoot   bool             // the viewer can see the Primary workspace (so the level means something to them)
	Grantable  []orgbase.Member // members who can be granted access here
	GrantError string
	// The monthly limit card: the limit (nil for none), this month's use
	// of the workspace with everything below it, and whether the viewer may
	// change the limit.
	Limit     *orgbase.Credits
	LimitUsed orgbase.Credits
	CanLimit  bool
	Month     string // "June 2025"
	// API keys (managers, admins, owners only: CanKeys).
	Keys CreateKeyModel
	// Usage in Period of the workspace with everything inside it, and of
	// each child (with everything inside it), children by name.
	Period orgbase.UsagePeriod
	Usage  UsageFigures
	Inside []ChildUsage
}

// UsageFigures are credits used by category.
type UsageFigures struct {
	ImageSpeech orgbase.Credits
	Chatbot     orgbase.Credits
}

// Total is the usage of every category.
func (u UsageFigures) Total() orgbase.Credits { return u.ImageSpeech + u.Chatbot }

// ChildUsage is a child workspace's usage on its parent's home page.
type ChildUsage struct {
	WS *orgbase.Workspace
	UsageFigures
}

// CreateKeyModel is the API keys section of a workspace's home page: the
// keys, the create form, and a just-created key's secret (shown once).
type CreateKeyModel struct {
	CanKeys bool
	List    []*orgbase.APIKey
	Name    string            // the create form's name, kept after a refusal
	Fields  map[string]string // field messages of the create form
	Error   string
	New     *NewKey   // the key just created, with its secret; nil otherwise
	APIURL  string    // the usage endpoint, for the example
	Now     time.Time // for "last used 3 min ago"
}

// NewKey is a key just created: its secret is shown this once.
type NewKey struct {
	Key    *orgbase.APIKey
	Secret string
}

// RevokeKeyModel is the confirmation dialog of a key's revocation.
type RevokeKeyModel struct {
	WS  *orgbase.Workspace
	Key *orgbase.APIKey
}

// LimitModel is the monthly limit dialog of a workspace.
type LimitModel struct {
	WS        *orgbase.Workspace
	Value     string           // the amount field, as typed (or the current limit)
	Current   *orgbase.Credits // the limit now, nil for none
	Used      orgbase.Credits  // spent this month, the workspace with everything below it
	Month     string           // "June 2025"
	AboveName string           // the nearest workspace above with a limit ("" for none)
	Above     orgbase.Credits  // its limit
	Fields    map[string]string
	Error     string
}

// MoveModel is the move dialog: the workspace and the parents it may go under.
type MoveModel struct {
	WS      *orgbase.Workspace
	Parents []ParentOption
	Error   string
}

// ParentOption is one choice of the parent picker, indented by depth.
type ParentOption struct {
	ID    int64
	Label string
	Depth int
}

// FormModel is the create and edit form.
type FormModel struct {
	ParentID    int64
	ParentName  string
	WS          *orgbase.Workspace // nil when creating
	Name        string
	Description string
	Fields      map[string]string
	Error       string
}

// CreditsModel is the Manage credits dialog of one workspace: credits move
// between its balance (the pool for Primary) and one other account the
// viewer manages, in the chosen direction.
type CreditsModel struct {
	WS        *orgbase.Workspace
	Name      string          // "Organization pool" for Primary, else the workspace's name
	Balance   orgbase.Credits // its balance now
	NoBudget  bool            // it shares the credits above it: nothing to manage
	CanBudget bool            // the viewer may switch it to its own budget
	Direction string          // "in" (to this workspace) or "out" (from it)
	Other     string          // the chosen other account: "pool" or a workspace id
	Options   []CreditsOption
	Amount    string
	Key       string // idempotency key of this dialog
	Fields    map[string]string
	Error     string
	Preview   *CreditsPreview
}

// CreditsOption is an account credits can come from or go to.
type CreditsOption struct {
	Value   string
	Name    string
	Balance orgbase.Credits
}

// CreditsPreview is both balances before and after the move.
type CreditsPreview struct {
	FromName, ToName      string
	FromBefore, FromAfter orgbase.Credits
	ToBefore, ToAfter     orgbase.Credits
	Short                 bool // the source does not have that much
}

// Find returns the option with the value, or nil.
func (m CreditsModel) Find(v string) *CreditsOption {
	for i := range m.Options {
		if m.Options[i].Value == v {
			return &m.Options[i]
		}
	}
	return nil
}
