package orgbase

import (
	"testing"
	"time"
)

func TestPlanCatalog(t *testing.T) {
	keys := map[string]bool{}
	for _, p := range Plans() {
		if keys[p.Key] {
			t.Errorf("plan %q listed twice", p.Key)
		}
		keys[p.Key] = true
		if p.Name == "" || p.Currency != Currency || len(p.Entitlements) == 0 {
			t.Errorf("plan %q: name, currency and entitlements are required: %+v", p.Key, p)
		}
		if p.Custom != (p.Key == PlanEnterprise) {
			t.Errorf("plan %q: only Enterprise is custom", p.Key)
		}
		if !p.Custom && p.Credits <= 0 {
			t.Errorf("plan %q gives no credits", p.Key)
		}
	}
	for _, k := range []string{PlanFree, PlanPro, PlanTeams, PlanOnetime, PlanEnterprise} {
		if !keys[k] {
			t.Errorf("plan %q missing", k)
		}
	}
	pro, _ := FindPlan(PlanPro)
	if pro.PriceLabel() != "$49.00 / month" || pro.Rollover != RolloverKeep || pro.CreditsLabel() != "50,000 credits every month" {
		t.Errorf("pro: %q, %q, %q", pro.PriceLabel(), pro.Rollover, pro.CreditsLabel())
	}
	one, _ := FindPlan(PlanOnetime)
	start := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	if got := one.PeriodEnd(start); !got.Equal(start.AddDate(0, 6, 0)) || one.Rollover != RolloverBank {
		t.Errorf("onetime: period end %v, rollover %q", got, one.Rollover)
	}
	if got := pro.PeriodEnd(start); !got.Equal(start.AddDate(0, 1, 0)) {
		t.Errorf("pro period end %v", got)
	}
	free, _ := FindPlan(PlanFree)
	if free.Paid() || !free.PeriodEnd(start).IsZero() || free.PriceLabel() != "Free" {
		t.Errorf("free: %+v", free)
	}
	ent, _ := FindPlan(PlanEnterprise)
	if ent.Paid() || ent.PriceLabel() != "Contact us" {
		t.Errorf("enterprise: %+v", ent)
	}
	if len(Packs()) != 3 {
		t.Fatalf("want three packs, got %d", len(Packs()))
	}
	for i, p := range Packs() {
		if p.Credits <= 0 || p.PriceCents <= 0 || i > 0 && p.Credits <= Packs()[i-1].Credits {
			t.Errorf("pack %q: %+v", p.Key, p)
		}
	}
}

func TestFindOffer(t *testing.T) {
	for _, tc := range []struct {
		kind, key string
		cents     int64
		credits   Credits
		ok        bool
	}{
		{OfferPlan, PlanPro, 4_900, 50_000 * Credit, true},
		{OfferPlan, PlanTeams, 19_900, 250_000 * Credit, true},
		{OfferPlan, PlanOnetime, 9_900, 100_000 * Credit, true},
		{OfferTopUp, "pack-10k", 1_200, 10_000 * Credit, true},
		{OfferPlan, PlanFree, 0, 0, false},
		{OfferPlan, PlanEnterprise, 0, 0, false},
		{OfferPlan, "pack-10k", 0, 0, false},
		{OfferTopUp, PlanPro, 0, 0, false},
		{"gift", PlanPro, 0, 0, false},
		{OfferPlan, "", 0, 0, false},
	} {
		o, err := FindOffer(tc.kind, tc.key)
		if tc.ok != (err == nil) {
			t.Errorf("FindOffer(%q, %q): err %v, want ok=%v", tc.kind, tc.key, err, tc.ok)
			continue
		}
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Errorf("FindOffer(%q, %q): code %q, want EINVALID", tc.kind, tc.key, ErrorCode(err))
			}
			continue
		}
		if o.PriceCents != tc.cents || o.Credits != tc.credits || o.Description == "" || o.Currency != "usd" {
			t.Errorf("FindOffer(%q, %q) = %+v", tc.kind, tc.key, o)
		}
	}
}

func TestFormatMoneyAndInvoiceNumbers(t *testing.T) {
	for cents, want := range map[int64]string{0: "$0.00", 5: "$0.05", 4_900: "$49.00", 123_456_78: "$123,456.78", -1_250: "-$12.50"} {
		if got := FormatMoney(cents, "usd"); got != want {
			t.Errorf("FormatMoney(%d) = %q, want %q", cents, got, want)
		}
	}
	if got := FormatMoney(1_200, "chf"); got != "12.00 CHF" {
		t.Errorf("chf: %q", got)
	}
	for slug, want := range map[string]string{"acme": "ACME", "acme-inc": "ACMEINC", "a-very-long-slug-name": "AVERYLON", "---": "INV"} {
		if got := InvoicePrefix(slug); got != want {
			t.Errorf("InvoicePrefix(%q) = %q, want %q", slug, got, want)
		}
	}
	if InvoiceNumber("ACME", 1) != "ACME-0001" || InvoiceNumber("ACME", 12345) != "ACME-12345" {
		t.Errorf("numbers: %s %s", InvoiceNumber("ACME", 1), InvoiceNumber("ACME", 12345))
	}
}
