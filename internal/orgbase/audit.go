package orgbase

import (
	"context"
	"strings"
	"time"
)

// AuditEntry is one administrative change, as the audit log records it.
type AuditEntry struct {
	ID          int64
	OrgID       int64
	ActorID     *int64
	ActorName   string // filled by list queries
	ActorEmail  string
	IP          string
	UserAgent   string
	Action      string // e.g. "workspace.create", "member.role_change"
	TargetType  string // e.g. "workspace", "member", "invitation", "organization"
	TargetID    string
	TargetLabel string // a readable name of the target at the time
	Changes     string // JSON of the changed fields: {"field": [old, new]} or {"field": value}
	CreatedAt   time.Time
}

// AuditMeta is who is acting and from where; middleware puts it on the
// request context and the store copies it into every audit entry it writes.
type AuditMeta struct {
	ActorID   int64 // 0 for the operator (CLI) or the system
	IP        string
	UserAgent string
}

type auditKey struct{}

// WithAuditMeta returns ctx carrying m.
func WithAuditMeta(ctx context.Context, m AuditMeta) context.Context {
	return context.WithValue(ctx, auditKey{}, m)
}

// AuditMetaFrom returns the AuditMeta on ctx, or the zero value (the system).
func AuditMetaFrom(ctx context.Context) AuditMeta {
	m, _ := ctx.Value(auditKey{}).(AuditMeta)
	return m
}

// auditLabels are the audit actions as people read them. An action missing
// here still reads well: AuditActionLabel falls back to its words.
var auditLabels = map[string]string{
	"organization.create":      "Created organization",
	"organization.update":      "Updated profile",
	"organization.logo_update": "Changed logo",
	"organization.logo_remove": "Removed logo",
	"organization.delete":      "Scheduled deletion",
	"organization.restore":     "Restored organization",
	"organization.alerts":      "Changed alert levels",
	"workspace.create":         "Created workspace",
	"workspace.update":         "Edited workspace",
	"workspace.move":           "Moved workspace",
	"workspace.archive":        "Archived workspace",
	"workspace.restore":        "Restored workspace",
	"workspace.funding_mode":   "Switched funding mode",
	"credits.grant":            "Granted credits",
	"credits.transfer":         "Transferred credits",
	"credits.plan_grant":       "Granted plan credits",
	"credits.top_up":           "Added bought credits",
	"billing.checkout":         "Started a checkout",
	"billing.paid":             "Paid",
	"billing.payment_failed":   "Payment failed",
	"access.grant":             "Granted access",
	"access.revoke":            "Revoked access",
	"member.add":               "Added member",
	"member.role_change":       "Changed role",
	"member.suspend":           "Suspended member",
	"member.restore":           "Restored member",
	"member.remove":            "Removed member",
	"member.leave":             "Left organization",
	"invitation.create":        "Invited",
	"invitation.accept":        "Accepted invitation",
	"invitation.decline":       "Declined invitation",
	"invitation.resend":        "Resent invitation",
	"invitation.revoke":        "Revoked invitation",
	"apikey.create":            "Created API key",
	"apikey.revoke":            "Revoked API key",

	// Auto-recharge (billing, autorecharge.go).
	"billing.auto_recharge":          "Started an auto-recharge",
	"billing.auto_recharge_settings": "Changed auto-recharge",
	"billing.auto_recharge_off":      "Auto-recharge turned off",
}

// AuditActionLabel returns an audit action as people read it:
// "workspace.move" is "Moved workspace"; an unknown "member.role_change"
// is "Member role change".
func AuditActionLabel(action string) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	s := strings.NewReplacer(".", " ", "_", " ").Replace(action)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// AuditCategory is the part of an action before its first dot
// ("workspace" for "workspace.move"): the filter offers each category as a
// whole.
func AuditCategory(action string) string {
	c, _, _ := strings.Cut(action, ".")
	return c
}
