package orgbase

import (
	"context"
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
