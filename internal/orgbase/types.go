package orgbase

import "time"

// User is a person with an account. Emails are stored lower-cased.
type User struct {
	ID              int64
	Email           string
	Name            string
	EmailVerifiedAt *time.Time
	CreatedAt       time.Time
}

// Verified reports whether the user has proven their email address.
func (u *User) Verified() bool { return u != nil && u.EmailVerifiedAt != nil }

// Session is a server-side sign-in session. ID is the hash of the secret that
// the browser holds; the secret itself is never stored.
type Session struct {
	ID         string
	UserID     int64
	UserAgent  string
	IP         string
	Data       []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// Email is an outgoing message, kept in the outbox until it is delivered.
type Email struct {
	ID        int64
	OrgID     *int64
	To        string
	Subject   string
	Text      string
	HTML      string
	CreatedAt time.Time
	SentAt    *time.Time
}

// Org is an organization: the tenant that owns workspaces, members and credits.
type Org struct {
	ID              int64
	Slug            string
	Name            string
	BillingEmail    string
	CompanySize     string
	CreatorFunction string
	Plan            string
	LogoType        string // "" when the org has no logo
	LogoVersion     int64  // changes with every upload, for cache busting
	CreatedAt       time.Time
	DeletedAt       *time.Time
	PurgeAfter      *time.Time
}

// Deleted reports whether the organization is in its deletion grace period.
func (o *Org) Deleted() bool { return o != nil && o.DeletedAt != nil }

// OrgUpdate holds the profile fields an owner or admin may change.
type OrgUpdate struct {
	Name            string
	Slug            string
	BillingEmail    string
	CompanySize     string
	CreatorFunction string
}

// Membership ties a user to an organization with a role.
type Membership struct {
	OrgID     int64
	UserID    int64
	Role      Role
	Status    string
	CreatedAt time.Time
	// MonthlyLimit is the member's monthly member limit (SPEC §5.4); nil for none.
	MonthlyLimit *Credits
}

// Membership statuses.
const (
	MemberActive    = "active"
	MemberSuspended = "suspended"
)

// OrgWithRole is an organization as one of its members sees it in lists.
type OrgWithRole struct {
	Org
	Role Role
}

// Workspace is a node of an organization's workspace tree. Path is the
// materialized path of ids from the root ("/1/4/9/"), for subtree queries.
type Workspace struct {
	ID            int64
	OrgID         int64
	ParentID      *int64
	Name          string
	Description   string
	Path          string
	Depth         int
	CreatedBy     *int64
	CreatedByName string // filled by list queries; "" when unknown
	CreatedAt     time.Time
	ArchivedAt    *time.Time
	FundingMode   FundingMode // budget: its own balance; shared: spends from above (the Primary holds the pool)
	MonthlyLimit  *Credits    // the monthly spend limit (SPEC §5.4); nil for none
}

// IsPrimary reports whether the workspace is its organization's root.
func (w *Workspace) IsPrimary() bool { return w.ParentID == nil }

// PrimaryWorkspaceName is the name of every organization's root workspace.
const PrimaryWorkspaceName = "Primary"

// CompanySizes are the choices of the company size select.
var CompanySizes = []string{"1", "2-10", "11-50", "51-200", "201-1000", "1000+"}

// CreatorFunctions are the choices of the "your function" select.
var CreatorFunctions = []string{"Engineering", "Product", "Design", "Marketing", "Sales", "Operations", "Finance", "Research", "Education", "Other"}

// Member is a person in an organization as member lists show them.
type Member struct {
	UserID   int64
	Email    string
	Name     string
	Role     Role
	Status   string
	JoinedAt time.Time
	// MonthlyLimit is the member's monthly member limit; nil for none.
	MonthlyLimit *Credits
}
