// Package web is Orgbase's HTTP server: Echo routes, middleware, handlers and
// the glue between requests, the stores and the templ views. Handlers never
// see a database handle; they call the small store interfaces declared here.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/mail"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// UserStore is what account handlers need.
type UserStore interface {
	CreateUser(ctx context.Context, email, name, passwordHash string, verify store.NewToken) (*orgbase.User, error)
	FindUserByID(ctx context.Context, id int64) (*orgbase.User, error)
	FindUserByEmail(ctx context.Context, email string) (*orgbase.User, string, error)
	FindPasswordHash(ctx context.Context, userID int64) (string, error)
	UpdateUserName(ctx context.Context, userID int64, name string) error
	ChangePassword(ctx context.Context, userID int64, passwordHash, keepSessionID string) error
	CreateVerification(ctx context.Context, user *orgbase.User, t store.NewToken) error
	CreatePasswordReset(ctx context.Context, user *orgbase.User, t store.NewToken) error
	VerifyEmail(ctx context.Context, tokenHash string) (*orgbase.User, error)
	CheckPasswordReset(ctx context.Context, tokenHash string) error
	ResetPassword(ctx context.Context, tokenHash, passwordHash string) (*orgbase.User, error)
	CountAttempts(ctx context.Context, since time.Time, keys ...string) (map[string]int, error)
	RecordAttempts(ctx context.Context, keys ...string) error
	ClearAttempts(ctx context.Context, key string) error
}

// SessionStore persists server-side sessions.
type SessionStore interface {
	SaveSession(ctx context.Context, s *orgbase.Session) error
	UpdateSession(ctx context.Context, s *orgbase.Session) error
	FindSession(ctx context.Context, id string) (*orgbase.Session, error)
	TouchSession(ctx context.Context, id string, seen, expires time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSession(ctx context.Context, userID int64, id string) error
	DeleteOtherSessions(ctx context.Context, userID int64, keepID string) (int64, error)
	FindUserSessions(ctx context.Context, userID int64) ([]*orgbase.Session, error)
}

// OrgStore is what organization handlers need.
type OrgStore interface {
	CreateOrg(ctx context.Context, creatorID int64, n store.NewOrg) (*orgbase.Org, error)
	SlugAvailable(ctx context.Context, slug string) (bool, error)
	FindOrgForMember(ctx context.Context, slug string, userID int64) (*orgbase.Org, *orgbase.Membership, error)
	FindOrgsForUser(ctx context.Context, userID int64) ([]orgbase.OrgWithRole, error)
	UpdateOrg(ctx context.Context, orgID int64, u orgbase.OrgUpdate) (*orgbase.Org, error)
	SetOrgLogo(ctx context.Context, orgID int64, contentType string, data []byte) error
	FindOrgLogo(ctx context.Context, orgID int64) (string, []byte, error)
	DeleteOrg(ctx context.Context, orgID int64, grace time.Duration) (*orgbase.Org, error)
	RestoreOrg(ctx context.Context, orgID int64) error
	FindPrimaryWorkspace(ctx context.Context, orgID int64) (*orgbase.Workspace, error)
	CountMembers(ctx context.Context, orgID int64) (int64, error)
	AuditStore    // the organization's audit log
	HistoryStore  // the organization's usage events (History tab)
	CatalogStore  // the operator's price catalog
	OverviewStore // the Overview tab's reports (overview.go)
}

// MailStore reads the outbox for the dev mailbox.
type MailStore interface {
	FindEmails(ctx context.Context, to string, limit int) ([]*orgbase.Email, error)
	FindEmailByID(ctx context.Context, id int64) (*orgbase.Email, error)
}

// Health reports readiness.
type Health interface {
	Ready(ctx context.Context) error
}

// Deps are the server's dependencies.
type Deps struct {
	Config     *config.Config
	Logger     *slog.Logger
	Users      UserStore
	Sessions   SessionStore
	Orgs       OrgStore
	Mail       MailStore
	Health     Health
	Workspaces WorkspaceStore
	Members    MemberStore
	API        APIStore         // the usage API (api.go)
	Alerts     AlertStore       // alerts and notifications (alerts.go)
	Billing    BillingStore     // plans, checkouts and invoices (billing.go)
	Payments   billing.Provider // the payment provider (the test provider or Stripe)
	Now        func() time.Time // defaults to time.Now
}

// Server holds the dependencies every handler shares.
type Server struct {
	cfg        *config.Config
	log        *slog.Logger
	users      UserStore
	sessions   *sessionStore
	orgs       OrgStore
	workspaces WorkspaceStore
	members    MemberStore
	api        APIStore
	alerts     AlertStore
	billing    BillingStore
	payments   billing.Provider
	alertQueue alertQueue  // coalesces alert checks (alerts.go)
	charges    chargeQueue // coalesces single-event charges per organization (api_queue.go)
	mailbox    MailStore
	health     Health
	composer   *mail.Composer
	now        func() time.Time
	metrics    *metrics

	dummyOnce sync.Once
	dummy     string
}

// NewServer builds the HTTP handler with every route.
func NewServer(d Deps) (http.Handler, error) {
	if d.Config == nil || d.Logger == nil || d.Users == nil || d.Sessions == nil || d.Orgs == nil ||
		d.Mail == nil || d.Health == nil || d.Workspaces == nil || d.Members == nil || d.API == nil || d.Alerts == nil ||
		d.Billing == nil || d.Payments == nil {
		return nil, errors.New("web.NewServer: every dependency in Deps is required (only Now may be nil)")
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	reg := prometheus.NewRegistry()
	s := &Server{
		cfg: d.Config, log: d.Logger, users: d.Users, orgs: d.Orgs, workspaces: d.Workspaces, members: d.Members, api: d.API, alerts: d.Alerts, billing: d.Billing, payments: d.Payments, mailbox: d.Mail, health: d.Health,
		composer: mail.NewComposer(), now: now, metrics: newMetrics(reg),
	}
	d.Alerts.SetAlertMailer(s.alertMail)
	d.Billing.SetBillingMailer(s.billingMail)
	keys := d.Config.SessionKeys
	s.sessions = newSessionStore(d.Sessions, keys, d.Config.SecureCookies(), d.Config.SessionIdle, d.Config.SessionMax, now)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	s.routes(e, reg)
	return e, nil
}
