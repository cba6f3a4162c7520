package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

type emailRow struct {
	ID        int64
	OrgID     *int64
	ToAddress string
	Subject   string
	TextBody  string
	HTMLBody  string `gorm:"column:html_body"`
	CreatedAt time.Time
	SentAt    *time.Time
	Attempts  int
	LastError string
}

func (emailRow) TableName() string { return "emails" }

func (r emailRow) domain() *orgbase.Email {
	return &orgbase.Email{ID: r.ID, OrgID: r.OrgID, To: r.ToAddress, Subject: r.Subject, Text: r.TextBody, HTML: r.HTMLBody, CreatedAt: r.CreatedAt, SentAt: r.SentAt}
}

// insertEmail writes an email to the outbox inside the caller's transaction,
// so it exists exactly when the change that caused it commits.
func insertEmail(tx *gorm.DB, e *orgbase.Email, now time.Time) error {
	row := emailRow{OrgID: e.OrgID, ToAddress: e.To, Subject: e.Subject, TextBody: e.Text, HTMLBody: e.HTML, CreatedAt: now}
	if err := tx.Create(&row).Error; err != nil {
		return err
	}
	e.ID, e.CreatedAt = row.ID, now
	return nil
}

// FindEmails lists the newest outbox emails, optionally only those to one
// address, newest first.
func (db *DB) FindEmails(ctx context.Context, to string, limit int) ([]*orgbase.Email, error) {
	q := db.q(ctx).Order("id DESC").Limit(limit)
	if to != "" {
		q = q.Where("to_address = ?", to)
	}
	var rows []emailRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgbase.Email, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// FindEmailByID returns one outbox email, or ENOTFOUND.
func (db *DB) FindEmailByID(ctx context.Context, id int64) (*orgbase.Email, error) {
	var row emailRow
	if err := db.q(ctx).Take(&row, "id = ?", id).Error; err != nil {
		return nil, notFound(err, "Email not found.")
	}
	return row.domain(), nil
}
