package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// orgEmails returns the outbox emails about the organization, oldest first
// (sign-up verifications carry no organization).
func orgEmails(t *testing.T, db *store.DB, orgID int64) []*orgbase.Email {
	t.Helper()
	all, err := db.FindEmails(context.Background(), "", 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []*orgbase.Email
	for _, e := range all {
		if e.OrgID != nil && *e.OrgID == orgID {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}

func recipients(es []*orgbase.Email) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.To)
	}
	return out
}

// billingWorld is the tree's organization with an admin, a billing member
// and a plain member besides its owner.
func billingWorld(t *testing.T, db *store.DB) (*tree, map[string]*orgbase.User) {
	t.Helper()
	tr := newTree(t, db)
	people := map[string]*orgbase.User{"owner": tr.owner}
	for _, p := range []struct {
		key  string
		role orgbase.Role
	}{{"admin", orgbase.RoleAdmin}, {"billing", orgbase.RoleBilling}, {"member", orgbase.RoleMember}} {
		u := mustUser(t, db, p.key+"@example.com")
		if err := db.AddMember(context.Background(), tr.org.ID, u.ID, p.role); err != nil {
			t.Fatal(err)
		}
		people[p.key] = u
	}
	return tr, people
}

func setBillingEmail(t *testing.T, db *store.DB, org *orgbase.Org, email string) {
	t.Helper()
	if _, err := db.UpdateOrg(context.Background(), org.ID, orgbase.OrgUpdate{Name: org.Name, Slug: org.Slug, BillingEmail: email}); err != nil {
		t.Fatal(err)
	}
}

// TestReceiptEmail: paying writes one receipt per recipient to the outbox
// in the paying transaction; a replay writes none.
func TestReceiptEmail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr, _ := billingWorld(t, db)
		setBillingEmail(t, db, tr.org, "books@acme.example")

		co := startCheckout(t, db, tr.org, orgbase.OfferPlan, orgbase.PlanPro)
		if n := len(orgEmails(t, db, tr.org.ID)); n != 0 {
			t.Fatalf("%d emails before paying, want none", n)
		}
		if _, err := db.ApplyBillingEvent(ctx, paid(co, "evt_1")); err != nil {
			t.Fatal(err)
		}
		mails := orgEmails(t, db, tr.org.ID)
		if len(mails) != 1 || mails[0].To != "books@acme.example" {
			t.Fatalf("emails to %q, want one receipt to the billing email", recipients(mails))
		}
		m := mails[0]
		if m.Subject != "Acme: receipt for invoice ACME-0001" {
			t.Errorf("subject %q", m.Subject)
		}
		for _, want := range []string{"ACME-0001", "Pro plan, 50,000 credits every month", "$49.00", "50,000 credits were added",
			"/orgs/acme/billing/invoices/" + itoa(co.InvoiceID)} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("receipt lacks %q:\n%s", want, m.Text)
			}
		}
		// Replays, of the event or another one for the same payment, send nothing.
		if _, err := db.ApplyBillingEvent(ctx, paid(co, "evt_1")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyBillingEvent(ctx, paid(co, "evt_2")); err != nil {
			t.Fatal(err)
		}
		if n := len(orgEmails(t, db, tr.org.ID)); n != 1 {
			t.Fatalf("%d emails after replays, want still 1", n)
		}

		// Without a billing email: the owners and billing members get it, not admins or members.
		setBillingEmail(t, db, tr.org, "")
		top := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if _, err := db.ApplyBillingEvent(ctx, paid(top, "evt_top")); err != nil {
			t.Fatal(err)
		}
		mails = orgEmails(t, db, tr.org.ID)[1:]
		if got := strings.Join(recipients(mails), ","); got != "owner@example.com,billing@example.com" {
			t.Fatalf("top-up receipts to %s, want the owner and the billing member", got)
		}
		for _, m := range mails {
			if !strings.Contains(m.Text, "ACME-0002") || !strings.Contains(m.Text, "10,000 credits were added") || !strings.Contains(m.Text, "$12.00") {
				t.Errorf("top-up receipt:\n%s", m.Text)
			}
		}
		// Receipts are not notifications.
		if ns, _, _ := db.FindNotifications(ctx, tr.org.ID, tr.owner.ID, store.NotificationFilter{}); len(ns) != 0 {
			t.Errorf("the owner has %d notifications after paying, want none", len(ns))
		}
		ledgerOK(t, db)
	})
}

// TestReceiptMailer: the web server's mailer composes the receipt (absolute links).
func TestReceiptMailer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		var got []store.BillingMail
		db.SetBillingMailer(func(m store.BillingMail) (*orgbase.Email, error) {
			got = append(got, m)
			return &orgbase.Email{To: m.To.Email, Subject: "composed " + m.Kind, Text: "https://orgbase.example" + m.Path()}, nil
		})
		defer db.SetBillingMailer(nil)
		co := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if _, err := db.ApplyBillingEvent(ctx, paid(co, "evt_1")); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("mailer called %d times, want once", len(got))
		}
		m := got[0]
		if m.Kind != store.BillingMailReceipt || m.To.Email != "owner@example.com" || m.To.Name != "Ann Example" || m.OrgName != "Acme" ||
			m.InvoiceID != co.InvoiceID || m.InvoiceNumber != "ACME-0001" || m.Total() != "$12.00" || m.Credits != 10_000*credit ||
			m.Description != co.Description || m.Path() != "/orgs/acme/billing/invoices/"+itoa(co.InvoiceID) {
			t.Errorf("mail %+v", m)
		}
		mails := orgEmails(t, db, tr.org.ID)
		if len(mails) != 1 || mails[0].Subject != "composed receipt" {
			t.Fatalf("outbox %+v", mails)
		}
	})
}

