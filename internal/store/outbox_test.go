package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// The email enqueuer runs inside the transaction that writes the email, sees
// the row, and its failure rolls the whole change back.
func TestEmailEnqueuerSharesTheTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var ids []int64
		q := "SELECT to_address FROM emails WHERE id = ?"
		if db.Dialect() == store.Postgres {
			q = "SELECT to_address FROM emails WHERE id = $1"
		}
		db.SetEmailEnqueuer(func(ctx context.Context, tx *sql.Tx, id int64) error {
			var to string
			if err := tx.QueryRowContext(ctx, q, id).Scan(&to); err != nil {
				t.Errorf("the enqueuer cannot see email %d in its transaction: %v", id, err)
			}
			ids = append(ids, id)
			if strings.HasPrefix(to, "fail") {
				return errors.New("enqueue failed")
			}
			return nil
		})
		u := mustUser(t, db, "ann@example.com")
		if len(ids) != 1 {
			t.Fatalf("enqueuer called %d times, want 1", len(ids))
		}
		if e, err := db.FindEmailByID(ctx, ids[0]); err != nil || e.To != u.Email {
			t.Fatalf("enqueued email %d = %+v, %v", ids[0], e, err)
		}

		_, err := db.CreateUser(ctx, "fail@example.com", "F", "hash", store.NewToken{Hash: "verify-fail", ExpiresAt: db.Now().Add(time.Hour),
			Email: &orgbase.Email{To: "fail@example.com", Subject: "Verify", Text: "t", HTML: "h"}})
		if err == nil {
			t.Fatal("CreateUser succeeded although enqueuing failed")
		}
		if ok, _ := db.UserExists(ctx, "fail@example.com"); ok {
			t.Error("the user was kept although enqueuing its email failed")
		}
		if es, _ := db.FindEmails(ctx, "fail@example.com", 10); len(es) != 0 {
			t.Error("the email was kept although enqueuing it failed")
		}

		db.SetEmailEnqueuer(nil)
		mustUser(t, db, "bob@example.com")
		if len(ids) != 2 {
			t.Errorf("enqueuer called after removal: %d calls", len(ids))
		}
	})
}

func TestEmailDeliveryBookkeeping(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mustUser(t, db, "ann@example.com")
		es, err := db.FindEmails(ctx, "ann@example.com", 1)
		if err != nil || len(es) != 1 {
			t.Fatal(es, err)
		}
		id := es[0].ID
		if err := db.RecordEmailFailure(ctx, id, errors.New("connection refused \xff")); err != nil {
			t.Fatal(err)
		}
		d, err := db.FindEmailDelivery(ctx, id)
		if err != nil || d.Attempts != 1 || d.SentAt != nil || !strings.HasPrefix(d.LastError, "connection refused") {
			t.Fatalf("after a failure: %+v, %v", d, err)
		}
		if err := db.MarkEmailSent(ctx, id); err != nil {
			t.Fatal(err)
		}
		d, err = db.FindEmailDelivery(ctx, id)
		if err != nil || d.Attempts != 2 || d.SentAt == nil || d.LastError != "" {
			t.Fatalf("after delivery: %+v, %v", d, err)
		}
	})
}

// Every migration, River's included, rolls back one by one to an empty
// database and applies again.
func TestMigrateDownToNothingAndUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st, err := db.MigrateStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		river := 0
		for _, s := range st {
			if !s.Applied {
				t.Errorf("%s not applied after Migrate", s.Name)
			}
			if strings.HasPrefix(s.Name, "river/") {
				river++
			}
		}
		if river == 0 || !strings.HasPrefix(st[0].Name, "river/") {
			t.Fatalf("status does not list River's migrations first: %+v", st)
		}
		for i := range st {
			if err := db.MigrateDown(ctx); err != nil {
				t.Fatalf("down #%d: %v", i+1, err)
			}
			after, err := db.MigrateStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Exactly the last i+1 migrations are rolled back.
			for j, s := range after {
				if want := j < len(st)-i-1; s.Applied != want {
					t.Fatalf("after %d downs %s applied = %v", i+1, s.Name, s.Applied)
				}
			}
		}
		if err := db.MigrateDown(ctx); err == nil {
			t.Error("MigrateDown with nothing left: got nil, want an error")
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("Ready after migrating again: %v", err)
		}
	})
}
