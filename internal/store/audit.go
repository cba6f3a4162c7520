package store

import (
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

type auditRow struct {
	ID          int64
	OrgID       int64
	ActorID     *int64
	IP          string `gorm:"column:ip"`
	UserAgent   string
	Action      string
	TargetType  string
	TargetID    string
	TargetLabel string
	Changes     string
	CreatedAt   time.Time
}

func (auditRow) TableName() string { return "audit_log" }

// Change is one changed field: its value before and after.
type Change struct {
	From any `json:"from,omitempty"`
	To   any `json:"to,omitempty"`
}

// audit appends an entry to the audit log inside the caller's transaction,
// so the entry exists exactly when the change it records commits. The
// actor, IP and user agent come from the request context (orgbase.AuditMeta).
// changes is marshalled to JSON (a map of field → Change, or any value).
func audit(tx *gorm.DB, orgID int64, action, targetType, targetID, targetLabel string, changes any) error {
	meta := orgbase.AuditMetaFrom(tx.Statement.Context)
	row := auditRow{OrgID: orgID, IP: meta.IP, UserAgent: meta.UserAgent, Action: action,
		TargetType: targetType, TargetID: targetID, TargetLabel: targetLabel, Changes: "{}", CreatedAt: time.Now().UTC()}
	if meta.ActorID != 0 {
		id := meta.ActorID
		row.ActorID = &id
	}
	if changes != nil {
		b, err := json.Marshal(changes)
		if err != nil {
			return err
		}
		row.Changes = string(b)
	}
	return tx.Create(&row).Error
}