// TestPaymentFailedNotice: a declined payment writes the notice to the
// billing recipients and a notification to each owner, admin and billing
// member, and grants nothing; a replay writes nothing more.
func TestPaymentFailedNotice(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr, people := billingWorld(t, db)
		co := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-50k")
		declined := billing.Event{Provider: "test", ID: "evt_d", Kind: billing.EventPaymentFailed, Reference: co.Reference, Message: "Your card was declined."}
		if out, err := db.ApplyBillingEvent(ctx, declined); err != nil || out.Status != store.OutcomeFailed {
			t.Fatalf("decline: %+v, %v", out, err)
		}
		mails := orgEmails(t, db, tr.org.ID)
		if got := strings.Join(recipients(mails), ","); got != "owner@example.com,billing@example.com" {
			t.Fatalf("notices to %s, want the owner and the billing member", got)
		}
		for _, m := range mails {
			if m.Subject != "Acme: a payment failed" {
				t.Errorf("subject %q", m.Subject)
			}
			for _, want := range []string{"ACME-0001", co.Description, "Your card was declined.", "No credits were added", "/orgs/acme/billing"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("notice lacks %q:\n%s", want, m.Text)
				}
			}
		}
		for who, want := range map[string]int{"owner": 1, "admin": 1, "billing": 1, "member": 0} {
			ns, _, err := db.FindNotifications(ctx, tr.org.ID, people[who].ID, store.NotificationFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) != want {
				t.Errorf("%s has %d notifications, want %d", who, len(ns), want)
				continue
			}
			if want == 0 {
				continue
			}
			n := ns[0]
			if n.AlertID != nil || n.Level != orgbase.NotificationWarning || n.Path != "/billing" || n.Title != "A payment failed" ||
				!strings.Contains(n.Body, "ACME-0001") || !strings.Contains(n.Body, "Your card was declined.") || n.ReadAt != nil {
				t.Errorf("%s's notification %+v", who, n)
			}
		}
		// A replay of the decline tells nobody again.
		if out, err := db.ApplyBillingEvent(ctx, declined); err != nil || !out.Replayed {
			t.Fatalf("replay: %+v, %v", out, err)
		}
		if n := len(orgEmails(t, db, tr.org.ID)); n != 2 {
			t.Errorf("%d emails after the replay, want still 2", n)
		}
		if n, _ := db.CountUnreadNotifications(ctx, tr.org.ID, tr.owner.ID); n != 1 {
			t.Errorf("the owner has %d unread after the replay, want 1", n)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 0 {
			t.Fatalf("pool %s after a decline, want 0", b)
		}

		// A provider error (FailCheckout) goes through the same notice, to the billing email when set.
		setBillingEmail(t, db, tr.org, "books@acme.example")
		co2 := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if err := db.FailCheckout(ctx, tr.org.ID, co2.Reference, "The payment provider is unavailable."); err != nil {
			t.Fatal(err)
		}
		mails = orgEmails(t, db, tr.org.ID)
		if len(mails) != 3 || mails[2].To != "books@acme.example" || !strings.Contains(mails[2].Text, "The payment provider is unavailable.") {
			t.Fatalf("after a provider error: emails to %q", recipients(mails))
		}
		if n, _ := db.CountUnreadNotifications(ctx, tr.org.ID, people["billing"].ID); n != 2 {
			t.Errorf("the billing member has %d unread, want 2", n)
		}
		ledgerOK(t, db)
	})
}

// TestRenewalMail: renewals go through the same paths: a paid renewal sends
// its receipt, a declined one the payment-failed notice and notification.
func TestRenewalMail(t *testing.T) {
	eachSub(t, func(f *subFixture) {
		f.buy(orgbase.OfferPlan, orgbase.PlanPro)
		f.clock.Set(subStart.AddDate(0, 1, 0))
		r := f.renew(billing.EventCheckoutCompleted)
		if r.Action != store.RenewalCharge {
			f.t.Fatalf("renewal: %+v", r)
		}
		inv, err := f.db.FindInvoice(f.ctx, f.org.ID, r.Checkout.InvoiceID)
		if err != nil {
			f.t.Fatal(err)
		}
		mails := orgEmails(f.t, f.db, f.org.ID)
		if len(mails) != 2 || !strings.Contains(mails[1].Subject, "receipt for invoice "+inv.Number) ||
			!strings.Contains(mails[1].Text, "50,000 credits were added") {
			f.t.Fatalf("emails %q, want the purchase's and the renewal's receipts", recipients(mails))
		}
		f.clock.Set(subStart.AddDate(0, 2, 0))
		r = f.renew(billing.EventPaymentFailed)
		if r.Action != store.RenewalCharge {
			f.t.Fatalf("second renewal: %+v", r)
		}
		mails = orgEmails(f.t, f.db, f.org.ID)
		if len(mails) != 3 || mails[2].Subject != "Acme: a payment failed" || !strings.Contains(mails[2].Text, "The saved card was declined.") {
			f.t.Fatalf("emails after a declined renewal: %d", len(mails))
		}
		owner, _, err := f.db.FindUserByEmail(f.ctx, "owner@example.com")
		if err != nil {
			f.t.Fatal(err)
		}
		ns, _, err := f.db.FindNotifications(f.ctx, f.org.ID, owner.ID, store.NotificationFilter{})
		if err != nil || len(ns) != 1 || ns[0].Title != "A payment failed" || !strings.Contains(ns[0].Body, r.Checkout.Description) {
			f.t.Fatalf("owner's notifications %+v, %v; want the declined renewal", ns, err)
		}
	})
}
