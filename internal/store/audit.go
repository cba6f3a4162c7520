package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

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
	ActorName   string `gorm:"->;-:migration"` // read by list queries (LEFT JOIN users)
	ActorEmail  string `gorm:"->;-:migration"`
}

func (auditRow) TableName() string { return "audit_log" }

func (r auditRow) domain() orgbase.AuditEntry {
	return orgbase.AuditEntry{ID: r.ID, OrgID: r.OrgID, ActorID: r.ActorID, ActorName: r.ActorName, ActorEmail: r.ActorEmail,
		IP: r.IP, UserAgent: r.UserAgent, Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID,
		TargetLabel: r.TargetLabel, Changes: r.Changes, CreatedAt: r.CreatedAt.UTC()}
}

// Change is one changed field: its value before and after. A nil From means
// the field had no value before (a creation), a nil To that it has none after.
type Change struct {
	From any `json:"from,omitempty"`
	To   any `json:"to,omitempty"`
}

// changed records a field in changes when its value differs.
func changed[T comparable](changes map[string]Change, field string, from, to T) {
	if from != to {
		changes[field] = Change{From: from, To: to}
	}
}

// audit appends an entry to the audit log inside the caller's transaction,
// so the entry exists exactly when the change it records commits. The
// actor, IP and user agent come from the request context (orgbase.AuditMeta).
// changes is marshalled to JSON (a map of field → Change, or any value).
// The time is the database handle's clock (gorm's NowFunc), in UTC.
func audit(tx *gorm.DB, orgID int64, action, targetType, targetID, targetLabel string, changes any) error {
	meta := orgbase.AuditMetaFrom(tx.Statement.Context)
	row := auditRow{OrgID: orgID, IP: meta.IP, UserAgent: meta.UserAgent, Action: action,
		TargetType: targetType, TargetID: targetID, TargetLabel: targetLabel, Changes: "{}",
		CreatedAt: tx.NowFunc().UTC().Truncate(time.Microsecond)}
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

// AuditNoActor, as AuditFilter.ActorID, selects the entries no signed-in
// person made (the operator's command line, background jobs).
const AuditNoActor int64 = -1

// AuditFilter narrows FindAudit and EachAudit. Zero fields do not filter.
type AuditFilter struct {
	ActorID int64     // a user's id, or AuditNoActor
	Action  string    // an exact action ("workspace.move"), or a prefix ending in "." ("workspace.")
	From    time.Time // entries at or after From
	To      time.Time // entries before To
	Before  int64     // keyset cursor: entries with a smaller id (older) only
	Limit   int       // FindAudit's page size; defaults to 50, at most 500
}

// maxAuditPage bounds one page (and one chunk of an export).
const maxAuditPage = 500

func (db *DB) auditQuery(ctx context.Context, orgID int64, f AuditFilter) *gorm.DB {
	q := db.q(ctx).Table("audit_log a").
		Select("a.id, a.org_id, a.actor_id, a.ip, a.user_agent, a.action, a.target_type, a.target_id, a.target_label, a.changes, a.created_at, "+
			"COALESCE(u.name, '') AS actor_name, COALESCE(u.email, '') AS actor_email").
		Joins("LEFT JOIN users u ON u.id = a.actor_id").
		Where("a.org_id = ?", orgID)
	switch {
	case f.ActorID == AuditNoActor:
		q = q.Where("a.actor_id IS NULL")
	case f.ActorID > 0:
		q = q.Where("a.actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		if f.Action[len(f.Action)-1] == '.' {
			// substr rather than LIKE: action names hold "_", a LIKE wildcard.
			q = q.Where("substr(a.action, 1, ?) = ?", utf8.RuneCountInString(f.Action), f.Action)
		} else {
			q = q.Where("a.action = ?", f.Action)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("a.created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("a.created_at < ?", f.To.UTC())
	}
	if f.Before > 0 {
		q = q.Where("a.id < ?", f.Before)
	}
	return q.Order("a.id DESC")
}

// FindAudit returns one page of an organization's audit log, newest first,
// with each actor's name and email; more reports whether older entries
// match too (pass the last entry's id as Before to read them).
func (db *DB) FindAudit(ctx context.Context, orgID int64, f AuditFilter) (entries []orgbase.AuditEntry, more bool, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxAuditPage)
	var rows []auditRow
	if err := db.auditQuery(ctx, orgID, f).Limit(limit + 1).Scan(&rows).Error; err != nil {
		return nil, false, err
	}
	if len(rows) > limit {
		rows, more = rows[:limit], true
	}
	entries = make([]orgbase.AuditEntry, len(rows))
	for i, r := range rows {
		entries[i] = r.domain()
	}
	return entries, more, nil
}

// EachAudit calls fn with every entry of the organization's audit log that
// matches f (Limit is ignored), newest first, until fn returns an error,
// which EachAudit returns.
//
// It reads the log in keyset chunks of bounded size and calls fn only
// between queries: memory stays constant whatever the size of the log, and
// a slow reader (a CSV download) never holds a database connection, which
// on SQLite would block every other request. Entries written after the
// export started are not included.
func (db *DB) EachAudit(ctx context.Context, orgID int64, f AuditFilter, fn func(orgbase.AuditEntry) error) error {
	return eachChunk(db, maxAuditPage, func(last *auditRow) *gorm.DB {
		if last != nil {
			f.Before = last.ID
		}
		return db.auditQuery(ctx, orgID, f).Limit(maxAuditPage)
	}, func(r auditRow) error { return fn(r.domain()) })
}

// eachChunk calls fn with every row of a keyset-ordered query, reading it in
// chunks of at most size rows: query(last) builds the query for the next
// size rows after last (nil for the first chunk), LIMIT included. Each chunk is read
// through *sql.Rows into one reused buffer, and fn runs only once the chunk's
// rows are closed: memory stays constant whatever the size of the result,
// and a slow consumer (a CSV download) never holds a database connection,
// which on SQLite would block every other request. It stops at the first
// error, of the database or of fn, and returns it.
func eachChunk[R any](db *DB, size int, query func(last *R) *gorm.DB, fn func(R) error) error {
	chunk := make([]R, 0, size)
	var last *R
	for {
		chunk = chunk[:0]
		rows, err := query(last).Rows()
		if err != nil {
			return err
		}
		for rows.Next() {
			var r R
			if err := db.gorm.ScanRows(rows, &r); err != nil {
				rows.Close()
				return err
			}
			chunk = append(chunk, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < size {
			return nil
		}
		l := chunk[len(chunk)-1]
		last = &l
	}
}

// FindAuditActions lists the distinct actions in an organization's audit
// log, sorted, for the log's filter.
func (db *DB) FindAuditActions(ctx context.Context, orgID int64) ([]string, error) {
	var out []string
	err := db.q(ctx).Table("audit_log").Where("org_id = ?", orgID).Distinct("action").Order("action").Pluck("action", &out).Error
	return out, err
}

// FindAuditActors lists the people who appear as actors in an organization's
// audit log (members or not, now), by name, for the log's filter.
func (db *DB) FindAuditActors(ctx context.Context, orgID int64) ([]orgbase.User, error) {
	var rows []userRow
	err := db.q(ctx).Select("id", "email", "name").
		Where("id IN (?)", db.q(ctx).Table("audit_log").Select("actor_id").Where("org_id = ? AND actor_id IS NOT NULL", orgID)).
		Order("lower(name), id").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]orgbase.User, len(rows))
	for i, r := range rows {
		out[i] = orgbase.User{ID: r.ID, Email: r.Email, Name: r.Name}
	}
	return out, nil
}

// userLabel is how the audit log names a person who is the target of a
// change: "Name (email)", as they were at the time.
func userLabel(tx *gorm.DB, userID int64) (string, error) {
	var u userRow
	if err := tx.Select("id", "name", "email").Take(&u, "id = ?", userID).Error; err != nil {
		return "", notFound(err, "User not found.")
	}
	return u.Name + " (" + u.Email + ")", nil
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
