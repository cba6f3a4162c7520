package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// saveCard records the organization's test card, as paying once does.
func saveCard(t *testing.T, db *store.DB, orgID int64) {
	t.Helper()
	if err := db.SaveBillingCustomer(context.Background(), orgbase.BillingCustomer{OrgID: orgID, Provider: "test", CustomerID: "tcus_1",
		CardBrand: "Visa", CardLast4: "4242"}); err != nil {
		t.Fatal(err)
	}
}

func saveAR(t *testing.T, db *store.DB, orgID int64, s orgbase.AutoRechargeSettings) *orgbase.AutoRecharge {
	t.Helper()
	ar, err := db.SaveAutoRecharge(context.Background(), orgID, orgbase.OperatorAccess(orgID), s, "test")
	if err != nil {
		t.Fatalf("SaveAutoRecharge(%+v): %v", s, err)
	}
	return ar
}

func prepare(t *testing.T, db *store.DB, orgID int64) *store.AutoRechargeStep {
	t.Helper()
	step, err := db.PrepareAutoRecharge(context.Background(), orgID, "test")
	if err != nil {
		t.Fatalf("PrepareAutoRecharge: %v", err)
	}
	return step
}

func wantSkipped(t *testing.T, step *store.AutoRechargeStep, why string) {
	t.Helper()
	if step.Checkout != nil || step.Skipped != why {
		t.Fatalf("step: checkout %+v, skipped %q; want none, skipped %q", step.Checkout, step.Skipped, why)
	}
}

