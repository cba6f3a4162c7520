package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/static"
)

// routes is the map of the app: every route with its middleware.
func (s *Server) routes(e *echo.Echo, reg *prometheus.Registry) {
	e.Use(middleware.RequestID())
	e.Use(s.requestLog())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.Use(s.secureHeaders())
	e.Use(middleware.BodyLimit(bodyLimit))

	// Operations and static files: no session, no CSRF.
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticFiles())))

	// The usage API: bearer API keys, JSON, no session or CSRF (api.go).
	s.apiRoutes(e)
	// Payment providers' webhooks: signed by the provider, no session or CSRF (stripe_webhook.go).
	e.POST("/webhooks/stripe", s.handleStripeWebhook)

	// Everything a browser uses: session and CSRF.
	app := e.Group("", crossSiteGuard, s.csrf(), s.loadSession)
	app.GET("/", s.handleHome)

	guest := app.Group("", s.redirectSignedIn)
	guest.GET("/signup", s.handleSignupNew)
	guest.POST("/signup", s.handleSignupCreate)
	guest.GET("/login", s.handleLoginNew)
	guest.POST("/login", s.handleLoginCreate)
	app.POST("/logout", s.handleLogout)
	app.GET("/forgot", s.handleForgotNew)
	app.POST("/forgot", s.handleForgotCreate)
	app.GET("/reset/:token", s.handleResetShow)
	app.POST("/reset/:token", s.handleResetUpdate)
	app.GET("/verify/:token", s.handleVerifyShow)
	app.POST("/verify/:token", s.handleVerifyCreate)
	app.GET("/invites/:token", s.handleInviteShow)
	app.GET("/invites/:token/logo", s.handleInviteLogo)

	user := app.Group("", s.requireUser)
	app.RouteNotFound("/*", echo.NotFoundHandler) // after the user group: unknown URLs are 404 for visitors too, not a login redirect
	user.POST("/verify/resend", s.handleVerifyResend)
	user.POST("/invites/:token/accept", s.handleInviteAccept)
	user.POST("/invites/:token/decline", s.handleInviteDecline)
	user.GET("/account", s.handleAccountShow)
	user.POST("/account/name", s.handleAccountNameUpdate)
	user.POST("/account/password", s.handleAccountPasswordUpdate)
	user.POST("/account/sessions/revoke", s.handleSessionDelete)
	user.POST("/account/sessions/revoke-others", s.handleSessionDeleteOthers)
	user.GET("/orgs", s.handleOrgIndex)
	user.GET("/orgs/new", s.handleOrgNew)
	user.POST("/orgs/new", s.handleOrgCreate)

	org := user.Group("/orgs/:org", s.orgScope, s.withBell) // withBell: the top bar's unread count (notifications.go)
	org.GET("", s.handleOrgShow)
	org.GET("/logo", s.handleOrgLogoShow)
	org.GET("/settings", s.handleOrgSettingsShow, requireCan(orgbase.ActionOrgEditProfile))
	org.POST("/settings", s.handleOrgSettingsUpdate, requireCan(orgbase.ActionOrgEditProfile))
	org.POST("/settings/logo", s.handleOrgLogoUpdate, requireCan(orgbase.ActionOrgEditProfile))
	org.POST("/settings/logo/delete", s.handleOrgLogoDelete, requireCan(orgbase.ActionOrgEditProfile))
	org.POST("/delete", s.handleOrgDelete, requireCan(orgbase.ActionOrgDelete))
	org.POST("/restore", s.handleOrgRestore, requireCan(orgbase.ActionOrgRestore))

	// Workspaces: every handler checks the caller's access to the workspace
	// itself (inherited grants), so these routes need only membership.
	org.GET("/workspaces", s.handleWorkspaceIndex)
	org.POST("/workspaces", s.handleWorkspaceCreate)
	org.GET("/workspaces/:ws", s.handleWorkspaceShow)
	org.POST("/workspaces/:ws", s.handleWorkspaceUpdate)
	org.GET("/workspaces/:ws/row", s.handleWorkspaceRow)
	org.GET("/workspaces/:ws/new", s.handleWorkspaceNew)
	org.GET("/workspaces/:ws/edit", s.handleWorkspaceEdit)
	org.GET("/workspaces/:ws/move", s.handleWorkspaceMoveNew)
	org.POST("/workspaces/:ws/move", s.handleWorkspaceMove)
	org.POST("/workspaces/:ws/archive", s.handleWorkspaceArchive)
	org.POST("/workspaces/:ws/restore", s.handleWorkspaceRestore)
	org.GET("/workspaces/:ws/credits", s.handleCreditsNew)
	org.POST("/workspaces/:ws/credits", s.handleCreditsMove)
	org.POST("/workspaces/:ws/funding", s.handleFundingMode)
	org.GET("/workspaces/:ws/limit", s.handleWorkspaceLimitEdit)
	org.POST("/workspaces/:ws/limit", s.handleWorkspaceLimitUpdate)
	org.POST("/workspaces/:ws/keys", s.handleAPIKeyCreate)
	org.GET("/workspaces/:ws/keys/:key/revoke", s.handleAPIKeyRevokeNew)
	org.POST("/workspaces/:ws/keys/:key/revoke", s.handleAPIKeyRevoke)
	org.POST("/funding", s.handleOrgFunding)
	org.POST("/workspaces/:ws/grants", s.handleGrantCreate)
	org.POST("/workspaces/:ws/grants/:user/delete", s.handleGrantDelete)
	org.GET("/access", s.handleAccessIndex, requireCan(orgbase.ActionMembersManage))
	org.POST("/access/:user", s.handleAccessGrant, requireCan(orgbase.ActionMembersManage))
	org.GET("/audit", s.handleAuditIndex, requireCan(orgbase.ActionAuditView))
	org.GET("/audit.csv", s.handleAuditExport, requireCan(orgbase.ActionAuditView))
	// History: every member; the handlers keep each to the workspaces they see.
	org.GET("/history", s.handleHistoryIndex)
	org.GET("/history.csv", s.handleHistoryExport)
	org.GET("/prices", s.handlePriceIndex, requireCan(orgbase.ActionPricesView))
	// Billing: owners, admins and billing members (billing.go). :id is a
	// checkout's reference on the card page, an invoice's id below.
	bill := requireCan(orgbase.ActionBillingManage)
	org.GET("/billing", s.handleBillingIndex, bill)
	org.POST("/billing/checkout", s.handleCheckoutCreate, bill)
	org.POST("/billing/auto-recharge", s.handleAutoRechargeSave, bill) // autorecharge.go
	org.GET("/billing/checkout/:id", s.handleTestCheckoutShow, bill)
	org.POST("/billing/checkout/:id", s.handleTestCheckoutPay, bill)
	org.GET("/billing/invoices/:id", s.handleInvoiceShow, bill)
	org.GET("/billing/invoices/:id/pdf", s.handleInvoicePDF, bill)
	org.GET("/billing/subscription", s.handleSubscriptionConfirm, bill)
	org.POST("/billing/subscription", s.handleSubscriptionChange, bill)
	org.POST("/billing/upgrade", s.handleUpgrade, bill)
	org.POST("/billing/portal", s.handlePortal, bill)
	// Notifications: each member's own; alert levels for owners and admins.
	org.GET("/notifications", s.handleNotificationIndex)
	org.GET("/notifications/menu", s.handleNotificationMenu)
	org.POST("/notifications/read", s.handleNotificationRead)
	org.POST("/notifications/settings", s.handleAlertSettingsUpdate, requireCan(orgbase.ActionOrgEditProfile))

	// Members and invitations (owners and admins; the store checks again
	// that admins never act on owners and that the last owner stays).
	manage := requireCan(orgbase.ActionMembersManage)
	org.GET("/members", s.handleMemberIndex, manage)
	org.GET("/members.csv", s.handleMemberExport, manage)
	org.GET("/members/invite", s.handleInviteNew, manage)
	org.POST("/invitations", s.handleInviteCreate, manage)
	org.POST("/invitations/:id/resend", s.handleInviteResend, manage)
	org.POST("/invitations/:id/revoke", s.handleInviteRevoke, manage)
	org.POST("/members/:user/role", s.handleMemberRole, manage)
	org.POST("/members/:user/suspend", s.handleMemberSuspend, manage)
	org.POST("/members/:user/restore", s.handleMemberRestore, manage)
	org.POST("/members/:user/remove", s.handleMemberRemove, manage)
	org.GET("/members/:user/limit", s.handleMemberLimitEdit, manage)
	org.POST("/members/:user/limit", s.handleMemberLimitUpdate, manage)
	org.POST("/leave", s.handleOrgLeave)

	if s.cfg.DevMailbox() {
		app.GET("/dev/mail", s.handleDevMailIndex)
		app.GET("/dev/mail/:id", s.handleDevMailShow)
		app.GET("/dev/mail/:id/html", s.handleDevMailHTML)
	}
}

// staticFiles serves the embedded assets with a long cache for fonts and vendored files.
func staticFiles() http.Handler {
	fs := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}
