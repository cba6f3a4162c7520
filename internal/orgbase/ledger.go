package orgbase

import (
	"strconv"
	"strings"
	"time"
)

// Credits is an amount of credits in milli-credits: 1 credit is 1000. Credits
// are fractional (a chat reply can cost 0.12 credits) but never floating
// point: amounts are parsed from and printed as decimal strings.
type Credits int64

// Credit is one credit.
const Credit Credits = 1000

// MaxCredits is the largest amount ParseCredits accepts and a transfer may
// move: a trillion credits. Anything larger is a typo or an attack.
const MaxCredits Credits = 1_000_000_000_000 * Credit

// MaxBalance bounds every account's balance (in both directions for the
// source accounts), far below where int64 arithmetic could overflow.
const MaxBalance Credits = 1_000 * MaxCredits

// maxCreditsInput bounds the length of a string ParseCredits looks at.
const maxCreditsInput = 40

// ParseCredits reads a non-negative amount written as a decimal: "12",
// "0.120", ".5", "25,000" (thousands separators, when correctly grouped).
// It refuses negative amounts, more than three decimals, exponents ("1e3"),
// signs, spaces inside the number, and anything above MaxCredits, with an
// EINVALID error a person can act on. Leading and trailing spaces are ignored.
func ParseCredits(s string) (Credits, error) {
	return parseCredits(s, false)
}

// ParseSignedCredits is ParseCredits that also accepts a leading minus sign
// (adjustments and the balances of source accounts can be negative).
func ParseSignedCredits(s string) (Credits, error) {
	return parseCredits(s, true)
}

func creditsErr(msg string) error { return Errorf(EINVALID, "%s", msg) }

func parseCredits(s string, signed bool) (Credits, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, creditsErr("Enter an amount of credits.")
	}
	if len(s) > maxCreditsInput {
		return 0, creditsErr("That amount is too large.")
	}
	neg := false
	if s[0] == '-' {
		if !signed {
			return 0, creditsErr("The amount cannot be negative.")
		}
		neg, s = true, s[1:]
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if hasPoint && frac == "" || whole == "" && frac == "" {
		return 0, creditsErr("Enter an amount like 12 or 0.125.")
	}
	if len(frac) > 3 {
		if allDigits(frac) {
			return 0, creditsErr("Credits have at most three decimals.")
		}
		return 0, creditsErr("Enter an amount like 12 or 0.125.")
	}
	if strings.Contains(whole, ",") {
		grouped, ok := ungroup(whole)
		if !ok {
			return 0, creditsErr("Enter an amount like 12 or 0.125.")
		}
		whole = grouped
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, creditsErr("Enter an amount like 12 or 0.125.")
	}
	whole = strings.TrimLeft(whole, "0")
	// MaxCredits has 13 digits of whole credits: more cannot fit, and
	// int64 cannot overflow below that.
	if len(whole) > 13 {
		return 0, creditsErr("That amount is too large.")
	}
	var w int64
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, creditsErr("That amount is too large.")
		}
	}
	var f int64
	for i := range 3 {
		f *= 10
		if i < len(frac) {
			f += int64(frac[i] - '0')
		}
	}
	c := Credits(w)*Credit + Credits(f)
	if c > MaxCredits {
		return 0, creditsErr("That amount is too large.")
	}
	if neg {
		c = -c
	}
	return c, nil
}

// allDigits reports whether s holds only ASCII digits (true for "").
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ungroup removes thousands separators from s when they are where they
// belong: "1,234,567" is fine, "1,23" and ",123" are not.
func ungroup(s string) (string, bool) {
	parts := strings.Split(s, ",")
	if len(parts[0]) == 0 || len(parts[0]) > 3 {
		return "", false
	}
	for _, p := range parts[1:] {
		if len(p) != 3 {
			return "", false
		}
	}
	return strings.Join(parts, ""), true
}

// abs returns the magnitude of c without overflowing on the most negative value.
func (c Credits) abs() uint64 {
	if c < 0 {
		return uint64(-(c + 1)) + 1
	}
	return uint64(c)
}

// String is the amount as people read it: thousands separators and only the
// decimals that are needed, "1,234.5", "0.12", "25,000", "-3".
func (c Credits) String() string {
	a := c.abs()
	whole := strconv.FormatUint(a/1000, 10)
	var b strings.Builder
	if c < 0 {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac := a % 1000; frac != 0 {
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(pad3(frac), "0"))
	}
	return b.String()
}

// Decimal is the amount as the API writes it: a plain decimal with exactly
// three decimals, "1234.500", "0.120", "-3.000".
func (c Credits) Decimal() string {
	a := c.abs()
	s := strconv.FormatUint(a/1000, 10) + "." + pad3(a%1000)
	if c < 0 {
		return "-" + s
	}
	return s
}

