package orgbase

import (
	"strings"
	"time"
)

// Invitation limits (SPEC §4.4).
const (
	MaxInvitesPerRequest = 50
	DefaultInviteTTL     = 7 * 24 * time.Hour
	MaxNoteLen           = 500
)

// Invitation statuses as people read them.
const (
	InvitePending  = "pending"
	InviteExpired  = "expired"
	InviteAccepted = "accepted"
	InviteDeclined = "declined"
	InviteRevoked  = "revoked"
)

// Invitation asks a person (by address) to join an organization with a role
// and workspace access.
type Invitation struct {
	ID          int64
	OrgID       int64
	Email       string
	Role        Role
	Note        string
	InvitedBy   *int64
	InviterName string
	CreatedAt   time.Time
	SentAt      time.Time
	SendCount   int
	ExpiresAt   time.Time
	AcceptedAt  *time.Time
	DeclinedAt  *time.Time
	RevokedAt   *time.Time
	Grants      []InvitationGrant
}

// InvitationGrant is a workspace access the invitation gives on acceptance.
type InvitationGrant struct {
	WorkspaceID   int64
	WorkspaceName string
	Role          WorkspaceRole
}

// Status is the invitation's state at now.
func (i *Invitation) Status(now time.Time) string {
	switch {
	case i.AcceptedAt != nil:
		return InviteAccepted
	case i.RevokedAt != nil:
		return InviteRevoked
	case i.DeclinedAt != nil:
		return InviteDeclined
	case !now.Before(i.ExpiresAt):
		return InviteExpired
	}
	return InvitePending
}

// InvitableRoles are the roles an invitation may carry: never owner.
var InvitableRoles = []Role{RoleAdmin, RoleBilling, RoleMember}

// ParseEmailList splits a list of addresses separated by commas, semicolons,
// spaces or new lines. It returns the normalized addresses in order and, per
// raw entry, a message for those that are malformed or repeated.
func ParseEmailList(raw string) (emails []string, problems map[string]string) {
	problems = map[string]string{}
	seen := map[string]bool{}
	fields := strings.FieldsFunc(raw, func(r rune) bool {
		return r == ',' || r == ';' || r == '\n' || r == '\r' || r == ' ' || r == '\t'
	})
	for _, f := range fields {
		e, err := NormalizeEmail(f)
		if err != nil {
			problems[f] = "is not a valid email address"
			continue
		}
		if seen[e] {
			problems[f] = "appears more than once"
			continue
		}
		seen[e] = true
		emails = append(emails, e)
	}
	return emails, problems
}

// CanActOnMember reports whether actor may change target's role, suspend,
// restore or remove them: owners act on anyone; admins on everyone but
// owners; nobody else.
func CanActOnMember(actor, target *Membership) bool {
	if actor == nil || target == nil || actor.Status != MemberActive {
		return false
	}
	switch actor.Role {
	case RoleOwner:
		return true
	case RoleAdmin:
		return target.Role != RoleOwner
	}
	return false
}

// CanAssignRole reports whether actor may give someone the role: only
// owners make owners.
func CanAssignRole(actor *Membership, role Role) bool {
	if actor == nil || actor.Status != MemberActive || !role.Valid() {
		return false
	}
	if role == RoleOwner {
		return actor.Role == RoleOwner
	}
	return actor.Role == RoleOwner || actor.Role == RoleAdmin
}
