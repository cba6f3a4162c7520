package orgbase

// Role is a person's role in an organization.
type Role string

// Organization roles, from most to least powerful (SPEC §4.1).
const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleBilling Role = "billing"
	RoleMember  Role = "member"
)

// Label is the role as people read it.
func (r Role) Label() string {
	switch r {
	case RoleOwner:
		return "Owner"
	case RoleAdmin:
		return "Admin"
	case RoleBilling:
		return "Billing"
	case RoleMember:
		return "Member"
	}
	return string(r)
}

// Valid reports whether r is one of the organization roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleBilling, RoleMember:
		return true
	}
	return false
}

// Action is something a person may try to do in an organization.
type Action string

// Actions decided by Can.
const (
	ActionOrgView        Action = "org.view"
	ActionOrgEditProfile Action = "org.edit_profile"
	ActionOrgDelete      Action = "org.delete"
	ActionOrgRestore     Action = "org.restore"
	ActionMembersManage  Action = "members.manage" // change roles and workspace access of members
	ActionAuditView      Action = "audit.view"     // read and export the audit log
	ActionPricesView     Action = "prices.view"    // read the operator's price catalog
	ActionUsageViewAll   Action = "usage.view_all" // see every workspace's usage events (History), granted or not
	ActionBillingManage  Action = "billing.manage" // see plans and invoices, pay for plans and top-ups
)

// Actor is who is acting inside one organization: nil Membership means the
// person is not a member (or not signed in).
type Actor struct {
	UserID     int64
	Membership *Membership
}

// Can is the one authorization policy: it reports whether actor may perform
// action in the actor's organization. Middleware and services both call it.
func Can(actor Actor, action Action) bool {
	m := actor.Membership
	if m == nil || m.Status != MemberActive {
		return false
	}
	switch action {
	case ActionOrgView:
		return true
	case ActionOrgEditProfile, ActionMembersManage, ActionAuditView:
		return m.Role == RoleOwner || m.Role == RoleAdmin
	case ActionOrgDelete, ActionOrgRestore:
		return m.Role == RoleOwner
	case ActionPricesView, ActionUsageViewAll, ActionBillingManage:
		return m.Role == RoleOwner || m.Role == RoleAdmin || m.Role == RoleBilling
	}
	return false
}