func pad3(n uint64) string {
	s := strconv.FormatUint(n, 10)
	return strings.Repeat("0", 3-len(s)) + s
}

// MarshalText writes the Decimal form, so JSON carries credits as strings
// ("0.120"), never as floats.
func (c Credits) MarshalText() ([]byte, error) { return []byte(c.Decimal()), nil }

// UnmarshalText reads what ParseSignedCredits accepts.
func (c *Credits) UnmarshalText(b []byte) error {
	v, err := ParseSignedCredits(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// AccountKind says what an account of the ledger is for.
type AccountKind string

// Account kinds (SPEC §5.2). Every organization has one pool and one of each
// system account; a workspace in budget mode has a workspace account.
const (
	AccountPool       AccountKind = "pool"       // the organization pool, held by the Primary workspace
	AccountWorkspace  AccountKind = "workspace"  // a budget-mode workspace's own balance
	AccountPurchases  AccountKind = "purchases"  // source of bought and granted credits
	AccountUsage      AccountKind = "usage"      // sink of spent credits (refunds come back from it)
	AccountExpired    AccountKind = "expired"    // sink of lapsed credits
	AccountBank       AccountKind = "bank"       // the credit bank: lapsed one-time credits awaiting release
	AccountAdjustment AccountKind = "adjustment" // the operator's corrections, either way
)

// SystemAccountKinds are the kinds every organization has one account of,
// besides its pool.
var SystemAccountKinds = []AccountKind{AccountPurchases, AccountUsage, AccountExpired, AccountBank, AccountAdjustment}

// Valid reports whether k is one of the account kinds.
func (k AccountKind) Valid() bool {
	switch k {
	case AccountPool, AccountWorkspace, AccountPurchases, AccountUsage, AccountExpired, AccountBank, AccountAdjustment:
		return true
	}
	return false
}

// System reports whether accounts of kind k belong to the organization as a
// whole rather than to a workspace (the pool is held by the Primary workspace).
func (k AccountKind) System() bool { return k.Valid() && k != AccountPool && k != AccountWorkspace }

// Spendable reports whether credits in accounts of kind k can be spent by
// workspaces (the pool and budget accounts).
func (k AccountKind) Spendable() bool { return k == AccountPool || k == AccountWorkspace }

// MayGoNegative reports whether an account of kind k may have a negative
// balance. Only the two sources through which credits enter an organization
// from outside may: their balance is minus what they have put in. The
// database enforces the same rule with a CHECK constraint.
func (k AccountKind) MayGoNegative() bool { return k == AccountPurchases || k == AccountAdjustment }

// Label is the account kind as people read it.
func (k AccountKind) Label() string {
	switch k {
	case AccountPool:
		return "Organization pool"
	case AccountWorkspace:
		return "Workspace budget"
	case AccountPurchases:
		return "Purchases"
	case AccountUsage:
		return "Usage"
	case AccountExpired:
		return "Expired credits"
	case AccountBank:
		return "Credit bank"
	case AccountAdjustment:
		return "Adjustments"
	}
	return string(k)
}

// TransferKind says why credits moved.
type TransferKind string

// Transfer kinds (SPEC §5.2).
const (
	TransferPlanGrant  TransferKind = "plan_grant" // a plan's credits for a period
	TransferTopUp      TransferKind = "top_up"     // a bought pack
	TransferMove       TransferKind = "transfer"   // between the pool and budget workspaces
	TransferUsage      TransferKind = "usage"      // a usage charge
	TransferRefund     TransferKind = "refund"     // a usage charge given back
	TransferExpiry     TransferKind = "expiry"     // credits lapsing (or banked)
	TransferAdjustment TransferKind = "adjustment" // an operator's correction
	TransferGrant      TransferKind = "grant"      // an operator's grant (orgbase credits grant)
)

// Valid reports whether k is one of the transfer kinds.
func (k TransferKind) Valid() bool {
	switch k {
	case TransferPlanGrant, TransferTopUp, TransferMove, TransferUsage, TransferRefund, TransferExpiry, TransferAdjustment, TransferGrant:
		return true
	}
	return false
}

// Label is the transfer kind as people read it.
func (k TransferKind) Label() string {
	switch k {
	case TransferPlanGrant:
		return "Plan credits"
	case TransferTopUp:
		return "Top-up"
	case TransferMove:
		return "Transfer"
	case TransferUsage:
		return "Usage"
	case TransferRefund:
		return "Refund"
	case TransferExpiry:
		return "Expiry"
	case TransferAdjustment:
		return "Adjustment"
	case TransferGrant:
		return "Grant"
	}
	return string(k)
}

// CheckTransfer reports whether a transfer of kind k may move credits from
// an account of kind from to one of kind to, so that every kind keeps one
// meaning in reports: a top-up always lands in the pool, usage always ends in
// the usage account, and so on. EINVALID otherwise.
func CheckTransfer(k TransferKind, from, to AccountKind) error {
	ok := false
	switch k {
	case TransferMove:
		ok = from.Spendable() && to.Spendable()
	case TransferGrant, TransferPlanGrant, TransferTopUp:
		// New credits, or credits released from the bank by a purchase.
		ok = (from == AccountPurchases || from == AccountBank) && to == AccountPool
	case TransferUsage:
		ok = from.Spendable() && to == AccountUsage
	case TransferRefund:
		ok = from == AccountUsage && to.Spendable()
	case TransferExpiry:
		ok = from.Spendable() && (to == AccountExpired || to == AccountBank)
	case TransferAdjustment:
		ok = from == AccountAdjustment && to != AccountAdjustment && to.Valid() ||
			to == AccountAdjustment && from.Valid() && from != AccountAdjustment
	default:
		return Errorf(EINVALID, "Unknown kind of transfer %q.", string(k))
	}
	if !ok {
		return Errorf(EINVALID, "A %s cannot move credits from %s to %s.", strings.ToLower(k.Label()),
			strings.ToLower(from.Label()), strings.ToLower(to.Label()))
	}
	return nil
}

// FundingMode says where a workspace's credits come from (SPEC §5.3).
type FundingMode string

// Funding modes.
const (
	FundingShared FundingMode = "shared" // spends from the nearest ancestor with its own balance, else the pool
	FundingBudget FundingMode = "budget" // has its own balance and spends only that
)

// Valid reports whether m is shared or budget.
func (m FundingMode) Valid() bool { return m == FundingShared || m == FundingBudget }

// Label is the mode as people read it.
func (m FundingMode) Label() string {
	switch m {
	case FundingShared:
		return "Shared"
	case FundingBudget:
		return "Budget"
	}
	return string(m)
}

// Account is one account of an organization's ledger. Balance is cached and
// always equals the credits minus the debits of its transfers.
type Account struct {
	ID          int64
	OrgID       int64
	Kind        AccountKind
	WorkspaceID *int64 // the Primary's for the pool, the workspace's for a budget account, nil otherwise
	Name        string // "Organization pool", the workspace's name, or the system account's label
	Balance     Credits
	CreatedAt   time.Time
}

// AccountRef names an account of an organization without knowing its id:
// the pool, a workspace's budget account, or a system account.
type AccountRef struct {
	Kind        AccountKind
	WorkspaceID int64 // for AccountWorkspace; the Primary workspace's id means the pool
}

// PoolAccount names the organization pool.
func PoolAccount() AccountRef { return AccountRef{Kind: AccountPool} }

// WorkspaceAccount names the balance of the workspace with id: its budget
// account, or the pool for the Primary workspace.
func WorkspaceAccount(id int64) AccountRef {
	return AccountRef{Kind: AccountWorkspace, WorkspaceID: id}
}

// SystemAccount names one of the organization's system accounts.
func SystemAccount(k AccountKind) AccountRef { return AccountRef{Kind: k} }

// Transfer is one movement of credits between two accounts of an
// organization. Transfers are append-only; corrections are new transfers.
type Transfer struct {
	ID              int64
	OrgID           int64
	DebitAccountID  int64 // the account credits left
	CreditAccountID int64 // the account credits went to
	Amount          Credits
	Kind            TransferKind
	ActorID         *int64 // who caused it; nil for the operator and the system
	IdempotencyKey  string
	Memo            string
	CreatedAt       time.Time
	// Replayed is set (never stored) when a request repeated an idempotency
	// key: the transfer is the original one and nothing moved again.
	Replayed bool
}

// Limits of ledger inputs.
const (
	MaxMemoLen           = 500
	MaxIdempotencyKeyLen = 255
)

// CanMoveCredits reports whether the actor may move credits between the
// balances of the workspaces at fromPath and toPath (the Primary's for the
// pool): owners and admins anywhere, managers within the subtree they manage.
func (a Access) CanMoveCredits(fromPath, toPath string) bool {
	return a.CanManage(fromPath) && a.CanManage(toPath)
}

// CanSetFundingMode reports whether the actor may switch a workspace between
// shared and budget: as for archiving, they manage its parent, since the
// switch moves credits between it and the balance above it. Never the
// Primary workspace, which always holds the pool.
func (a Access) CanSetFundingMode(ws *Workspace, parentPath string) bool {
	return !ws.IsPrimary() && a.CanManage(parentPath)
}
