// Package members renders the Members tab: people and invitations in one
// table with inline role, suspend, remove, resend and revoke actions, and
// the invite dialog.
package members

import (
	"strconv"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Row is one person of the organization with what the viewer may do.
type Row struct {
	Member     orgbase.Member
	Grants     []GrantView
	LastActive *time.Time
	CanAct     bool // change role, suspend, remove
	Roles      []orgbase.Role
	Self       bool
	Flash      bool
	Error      string
	// This month's spending against the monthly member limit
	// (Member.MonthlyLimit, nil for none); only kept for members with a limit.
	Used     orgbase.Credits
	Month    string // "June 2025"
	CanLimit bool   // set or clear the member limit
	// Usage in the tab's period, by category.
	ImageSpeech orgbase.Credits
	Chatbot     orgbase.Credits
}

// Total is the member's usage in the period, every category.
func (r Row) Total() orgbase.Credits { return r.ImageSpeech + r.Chatbot }

// GrantView is a workspace access shown in a row.
type GrantView struct {
	Name string
	Role orgbase.WorkspaceRole
}

// InviteRow is an open or closed invitation in the table.
type InviteRow struct {
	Inv    *orgbase.Invitation
	Status string
	Flash  bool
	Error  string
}

// RowID and InviteID are the stable DOM ids of rows.
func RowID(userID int64) string { return "member-" + strconv.FormatInt(userID, 10) }
func InviteID(id int64) string  { return "invite-" + strconv.FormatInt(id, 10) }

// Model is the Members tab.
type Model struct {
	Rows    []Row
	Invites []InviteRow
	Query   string
	Sort    string // a store.MemberSorts key
	Desc    bool
	Period  orgbase.UsagePeriod // of the usage columns
	Page    int
	Pages   int
	Total   int
	Now     time.Time
	Closed  bool // show accepted, declined and revoked invitations too
}

// WorkspaceChoice is one workspace in the invite dialog.
type WorkspaceChoice struct {
	ID      int64
	Label   string
	Checked bool
	Role    orgbase.WorkspaceRole
}

// InviteForm is the invite dialog.
type InviteForm struct {
	Emails     string
	Role       string
	Note       string
	Days       string
	Workspaces []WorkspaceChoice
	Fields     map[string]string
	Problems   []string // per-address problems, as sentences
	Error      string
}

// LimitForm is the monthly member limit dialog.
type LimitForm struct {
	Member orgbase.Member
	Value  string          // the amount field, as typed (or the current limit)
	Used   orgbase.Credits // spent this month in the organization
	Month  string          // "June 2025"
	Fields map[string]string
	Error  string
}
