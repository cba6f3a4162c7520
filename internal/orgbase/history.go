package orgbase

import "time"

// UsageEvent is one accepted charge as the History tab shows it (SPEC §8):
// who used which tool and model where, when, and what it cost.
type UsageEvent struct {
	ID             int64
	WorkspaceID    int64
	UserID         int64
	UserName       string // "" when the user no longer exists
	UserEmail      string
	Tool           string
	Model          string
	Category       Category
	Units          int64
	Credits        Credits
	IdempotencyKey string
	CreatedAt      time.Time // UTC
}
