package orgbase

import (
	"strconv"
	"strings"
	"time"
)

// WorkspaceRole is a person's role on a workspace they were granted.
type WorkspaceRole string

// Workspace roles (SPEC §4.2). The zero value means no access.
const (
	WorkspaceNone    WorkspaceRole = ""
	WorkspaceMember  WorkspaceRole = "member"
	WorkspaceManager WorkspaceRole = "manager"
)

// Valid reports whether r is manager or member.
func (r WorkspaceRole) Valid() bool { return r == WorkspaceMember || r == WorkspaceManager }

// Label is the role as people read it.
func (r WorkspaceRole) Label() string {
	switch r {
	case WorkspaceManager:
		return "Manager"
	case WorkspaceMember:
		return "Member"
	}
	return "No access"
}

// rank orders workspace roles so the strongest inherited grant wins.
func (r WorkspaceRole) rank() int {
	switch r {
	case WorkspaceManager:
		return 2
	case WorkspaceMember:
		return 1
	}
	return 0
}

// Grant gives a user a role on a workspace and, by inheritance, on every
// workspace below it. Path is the granted workspace's materialized path.
type Grant struct {
	OrgID       int64
	WorkspaceID int64
	UserID      int64
	Role        WorkspaceRole
	Path        string
	CreatedAt   time.Time
}

// DefaultMaxDepth is how many levels may nest below the Primary workspace.
const DefaultMaxDepth = 5

// ChildPath is the materialized path of a child with id under parentPath.
func ChildPath(parentPath string, id int64) string {
	return parentPath + strconv.FormatInt(id, 10) + "/"
}

// PathIDs returns the workspace ids along a path, root first.
func PathIDs(path string) []int64 {
	var ids []int64
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// ParentPath is the materialized path of the workspace's parent ("" for
// the Primary workspace).
func (w *Workspace) ParentPath() string {
	if w.ParentID == nil {
		return ""
	}
	return strings.TrimSuffix(w.Path, strconv.FormatInt(w.ID, 10)+"/")
}

// RootPath is the path of the root (Primary) workspace of the tree a path is in.
func RootPath(path string) string {
	if i := strings.IndexByte(strings.TrimPrefix(path, "/"), '/'); i >= 0 {
		return path[:i+2]
	}
	return path
}

// IsWithin reports whether the workspace at path is the workspace at root
// or one of its descendants.
func IsWithin(path, root string) bool { return root != "" && strings.HasPrefix(path, root) }

// Access is everything the policy needs to know about an actor in one
// organization: their membership and their workspace grants.
type Access struct {
	Membership *Membership
	Grants     []Grant
}

// OperatorAccess is the access of the operator (command-line provisioning
// and the demo seed): an owner of the organization who is nobody in it.
func OperatorAccess(orgID int64) Access {
	return Access{Membership: &Membership{OrgID: orgID, Role: RoleOwner, Status: MemberActive}}
}

// IsOperator reports whether a is OperatorAccess (no user behind it).
func (a Access) IsOperator() bool { return a.Membership != nil && a.Membership.UserID == 0 }

// Active reports whether the actor is an active member.
func (a Access) Active() bool { return a.Membership != nil && a.Membership.Status == MemberActive }

// SeesAll reports whether the actor reaches every workspace (owner, admin).
func (a Access) SeesAll() bool {
	return a.Active() && (a.Membership.Role == RoleOwner || a.Membership.Role == RoleAdmin)
}

// RoleOn is the actor's effective role on the workspace at path: manager for
// owners and admins, else the strongest grant on the workspace or an ancestor.
func (a Access) RoleOn(path string) WorkspaceRole {
	if !a.Active() {
		return WorkspaceNone
	}
	if a.SeesAll() {
		return WorkspaceManager
	}
	best := WorkspaceNone
	for _, g := range a.Grants {
		if IsWithin(path, g.Path) && g.Role.rank() > best.rank() {
			best = g.Role
		}
	}
	return best
}

// Inherited reports whether the actor's access to the workspace at path
// comes from a grant on an ancestor rather than on the workspace itself.
func (a Access) Inherited(path string) bool {
	for _, g := range a.Grants {
		if g.Path == path {
			return false
		}
	}
	return true
}

// CanView reports whether the actor may see the workspace at path.
func (a Access) CanView(path string) bool { return a.RoleOn(path) != WorkspaceNone }

// CanManage reports whether the actor may manage the workspace at path:
// edit it, add children, set its limits, grant access to it, and so on.
func (a Access) CanManage(path string) bool { return a.RoleOn(path) == WorkspaceManager }

// CanMove reports whether the actor may move the workspace at path under the
// workspace at newParent: they must manage both, and the Primary workspace
// never moves.
func (a Access) CanMove(ws *Workspace, newParentPath string) bool {
	return !ws.IsPrimary() && a.CanManage(ws.Path) && a.CanManage(newParentPath)
}

// CanArchive reports whether the actor may archive or restore the workspace:
// they manage its parent (so a manager cannot archive the root of their own
// grant and lock themselves out), and it is not the Primary workspace.
func (a Access) CanArchive(ws *Workspace, parentPath string) bool {
	return !ws.IsPrimary() && a.CanManage(parentPath)
}

// CanGrant reports whether the actor may grant or remove access to the
// workspace at path (owners, admins and its managers).
func (a Access) CanGrant(path string) bool { return a.CanManage(path) }

// CanManageAPIKeys reports whether the actor may create, see and revoke the
// API keys of the workspace at path: its managers (grants on it or above),
// admins and owners.
func (a Access) CanManageAPIKeys(path string) bool { return a.CanManage(path) }
