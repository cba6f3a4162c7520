package orgbase

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseCredits(t *testing.T) {
	good := map[string]Credits{
		"0":                 0,
		"12":                12 * Credit,
		"0.120":             120,
		"0.12":              120,
		".5":                500,
		"1.001":             1001,
		"007":               7 * Credit,
		"  42.5 ":           42500,
		"25,000":            25_000 * Credit,
		"1,234.5":           1_234_500,
		"1,234,567.891":     1_234_567_891,
		"1000000000000":     MaxCredits,
		"1,000,000,000,000": MaxCredits,
		"0.001":             1,
	}
	for in, want := range good {
		got, err := ParseCredits(in)
		if err != nil || got != want {
			t.Errorf("ParseCredits(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := []string{"", " ", ".", "1.", "-1", "-0.5", "+1", "1e3", "1E3", "0x10", "Inf", "NaN", "1.2345", "1.0000",
		"1 000", "1_000", "1,23", "12,34,567", ",123", "1,", "1,234,", "1.2.3", "1..2", "١٢", "12abc", "abc",
		"1000000000000.001", "10000000000000", "99999999999999999999", strings.Repeat("0", 100) + "1", "0.5\x00", "--1"}
	for _, in := range bad {
		if got, err := ParseCredits(in); ErrorCode(err) != EINVALID {
			t.Errorf("ParseCredits(%q) = %d, %v; want EINVALID", in, got, err)
		}
	}
	if _, err := ParseCredits("1.2345"); !strings.Contains(ErrorMessage(err), "three decimals") {
		t.Errorf("too many decimals: message %q should say three decimals", ErrorMessage(err))
	}
	if _, err := ParseCredits("-5"); !strings.Contains(ErrorMessage(err), "negative") {
		t.Errorf("negative: message %q should say negative", ErrorMessage(err))
	}

	signed := map[string]Credits{"-1": -Credit, "-0.120": -120, "-0": 0, "3": 3 * Credit, "-1,000": -1000 * Credit}
	for in, want := range signed {
		got, err := ParseSignedCredits(in)
		if err != nil || got != want {
			t.Errorf("ParseSignedCredits(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-", "--1", "- 1", "-1e3", "-1000000000000.001"} {
		if got, err := ParseSignedCredits(in); ErrorCode(err) != EINVALID {
			t.Errorf("ParseSignedCredits(%q) = %d, %v; want EINVALID", in, got, err)
		}
	}
}

func TestCreditsFormat(t *testing.T) {
	cases := []struct {
		c                Credits
		display, decimal string
	}{
		{0, "0", "0.000"},
		{1, "0.001", "0.001"},
		{120, "0.12", "0.120"},
		{1000, "1", "1.000"},
		{1_234_500, "1,234.5", "1234.500"},
		{25_000 * Credit, "25,000", "25000.000"},
		{999_999, "999.999", "999.999"},
		{1_000_000_000, "1,000,000", "1000000.000"},
		{-3 * Credit, "-3", "-3.000"},
		{-1_234_560, "-1,234.56", "-1234.560"},
		{MaxCredits, "1,000,000,000,000", "1000000000000.000"},
		{math.MaxInt64, "9,223,372,036,854,775.807", "9223372036854775.807"},
		{math.MinInt64, "-9,223,372,036,854,775.808", "-9223372036854775.808"},
	}
	for _, tc := range cases {
		if got := tc.c.String(); got != tc.display {
			t.Errorf("Credits(%d).String() = %q, want %q", int64(tc.c), got, tc.display)
		}
		if got := tc.c.Decimal(); got != tc.decimal {
			t.Errorf("Credits(%d).Decimal() = %q, want %q", int64(tc.c), got, tc.decimal)
		}
	}
}

// Credits travel in JSON as decimal strings, never as numbers.
func TestCreditsJSON(t *testing.T) {
	b, err := json.Marshal(map[string]Credits{"amount": 120, "balance": -1500})
	if err != nil || string(b) != `{"amount":"0.120","balance":"-1.500"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ Amount Credits }
	if err := json.Unmarshal([]byte(`{"Amount":"12.5"}`), &v); err != nil || v.Amount != 12_500 {
		t.Fatalf("Unmarshal = %d, %v", v.Amount, err)
	}
	for _, in := range []string{`{"Amount":12.5}`, `{"Amount":"1e3"}`, `{"Amount":"0.0001"}`} {
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%s) accepted", in)
		}
	}
}

// FuzzParseCredits checks, for any input, that parsing never panics, that
// what it accepts is within bounds, and that both printed forms read back
// as the same amount. The seed corpus is in testdata/fuzz/FuzzParseCredits.
func FuzzParseCredits(f *testing.F) {
	for _, s := range []string{"0.120", "1,234.5", "1e3", "-1", "25,000", ".5", "1000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, signed := range []bool{false, true} {
			c, err := parseCredits(s, signed)
			if err != nil {
				if ErrorCode(err) != EINVALID || ErrorMessage(err) == "" {
					t.Fatalf("parseCredits(%q, %v): error %v is not EINVALID with a message", s, signed, err)
				}
				continue
			}
			if c > MaxCredits || c < -MaxCredits || (!signed && c < 0) {
				t.Fatalf("parseCredits(%q, %v) = %d: out of bounds", s, signed, c)
			}
			for _, form := range []string{c.String(), c.Decimal()} {
				back, err := parseCredits(form, true)
				if err != nil || back != c {
					t.Fatalf("parseCredits(%q) = %d, printed %q reads back as %d, %v", s, c, form, back, err)
				}
			}
			if strings.ContainsAny(c.Decimal(), ",eE+") || strings.Count(c.Decimal(), ".") != 1 {
				t.Fatalf("Decimal() of %d = %q is not a plain decimal", c, c.Decimal())
			}
		}
	})
}

func TestCheckTransfer(t *testing.T) {
	ok := []struct {
		k        TransferKind
		from, to AccountKind
	}{
		{TransferMove, AccountPool, AccountWorkspace},
		{TransferMove, AccountWorkspace, AccountWorkspace},
		{TransferMove, AccountWorkspace, AccountPool},
		{TransferGrant, AccountPurchases, AccountPool},
		{TransferTopUp, AccountPurchases, AccountPool},
		{TransferPlanGrant, AccountBank, AccountPool},
		{TransferUsage, AccountWorkspace, AccountUsage},
		{TransferRefund, AccountUsage, AccountPool},
		{TransferExpiry, AccountPool, AccountBank},
		{TransferAdjustment, AccountAdjustment, AccountWorkspace},
		{TransferAdjustment, AccountPool, AccountAdjustment},
	}
	for _, tc := range ok {
		if err := CheckTransfer(tc.k, tc.from, tc.to); err != nil {
			t.Errorf("CheckTransfer(%s, %s, %s) = %v; want nil", tc.k, tc.from, tc.to, err)
		}
	}
	bad := []struct {
		k        TransferKind
		from, to AccountKind
	}{
		{TransferMove, AccountPurchases, AccountPool},
		{TransferMove, AccountPool, AccountUsage},
		{TransferGrant, AccountPurchases, AccountWorkspace},
		{TransferGrant, AccountAdjustment, AccountPool},
		{TransferUsage, AccountUsage, AccountPool},
		{TransferRefund, AccountPurchases, AccountPool},
		{TransferExpiry, AccountUsage, AccountExpired},
		{TransferAdjustment, AccountAdjustment, AccountAdjustment},
		{TransferAdjustment, AccountPool, AccountWorkspace},
		{"gift", AccountPool, AccountWorkspace},
	}
	for _, tc := range bad {
		if err := CheckTransfer(tc.k, tc.from, tc.to); ErrorCode(err) != EINVALID {
			t.Errorf("CheckTransfer(%s, %s, %s) = %v; want EINVALID", tc.k, tc.from, tc.to, err)
		}
	}
}

func TestAccountKinds(t *testing.T) {
	for _, k := range []AccountKind{AccountPool, AccountWorkspace, AccountPurchases, AccountUsage, AccountExpired, AccountBank, AccountAdjustment} {
		if !k.Valid() {
			t.Errorf("%s not valid", k)
		}
		if got, want := k.MayGoNegative(), k == AccountPurchases || k == AccountAdjustment; got != want {
			t.Errorf("%s.MayGoNegative() = %v, want %v", k, got, want)
		}
		if got, want := k.System(), k != AccountPool && k != AccountWorkspace; got != want {
			t.Errorf("%s.System() = %v, want %v", k, got, want)
		}
	}
	if AccountKind("wallet").Valid() || AccountKind("wallet").System() {
		t.Error("an unknown kind is valid")
	}
}

func TestCreditsPolicy(t *testing.T) {
	root := &Workspace{ID: 1, Path: "/1/"}
	pid := int64(1)
	clients := &Workspace{ID: 2, ParentID: &pid, Path: "/1/2/"}
	owner := Access{Membership: &Membership{OrgID: 1, UserID: 7, Role: RoleOwner, Status: MemberActive}}
	manager := Access{Membership: &Membership{OrgID: 1, UserID: 8, Role: RoleMember, Status: MemberActive},
		Grants: []Grant{{WorkspaceID: 2, Role: WorkspaceManager, Path: "/1/2/"}}}
	billing := Access{Membership: &Membership{OrgID: 1, UserID: 9, Role: RoleBilling, Status: MemberActive}}

	if !owner.CanMoveCredits(root.Path, clients.Path) || !owner.CanSetFundingMode(clients, root.Path) {
		t.Error("an owner may move credits anywhere and switch modes")
	}
	if owner.CanSetFundingMode(root, "") {
		t.Error("the Primary workspace's mode never switches")
	}
	if !manager.CanMoveCredits("/1/2/", "/1/2/5/") {
		t.Error("a manager may move credits within their subtree")
	}
	if manager.CanMoveCredits(root.Path, clients.Path) || manager.CanSetFundingMode(clients, root.Path) {
		t.Error("a manager may not take from the pool or switch the mode of the workspace they manage")
	}
	if billing.CanMoveCredits(root.Path, clients.Path) {
		t.Error("billing may not move credits between workspaces")
	}
}