func due(t *testing.T, db *store.DB) []int64 {
	t.Helper()
	ids, err := db.DueAutoRecharges(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func auditCount(t *testing.T, db *store.DB, orgID int64, action string) int {
	t.Helper()
	entries, _, err := db.FindAudit(context.Background(), orgID, store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

var on10k = orgbase.AutoRechargeSettings{Enabled: true, Threshold: 5_000 * credit, Pack: "pack-10k", MonthlyCapCents: 6_000}

func TestAutoRechargeOffByDefault(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		saveCard(t, db, tr.org.ID)
		ar, err := db.FindAutoRecharge(ctx, tr.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ar.Saved || ar.Enabled || ar.Threshold <= 0 || ar.Pack == "" || ar.MonthlyCapCents <= 0 || ar.SpentCents != 0 {
			t.Fatalf("defaults %+v", ar)
		}
		if ar.AutoRechargeSettings.Validate() != nil {
			t.Fatalf("the defaults do not validate: %v", ar.AutoRechargeSettings.Validate())
		}
		// The pool is empty, far below any threshold: still nothing happens.
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v with auto-recharge never set", ids)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeOff)
		// Saved off: still nothing.
		off := on10k
		off.Enabled = false
		if ar := saveAR(t, db, tr.org.ID, off); !ar.Saved || ar.Enabled || ar.OffCause != "" {
			t.Fatalf("saved off: %+v", ar)
		}
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v with auto-recharge off", ids)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeOff)
		if list, _ := db.FindInvoices(ctx, tr.org.ID); len(list) != 0 {
			t.Fatalf("invoices %+v", list)
		}
	})
}

func TestAutoRechargeValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		op := orgbase.OperatorAccess(tr.org.ID)
		for _, c := range []struct {
			s     orgbase.AutoRechargeSettings
			field string
		}{
			{orgbase.AutoRechargeSettings{Threshold: 0, Pack: "pack-10k", MonthlyCapCents: 6_000}, "threshold"},
			{orgbase.AutoRechargeSettings{Threshold: -5, Pack: "pack-10k", MonthlyCapCents: 6_000}, "threshold"},
			{orgbase.AutoRechargeSettings{Threshold: orgbase.MaxAutoRechargeThreshold + 1, Pack: "pack-10k", MonthlyCapCents: 6_000}, "threshold"},
			{orgbase.AutoRechargeSettings{Threshold: credit, Pack: "pack-1", MonthlyCapCents: 6_000}, "pack"},
			{orgbase.AutoRechargeSettings{Threshold: credit, Pack: "", MonthlyCapCents: 6_000}, "pack"},
			{orgbase.AutoRechargeSettings{Threshold: credit, Pack: "pack-10k", MonthlyCapCents: 0}, "monthly_cap"},
			{orgbase.AutoRechargeSettings{Threshold: credit, Pack: "pack-10k", MonthlyCapCents: 1_199}, "monthly_cap"},
			{orgbase.AutoRechargeSettings{Threshold: credit, Pack: "pack-200k", MonthlyCapCents: 19_999}, "monthly_cap"},
			{orgbase.AutoRechargeSettings{Threshold: credit, Pack: "pack-10k", MonthlyCapCents: orgbase.MaxAutoRechargeCapCents + 1}, "monthly_cap"},
			// No card saved yet: it cannot be turned on.
			{on10k, "enabled"},
		} {
			_, err := db.SaveAutoRecharge(ctx, tr.org.ID, op, c.s, "test")
			if orgbase.ErrorCode(err) != orgbase.EINVALID || orgbase.ErrorFields(err)[c.field] == "" {
				t.Errorf("%+v: %v, want EINVALID on %s", c.s, err, c.field)
			}
		}
		// Each wrong field has its own message.
		_, err := db.SaveAutoRecharge(ctx, tr.org.ID, op, orgbase.AutoRechargeSettings{Pack: "x"}, "test")
		if f := orgbase.ErrorFields(err); len(f) != 3 || f["threshold"] == "" || f["pack"] == "" || f["monthly_cap"] == "" {
			t.Errorf("all wrong: %v", err)
		}
		// The cap must cover the pack: exactly its price is enough.
		saveCard(t, db, tr.org.ID)
		ok := orgbase.AutoRechargeSettings{Enabled: true, Threshold: orgbase.MaxAutoRechargeThreshold, Pack: "pack-10k", MonthlyCapCents: 1_200}
		if ar := saveAR(t, db, tr.org.ID, ok); !ar.Enabled || ar.MonthlyCapCents != 1_200 || ar.Threshold != orgbase.MaxAutoRechargeThreshold {
			t.Fatalf("saved %+v", ar)
		}
		if n := auditCount(t, db, tr.org.ID, "billing.auto_recharge_settings"); n != 1 {
			t.Errorf("%d audit entries after the first save, want 1", n)
		}
		// Saving the same again changes nothing and records nothing.
		saveAR(t, db, tr.org.ID, ok)
		if n := auditCount(t, db, tr.org.ID, "billing.auto_recharge_settings"); n != 1 {
			t.Errorf("%d audit entries after a save that changed nothing, want 1", n)
		}

		// Who may change it: owners, admins and billing members; not members.
		m := mustUser(t, db, "member@example.com")
		if err := db.AddMember(ctx, tr.org.ID, m.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		_, mem, _ := db.FindOrgForMember(ctx, "acme", m.ID)
		if _, err := db.SaveAutoRecharge(ctx, tr.org.ID, orgbase.Access{Membership: mem}, on10k, "test"); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("member: %v, want EFORBIDDEN", err)
		}
		if err := db.ChangeRole(ctx, tr.org.ID, op, m.ID, orgbase.RoleBilling); err != nil {
			t.Fatal(err)
		}
		_, mem, _ = db.FindOrgForMember(ctx, "acme", m.ID)
		ar, err := db.SaveAutoRecharge(ctx, tr.org.ID, orgbase.Access{Membership: mem}, on10k, "test")
		if err != nil || ar.UpdatedBy == nil || *ar.UpdatedBy != m.ID || ar.Threshold != 5_000*credit {
			t.Fatalf("billing member: %+v, %v", ar, err)
		}
		_, owner, _ := db.FindOrgForMember(ctx, "acme", tr.owner.ID)
		off := on10k
		off.Enabled = false
		ar, err = db.SaveAutoRecharge(ctx, tr.org.ID, orgbase.Access{Membership: owner}, off, "test")
		if err != nil || ar.Enabled || ar.OffCause != orgbase.AutoRechargeOffByUser || ar.OffAt == nil || ar.OffByFailedPayment() {
			t.Fatalf("owner turned it off: %+v, %v", ar, err)
		}
		entries, _, _ := db.FindAudit(ctx, tr.org.ID, store.AuditFilter{Action: "billing.auto_recharge_settings"})
		if len(entries) != 3 || !strings.Contains(entries[0].Changes, `"enabled":{"from":"on","to":"off"}`) ||
			!strings.Contains(entries[1].Changes, `"threshold":{"from":"10,000,000","to":"5,000"}`) {
			t.Errorf("audit %+v", entries)
		}
		// The database refuses what the store would never write.
		for _, q := range []string{
			"UPDATE auto_recharges SET threshold = 0",
			"UPDATE auto_recharges SET monthly_cap_cents = -1",
			"UPDATE auto_recharges SET pack = ''",
			"UPDATE auto_recharges SET enabled = TRUE, off_cause = 'user'",
			"UPDATE auto_recharges SET off_cause = 'bogus'",
			"UPDATE auto_recharges SET off_cause = '', off_at = NULL, off_reason = 'x'",
		} {
			if _, err := db.SQL().ExecContext(ctx, q); err == nil {
				t.Errorf("%s: accepted", q)
			}
		}
	})
}

