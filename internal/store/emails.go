package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
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

// EmailEnqueuer schedules the delivery of outbox email emailID. It runs
// inside tx, the transaction that wrote the email, so the delivery job
// commits or rolls back with it (internal/jobs inserts a River job).
type EmailEnqueuer func(ctx context.Context, tx *sql.Tx, emailID int64) error

// SetEmailEnqueuer makes every email written from now on also enqueue its
// delivery. Without one (no SMTP server configured) emails only stay in the
// outbox, which the dev mailbox shows. Pass nil to stop enqueuing.
func (db *DB) SetEmailEnqueuer(f EmailEnqueuer) {
	if f == nil {
		db.outbox.enqueue.Store(nil)
		return
	}
	db.outbox.enqueue.Store(&f)
}

// outboxHook carries the EmailEnqueuer to insertEmail, which only sees the
// transaction: it is registered as a GORM plugin, so every session derived
// from the DB's handle finds it in its Config.
type outboxHook struct{ enqueue atomic.Pointer[EmailEnqueuer] }

const outboxHookName = "orgbase:outbox"

func (*outboxHook) Name() string              { return outboxHookName }
func (*outboxHook) Initialize(*gorm.DB) error { return nil }

// insertEmail writes an email to the outbox inside the caller's transaction,
// so it exists exactly when the change that caused it commits. When delivery
// is configured, the delivery job is inserted in the same transaction.
func insertEmail(tx *gorm.DB, e *orgbase.Email, now time.Time) error {
	var enqueue EmailEnqueuer
	if h, ok := tx.Config.Plugins[outboxHookName].(*outboxHook); ok {
		if f := h.enqueue.Load(); f != nil {
			enqueue = *f
		}
	}
	write := func(tx *gorm.DB) error {
		row := emailRow{OrgID: e.OrgID, ToAddress: e.To, Subject: e.Subject, TextBody: e.Text, HTMLBody: e.HTML, CreatedAt: now}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if enqueue != nil {
			sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
			if !ok {
				return errors.New("insertEmail: no database/sql transaction under the GORM transaction")
			}
			if err := enqueue(tx.Statement.Context, sqlTx, row.ID); err != nil {
				return err
			}
		}
		e.ID, e.CreatedAt = row.ID, now
		return nil
	}
	if _, inTx := tx.Statement.ConnPool.(*sql.Tx); enqueue != nil && !inTx {
		// Called outside a transaction: the row and its job still go together.
		return tx.Transaction(write)
	}
	return write(tx)
}

// EmailDelivery is the delivery state of one outbox email.
type EmailDelivery struct {
	SentAt    *time.Time
	Attempts  int
	LastError string
}

// FindEmailDelivery returns the delivery state of an outbox email, or ENOTFOUND.
func (db *DB) FindEmailDelivery(ctx context.Context, id int64) (*EmailDelivery, error) {
	var row emailRow
	if err := db.q(ctx).Select("sent_at", "attempts", "last_error").Take(&row, "id = ?", id).Error; err != nil {
		return nil, notFound(err, "Email not found.")
	}
	return &EmailDelivery{SentAt: row.SentAt, Attempts: row.Attempts, LastError: row.LastError}, nil
}

// DeliveredBody replaces the text of a delivered email in the outbox.
const DeliveredBody = "[delivered; the body is not kept because it may carry single-use links]"

// MarkEmailSent records a successful delivery and drops the message body:
// bodies carry single-use links (invitations, resets), which must not stay
// in the database once the email is on its way. Recipient, subject and
// times remain for support.
func (db *DB) MarkEmailSent(ctx context.Context, id int64) error {
	return db.q(ctx).Model(&emailRow{}).Where("id = ?", id).
		Updates(map[string]any{"sent_at": db.now(), "attempts": gorm.Expr("attempts + 1"), "last_error": "",
			"text_body": DeliveredBody, "html_body": ""}).Error
}

// RecordEmailFailure records a failed delivery attempt and its error.
func (db *DB) RecordEmailFailure(ctx context.Context, id int64, cause error) error {
	msg := cause.Error()
	if r := []rune(msg); len(r) > 1000 {
		msg = string(r[:1000])
	}
	msg = strings.ToValidUTF8(msg, "?")
	return db.q(ctx).Model(&emailRow{}).Where("id = ?", id).
		Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_error": msg}).Error
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
