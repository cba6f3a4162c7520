package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestInvitationTokenIsNeverStored invites someone with a real 256-bit
// token, lets the worker deliver the email, and then searches every text
// column of every table for the raw token: only its hash may be there (the
// outbox keeps a body only until it is delivered).
func TestInvitationTokenIsNeverStored(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var k sink
		start(t, db, k.listen(t, "127.0.0.1:0"))
		owner, err := db.CreateVerifiedUser(ctx, "owner@example.com", "Owner", "x")
		if err != nil {
			t.Fatal(err)
		}
		org, err := db.CreateOrg(ctx, owner, store.NewOrg{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			t.Fatal(err)
		}
		token := base64.RawURLEncoding.EncodeToString(raw[:]) // 256 bits, as the app makes them
		mail := &orgbase.Email{To: "new@example.com", Subject: "Join Acme", Text: "Accept: http://x.test/invites/" + token, HTML: "<a href=\"http://x.test/invites/" + token + "\">Accept</a>"}
		_, err = db.CreateInvitations(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.InviteBatch{Role: orgbase.RoleMember,
			ExpiresAt: time.Now().Add(time.Hour), Invites: []store.NewInvite{{Email: "new@example.com", TokenHash: "sha-of-token", Mail: mail}}})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the invitation email to be sent", 10*time.Second, func() bool { return delivery(t, db, mail.ID).SentAt != nil })
		if msgs := k.messages(); len(msgs) != 1 || !strings.Contains(string(msgs[0].data), token[:20]) {
			t.Fatalf("the delivered email does not carry the link (%d messages)", len(msgs))
		}
		if where := searchAllText(t, db, token); len(where) > 0 {
			t.Fatalf("the raw token is stored in %v", where)
		}
	})
}

// searchAllText returns the table.column places whose text contains needle.
func searchAllText(t *testing.T, db *store.DB, needle string) []string {
	t.Helper()
	ctx := context.Background()
	q := `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'jsonb', 'bytea')`
	if db.Dialect() == store.SQLite {
		q = `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
			WHERE m.type = 'table' AND (p.type LIKE '%TEXT%' OR p.type LIKE '%CHAR%' OR p.type LIKE '%BLOB%' OR p.type = '')`
	}
	rows, err := db.SQL().QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var cols [][2]string
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, [2]string{tbl, col})
	}
	rows.Close()
	if len(cols) < 10 {
		t.Fatalf("found only %d text columns to search; the schema query is wrong", len(cols))
	}
	var found []string
	for _, c := range cols {
		cond := fmt.Sprintf(`CAST(%q AS TEXT) LIKE '%%' || $1 || '%%'`, c[1])
		if db.Dialect() == store.SQLite {
			cond = fmt.Sprintf(`CAST(%q AS TEXT) LIKE '%%' || ? || '%%'`, c[1])
		} else if strings.HasPrefix(c[0], "river_") || c[1] == "data" {
			cond = fmt.Sprintf(`encode(convert_to(CAST(%q AS TEXT), 'UTF8'), 'escape') LIKE '%%' || $1 || '%%'`, c[1])
		}
		var n int
		err := db.SQL().QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE %s`, c[0], cond), needle).Scan(&n)
		if err == sql.ErrNoRows {
			continue
		} else if err != nil {
			t.Fatalf("search %s.%s: %v", c[0], c[1], err)
		}
		if n > 0 {
			found = append(found, c[0]+"."+c[1])
		}
	}
	return found
}