func TestAutoRechargeBelowThreshold(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		saveCard(t, db, tr.org.ID)
		if _, err := db.GrantCredits(ctx, tr.org.ID, 6_000*credit, "test", ""); err != nil {
			t.Fatal(err)
		}
		saveAR(t, db, tr.org.ID, on10k) // 6,000 in the pool, threshold 5,000
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v above the threshold", ids)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeAbove)
		// At the threshold exactly: still not below it.
		s := on10k
		s.Threshold = 6_000 * credit
		saveAR(t, db, tr.org.ID, s)
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeAbove)

		s.Threshold = 6_000*credit + 1 // the pool is now below it
		saveAR(t, db, tr.org.ID, s)
		if ids := due(t, db); len(ids) != 1 || ids[0] != tr.org.ID {
			t.Fatalf("due %v, want the organization", ids)
		}
		step := prepare(t, db, tr.org.ID)
		co := step.Checkout
		if co == nil || co.Reference != store.AutoRechargeReference(tr.org.ID, 1) || co.Purpose != orgbase.PurposeAutoRecharge ||
			co.Kind != orgbase.OfferTopUp || co.Key != "pack-10k" || co.AmountCents != 1_200 || co.Credits != 10_000*credit ||
			co.Status != orgbase.CheckoutPending || co.Description != "Auto-recharge: 10,000 credits" {
			t.Fatalf("checkout %+v (skipped %q)", co, step.Skipped)
		}
		inv, err := db.FindInvoice(ctx, tr.org.ID, co.InvoiceID)
		if err != nil || inv.Number != "ACME-0001" || inv.TotalCents != 1_200 || len(inv.Lines) != 1 || inv.Lines[0].Credits != 10_000*credit {
			t.Fatalf("invoice %+v, %v", inv, err)
		}
		// While it is pending, no second one, and the scan skips the organization.
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargePending)
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v with a recharge pending", ids)
		}
		if ar, _ := db.FindAutoRecharge(ctx, tr.org.ID); ar.SpentCents != 1_200 {
			t.Errorf("spent %d with one pending, want 1,200", ar.SpentCents)
		}
		// Paid: the pack lands once in the pool, as a top-up.
		for _, id := range []string{"evt_ar", "evt_ar", "evt_ar2"} {
			if out, err := db.ApplyBillingEvent(ctx, paid(co, id)); err != nil || out.Status != store.OutcomePaid {
				t.Fatalf("pay %s: %+v, %v", id, out, err)
			}
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 16_000*credit {
			t.Fatalf("pool %s, want 16,000", b)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeAbove)
		ar, _ := db.FindAutoRecharge(ctx, tr.org.ID)
		if !ar.Enabled || ar.SpentCents != 1_200 {
			t.Errorf("after paying: %+v", ar)
		}
		if n := auditCount(t, db, tr.org.ID, "credits.top_up"); n != 1 {
			t.Errorf("%d top-up grants, want 1", n)
		}
		if n := auditCount(t, db, tr.org.ID, "billing.auto_recharge"); n != 1 {
			t.Errorf("%d auto-recharge checkouts in the audit log, want 1", n)
		}
		// Below again: the second recharge gets the next reference.
		s.Threshold = 20_000 * credit
		saveAR(t, db, tr.org.ID, s)
		if co2 := prepare(t, db, tr.org.ID).Checkout; co2 == nil || co2.Reference != store.AutoRechargeReference(tr.org.ID, 2) {
			t.Fatalf("second recharge %+v", co2)
		}
		ledgerOK(t, db)
	})
}

