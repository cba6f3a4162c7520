package jobs

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// arOrg creates an organization whose saved test card ends in last4 and
// whose auto-recharge is on: below 5,000 credits, buy 10,000 ($12), at
// most $60 a month. Its pool is empty.
func arOrg(t *testing.T, db *store.DB, slug, last4 string) int64 {
	t.Helper()
	ctx := context.Background()
	owner, err := db.CreateVerifiedUser(ctx, "owner@"+slug+".test", "Owner", "x")
	if err != nil {
		t.Fatal(err)
	}
	org, err := db.CreateOrg(ctx, owner, store.NewOrg{Name: slug, Slug: slug})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveBillingCustomer(ctx, orgbase.BillingCustomer{OrgID: org.ID, Provider: testprovider.Name,
		CustomerID: testprovider.CustomerID(org.ID), CardBrand: "Visa", CardLast4: last4}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveAutoRecharge(ctx, org.ID, orgbase.OperatorAccess(org.ID), orgbase.AutoRechargeSettings{Enabled: true,
		Threshold: 5_000 * orgbase.Credit, Pack: "pack-10k", MonthlyCapCents: 6_000}, testprovider.Name); err != nil {
		t.Fatal(err)
	}
	return org.ID
}

// TestBillerAutoRecharge: a billing pass with the test provider charges the
// auto-recharge of an organization below its threshold and the credits
// land once (a second pass finds the pool above the threshold); an
// organization whose saved card declines off-session (4000 0000 0000 0341)
// gets nothing and its auto-recharge is turned off, with the reason.
func TestBillerAutoRecharge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base, _ := url.Parse("http://orgbase.test")
		b := &Biller{DB: db, Payments: testprovider.New(base, db)}
		good := arOrg(t, db, "good", testprovider.CardSuccess[12:])
		bad := arOrg(t, db, "bad", testprovider.CardDeclineOffSession[12:])
		full := arOrg(t, db, "full", testprovider.CardSuccess[12:])
		if _, err := db.GrantCredits(ctx, full, 5_000*orgbase.Credit, "test", ""); err != nil {
			t.Fatal(err)
		}

		rep, err := b.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Recharged != 1 || rep.Declined != 1 || rep.Renewed != 0 {
			t.Fatalf("first pass %+v, want one recharged and one declined", rep)
		}
		for range 2 {
			rep, err = b.Run(ctx)
			if err != nil || rep != (BillingReport{}) {
				t.Fatalf("next pass %+v, %v; want nothing done", rep, err)
			}
		}

		pool := func(org int64) orgbase.Credits {
			bal, err := db.PoolBalance(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			return bal
		}
		if p := pool(good); p != 10_000*orgbase.Credit {
			t.Errorf("good pool %s, want 10,000 (one pack, once)", p)
		}
		if p := pool(bad); p != 0 {
			t.Errorf("declined pool %s, want 0", p)
		}
		if p := pool(full); p != 5_000*orgbase.Credit {
			t.Errorf("pool at the threshold %s, want 5,000 untouched", p)
		}
		invoices := func(org int64) []orgbase.Invoice {
			list, err := db.FindInvoices(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			return list
		}
		if list := invoices(good); len(list) != 1 || list[0].Status != orgbase.InvoicePaid || list[0].TotalCents != 1_200 || list[0].PaymentRef == "" {
			t.Errorf("good invoices %+v", list)
		}
		if list := invoices(full); len(list) != 0 {
			t.Errorf("invoices above the threshold %+v", list)
		}
		ar, err := db.FindAutoRecharge(ctx, good)
		if err != nil || !ar.Enabled || ar.SpentCents != 1_200 {
			t.Errorf("good auto-recharge %+v, %v", ar, err)
		}
		ar, err = db.FindAutoRecharge(ctx, bad)
		if err != nil || ar.Enabled || !ar.OffByFailedPayment() || !strings.Contains(ar.OffReason, "declined") {
			t.Errorf("declined auto-recharge %+v, %v", ar, err)
		}
		if list := invoices(bad); len(list) != 1 || list[0].Status != orgbase.InvoiceFailed || !strings.Contains(list[0].FailureMessage, "Auto-recharge is now off") {
			t.Errorf("declined invoices %+v", list)
		}
		check, err := db.CheckLedger(ctx)
		if err != nil || !check.OK() {
			t.Fatalf("ledger check: %+v, %v", check, err)
		}
	})
}
