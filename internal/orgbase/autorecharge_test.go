package orgbase

import (
	"testing"
	"time"
)

func TestParseMoney(t *testing.T) {
	for in, want := range map[string]int64{
		"120": 12_000, "$120": 12_000, " $ 120 ": 12_000, "99.5": 9_950, "99.50": 9_950, ".5": 50, "0": 0,
		"1,200": 120_000, "1,200.05": 120_005, "007": 700,
	} {
		if got, err := ParseMoney(in); err != nil || got != want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "$", "-5", "12.345", "1e3", "12,00", "abc", "12.", "1 000", "9999999999999", "12$"} {
		if got, err := ParseMoney(in); ErrorCode(err) != EINVALID || ErrorMessage(err) == "" {
			t.Errorf("ParseMoney(%q) = %d, %v; want EINVALID", in, got, err)
		}
	}
	for _, c := range []int64{0, 5, 120, 9_950, 12_000, 10_000_000} {
		if got, err := ParseMoney(FormatDollars(c)); err != nil || got != c {
			t.Errorf("FormatDollars(%d) = %q reads back as %d, %v", c, FormatDollars(c), got, err)
		}
	}
}

func TestAutoRechargeSettingsValidate(t *testing.T) {
	if err := DefaultAutoRechargeSettings().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if DefaultAutoRechargeSettings().Enabled {
		t.Fatal("auto-recharge is on by default")
	}
	err := AutoRechargeSettings{Threshold: 0, Pack: "nope", MonthlyCapCents: -1}.Validate()
	if f := ErrorFields(err); len(f) != 3 {
		t.Fatalf("fields %v", f)
	}
	if f := ErrorFields(AutoRechargeSettings{Threshold: Credit, Pack: "pack-50k", MonthlyCapCents: 5_499}.Validate()); f["monthly_cap"] == "" {
		t.Fatalf("a cap below the pack's price passed: %v", f)
	}
	if m := MonthStart(time.Date(2026, 2, 28, 23, 59, 0, 0, time.FixedZone("x", -3600))); !m.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("MonthStart in UTC: %s", m)
	}
}