func TestAutoRechargeMonthlyCap(t *testing.T) {
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *testClock) {
		ctx := context.Background()
		tr := newTree(t, db)
		saveCard(t, db, tr.org.ID)
		// $30 a month buys two $12 packs; a third would be $36.
		saveAR(t, db, tr.org.ID, orgbase.AutoRechargeSettings{Enabled: true, Threshold: 1_000_000 * credit, Pack: "pack-10k", MonthlyCapCents: 3_000})
		for i := range 2 {
			co := prepare(t, db, tr.org.ID).Checkout
			if co == nil {
				t.Fatalf("recharge %d not opened", i+1)
			}
			if _, err := db.ApplyBillingEvent(ctx, paid(co, co.Reference)); err != nil {
				t.Fatal(err)
			}
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeCapped)
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v past the cap", ids)
		}
		ar, _ := db.FindAutoRecharge(ctx, tr.org.ID)
		if ar.SpentCents != 2_400 || !ar.Enabled {
			t.Fatalf("at the cap: %+v", ar)
		}
		// A top-up bought by hand does not count against the cap.
		hand := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-50k")
		if _, err := db.ApplyBillingEvent(ctx, paid(hand, "evt_hand")); err != nil {
			t.Fatal(err)
		}
		if ar, _ := db.FindAutoRecharge(ctx, tr.org.ID); ar.SpentCents != 2_400 {
			t.Fatalf("spent %d after a top-up by hand, want 2,400", ar.SpentCents)
		}
		// Raising the cap lifts the pause at once.
		saveAR(t, db, tr.org.ID, orgbase.AutoRechargeSettings{Enabled: true, Threshold: 1_000_000 * credit, Pack: "pack-10k", MonthlyCapCents: 3_600})
		if ids := due(t, db); len(ids) != 1 {
			t.Fatalf("due %v after raising the cap", ids)
		}
		co := prepare(t, db, tr.org.ID).Checkout
		if co == nil {
			t.Fatal("no recharge after raising the cap")
		}
		if _, err := db.ApplyBillingEvent(ctx, paid(co, co.Reference)); err != nil {
			t.Fatal(err)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeCapped)
		// The last second of the month is still this month.
		clk.Set(time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC))
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v at the end of the month", ids)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeCapped)
		// A new month (UTC; the test clock starts on 10 March 2025): the cap starts again.
		clk.Set(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
		if ar, _ := db.FindAutoRecharge(ctx, tr.org.ID); ar.SpentCents != 0 {
			t.Fatalf("spent %d in a new month, want 0", ar.SpentCents)
		}
		if ids := due(t, db); len(ids) != 1 {
			t.Fatalf("due %v in a new month", ids)
		}
		if co := prepare(t, db, tr.org.ID).Checkout; co == nil || co.Reference != store.AutoRechargeReference(tr.org.ID, 4) {
			t.Fatalf("recharge in the new month %+v", co)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 80_000*credit {
			t.Fatalf("pool %s, want 80,000 (three packs and one by hand)", b)
		}
		ledgerOK(t, db)
	})
}

// TestAutoRechargeConcurrent: ten billing passes preparing the same
// organization's recharge at once open one checkout (PostgreSQL: real
// concurrency on the locked settings row; SQLite queues them).
func TestAutoRechargeConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		saveCard(t, db, tr.org.ID)
		saveAR(t, db, tr.org.ID, on10k)
		const n = 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		var opened []*orgbase.Checkout
		skipped := map[string]int{}
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				step, err := db.PrepareAutoRecharge(ctx, tr.org.ID, "test")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if step.Checkout != nil {
					opened = append(opened, step.Checkout)
				} else {
					skipped[step.Skipped]++
				}
			})
		}
		close(start)
		wg.Wait()
		if len(opened) != 1 || skipped[store.AutoRechargePending] != n-1 {
			t.Fatalf("opened %d, skipped %v; want 1 and %d pending", len(opened), skipped, n-1)
		}
		list, err := db.FindInvoices(ctx, tr.org.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("%d invoices, %v", len(list), err)
		}
		if _, err := db.ApplyBillingEvent(ctx, paid(opened[0], "evt_c")); err != nil {
			t.Fatal(err)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 10_000*credit {
			t.Fatalf("pool %s, want 10,000", b)
		}
		ledgerOK(t, db)
	})
}

func TestAutoRechargeDeclineTurnsItOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		saveCard(t, db, tr.org.ID)
		if _, err := db.GrantCredits(ctx, tr.org.ID, 1_000*credit, "test", ""); err != nil {
			t.Fatal(err)
		}
		saveAR(t, db, tr.org.ID, on10k)
		co := prepare(t, db, tr.org.ID).Checkout
		if co == nil {
			t.Fatal("no recharge opened")
		}
		const why = "The saved card (ending 0341) was declined."
		out, err := db.ApplyBillingEvent(ctx, billing.Event{Provider: "test", ID: "offsession_" + co.Reference, Kind: billing.EventPaymentFailed,
			Reference: co.Reference, Message: why})
		if err != nil || out.Status != store.OutcomeFailed {
			t.Fatalf("decline: %+v, %v", out, err)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 1_000*credit {
			t.Fatalf("pool %s after a declined recharge, want 1,000", b)
		}
		ar, err := db.FindAutoRecharge(ctx, tr.org.ID)
		if err != nil || ar.Enabled || !ar.OffByFailedPayment() || ar.OffReason != why || ar.OffAt == nil || ar.OffInvoiceID != co.InvoiceID || ar.SpentCents != 0 {
			t.Fatalf("after the decline: %+v, %v", ar, err)
		}
		inv, _ := db.FindInvoice(ctx, tr.org.ID, co.InvoiceID)
		if inv.Status != orgbase.InvoiceFailed || !strings.HasPrefix(inv.FailureMessage, why) || !strings.Contains(inv.FailureMessage, "Auto-recharge is now off") {
			t.Fatalf("invoice %+v", inv)
		}
		if n := auditCount(t, db, tr.org.ID, "billing.auto_recharge_off"); n != 1 {
			t.Errorf("%d auto_recharge_off audit entries, want 1", n)
		}
		if n := auditCount(t, db, tr.org.ID, "billing.payment_failed"); n != 1 {
			t.Errorf("%d payment_failed audit entries, want 1", n)
		}
		// Off: nothing more happens, even far below the threshold.
		if ids := due(t, db); len(ids) != 0 {
			t.Fatalf("due %v after the decline", ids)
		}
		wantSkipped(t, prepare(t, db, tr.org.ID), store.AutoRechargeOff)
		// A replay of the decline changes nothing more.
		if out, err := db.ApplyBillingEvent(ctx, billing.Event{Provider: "test", ID: "offsession_" + co.Reference, Kind: billing.EventPaymentFailed,
			Reference: co.Reference, Message: why}); err != nil || !out.Replayed {
			t.Fatalf("replay: %+v, %v", out, err)
		}
		if n := auditCount(t, db, tr.org.ID, "billing.auto_recharge_off"); n != 1 {
			t.Errorf("%d auto_recharge_off audit entries after a replay, want 1", n)
		}
		// Saving other values while off keeps the reason; turning it back on clears it.
		off := on10k
		off.Enabled, off.Threshold = false, 4_000*credit
		if ar := saveAR(t, db, tr.org.ID, off); !ar.OffByFailedPayment() || ar.OffReason != why {
			t.Fatalf("saved while off: %+v", ar)
		}
		ar = saveAR(t, db, tr.org.ID, on10k)
		if !ar.Enabled || ar.OffCause != "" || ar.OffReason != "" || ar.OffAt != nil || ar.OffInvoiceID != 0 {
			t.Fatalf("back on: %+v", ar)
		}
		// A payment failing for another purpose leaves auto-recharge alone.
		top := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if _, err := db.ApplyBillingEvent(ctx, billing.Event{Provider: "test", ID: "evt_top_d", Kind: billing.EventPaymentFailed, Reference: top.Reference}); err != nil {
			t.Fatal(err)
		}
		if ar, _ := db.FindAutoRecharge(ctx, tr.org.ID); !ar.Enabled {
			t.Fatalf("a declined top-up by hand turned auto-recharge off: %+v", ar)
		}
		ledgerOK(t, db)
	})
}
