package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// The credit ledger (SPEC §5.2). Every balance change is a transfer between
// two accounts of one organization, written in the same transaction as the
// balance updates, so an account's cached balance always equals the sum of
// its transfers. The database enforces the money invariants itself:
//
//   - a CHECK keeps every balance >= 0 except on the two source accounts
//     (purchases, adjustment), whose balance is minus what they put in;
//   - debits are conditional updates (… WHERE balance >= amount) whose
//     RowsAffected decides, so two concurrent spends can never both pass;
//   - idempotency keys are unique per organization;
//   - transfers are append-only (a trigger refuses updates).
//
// Lock order, everywhere: the organization's tree root (structural changes
// only), then workspace rows, then accounts by ascending id. Transfers lock
// only accounts, in one SELECT … ORDER BY id FOR UPDATE, so two transfers in
// opposite directions between the same accounts queue instead of deadlocking.

type accountRow struct {
	ID          int64
	OrgID       int64
	Kind        string
	WorkspaceID *int64
	Balance     int64
	CreatedAt   time.Time
	Shard       int    // usage shards (usageAccountID); 0 for every other account
	Name        string `gorm:"->;-:migration"` // the workspace's name, read by list queries
}

// UsageShards is how many usage accounts an organization's charges spread
// over (by the charged workspace's id): charges of different workspaces
// then rarely lock the same balance row. Their sum is the usage account.
const UsageShards = 16

// usageAccountID returns the id of the usage shard a charge of the
// workspace credits, creating the shard on first use; the ids of committed
// shards are remembered by the process (a shard's id never changes).
func (db *DB) usageAccountID(tx *gorm.DB, orgID, workspaceID int64) (int64, error) {
	shard := int(workspaceID % UsageShards)
	key := [2]int64{orgID, int64(shard)}
	if id, ok := db.shards.Load(key); ok {
		return id.(int64), nil // accounts are never deleted while their organization lives
	}
	// Remember only a shard that was there before this transaction: one
	// created here disappears if the transaction rolls back (a refusal).
	var ids []int64
	if err := tx.Model(&accountRow{}).Where("org_id = ? AND kind = ? AND shard = ?", orgID, orgbase.AccountUsage, shard).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		db.shards.Store(key, ids[0])
		return ids[0], nil
	}
	return db.findUsageShard(tx, orgID, shard)
}

func (db *DB) findUsageShard(tx *gorm.DB, orgID int64, shard int) (int64, error) {
	if shard == 0 {
		return db.findAccountID(tx, orgID, orgbase.SystemAccount(orgbase.AccountUsage))
	}
	find := func() ([]int64, error) {
		var ids []int64
		err := tx.Model(&accountRow{}).Where("org_id = ? AND kind = ? AND shard = ?", orgID, orgbase.AccountUsage, shard).Pluck("id", &ids).Error
		return ids, err
	}
	ids, err := find()
	if err == nil && len(ids) == 0 {
		if err = tx.Exec(`INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at, shard) VALUES (?, ?, NULL, 0, ?, ?)
			ON CONFLICT DO NOTHING`, orgID, orgbase.AccountUsage, db.now(), shard).Error; err == nil {
			ids, err = find()
		}
	}
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	return ids[0], nil
}

func (accountRow) TableName() string { return "accounts" }

func (r accountRow) domain() orgbase.Account {
	k := orgbase.AccountKind(r.Kind)
	name := r.Name
	if k != orgbase.AccountWorkspace || name == "" {
		name = k.Label()
	}
	return orgbase.Account{ID: r.ID, OrgID: r.OrgID, Kind: k, WorkspaceID: r.WorkspaceID, Name: name,
		Balance: orgbase.Credits(r.Balance), CreatedAt: r.CreatedAt.UTC()}
}

type transferRow struct {
	ID              int64
	OrgID           int64
	DebitAccountID  int64
	CreditAccountID int64
	Amount          int64
	Kind            string
	ActorID         *int64
	IdempotencyKey  *string
	Memo            string
	CreatedAt       time.Time
}

func (transferRow) TableName() string { return "transfers" }

func (r transferRow) domain() *orgbase.Transfer {
	t := &orgbase.Transfer{ID: r.ID, OrgID: r.OrgID, DebitAccountID: r.DebitAccountID, CreditAccountID: r.CreditAccountID,
		Amount: orgbase.Credits(r.Amount), Kind: orgbase.TransferKind(r.Kind), ActorID: r.ActorID, Memo: r.Memo, CreatedAt: r.CreatedAt.UTC()}
	if r.IdempotencyKey != nil {
		t.IdempotencyKey = *r.IdempotencyKey
	}
	return t
}

// ensureAccounts creates the organization's pool (held by its Primary
// workspace) and system accounts where they are missing. CreateOrg calls it
// in its transaction; money paths call it when an account is missing, for
// organizations that predate the ledger. Concurrent calls are safe: the
// unique indexes turn a second insert into nothing.
func ensureAccounts(tx *gorm.DB, orgID int64, now time.Time) error {
	var orgs int64
	if err := tx.Model(&orgRow{}).Where("id = ?", orgID).Count(&orgs).Error; err != nil {
		return err
	}
	if orgs == 0 {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	err := tx.Exec(`INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at)
		SELECT org_id, 'pool', id, 0, ? FROM workspaces WHERE org_id = ? AND parent_id IS NULL
		ON CONFLICT DO NOTHING`, now, orgID).Error
	if err != nil {
		return err
	}
	values := make([]string, len(orgbase.SystemAccountKinds))
	args := make([]any, 0, 3*len(values))
	for i, k := range orgbase.SystemAccountKinds {
		values[i] = "(?, ?, NULL, 0, ?)"
		args = append(args, orgID, string(k), now)
	}
	return tx.Exec(`INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at) VALUES `+
		strings.Join(values, ", ")+` ON CONFLICT DO NOTHING`, args...).Error
}

// EnsureAccounts creates the organization's pool and system accounts when
// they are missing (organizations created before the ledger). Idempotent.
func (db *DB) EnsureAccounts(ctx context.Context, orgID int64) error {
	return db.tx(ctx, func(tx *gorm.DB) error { return ensureAccounts(tx, orgID, db.now()) })
}

// ledgerEnd is one side of a transfer: the account and, for the pool and
// budget accounts, the workspace that holds it.
type ledgerEnd struct {
	acct *accountRow
	ws   *workspaceRow // nil for system accounts
}

func (e *ledgerEnd) kind() orgbase.AccountKind { return orgbase.AccountKind(e.acct.Kind) }

// name is how messages and the audit log call the account.
func (e *ledgerEnd) name() string {
	if e.kind() == orgbase.AccountWorkspace && e.ws != nil {
		return e.ws.Name
	}
	return e.kind().Label()
}

// path is the materialized path of the workspace holding the account ("" for
// system accounts), for the policy.
func (e *ledgerEnd) path() string {
	if e.ws == nil {
		return ""
	}
	return e.ws.Path
}

// findAccountID resolves a reference to an account id of the organization
// (creating the pool and system accounts when they are missing). It does not
// look at funding modes: that is checked once the account is locked.
func (db *DB) findAccountID(tx *gorm.DB, orgID int64, ref orgbase.AccountRef) (int64, error) {
	q := func() (int64, error) {
		var ids []int64
		var err error
		switch {
		case ref.Kind == orgbase.AccountWorkspace:
			var ws workspaceRow
			if err := tx.Select("id", "parent_id", "name").Take(&ws, "org_id = ? AND id = ?", orgID, ref.WorkspaceID).Error; err != nil {
				return 0, notFound(err, "Workspace not found.")
			}
			if ws.ParentID == nil { // the Primary's balance is the pool
				err = tx.Model(&accountRow{}).Where("org_id = ? AND kind = ?", orgID, orgbase.AccountPool).Pluck("id", &ids).Error
			} else {
				err = tx.Model(&accountRow{}).Where("org_id = ? AND workspace_id = ?", orgID, ws.ID).Pluck("id", &ids).Error
				if err == nil && len(ids) == 0 {
					return 0, noBudget(ws.Name)
				}
			}
		case ref.Kind == orgbase.AccountPool || ref.Kind.System():
			err = tx.Model(&accountRow{}).Where("org_id = ? AND kind = ? AND shard = 0", orgID, ref.Kind).Pluck("id", &ids).Error
		default:
			return 0, orgbase.Errorf(orgbase.EINVALID, "Unknown account %q.", string(ref.Kind))
		}
		if err != nil || len(ids) == 0 {
			return 0, err
		}
		return ids[0], nil
	}
	id, err := q()
	if err != nil || id != 0 {
		return id, err
	}
	if err := ensureAccounts(tx, orgID, db.now()); err != nil {
		return 0, err
	}
	if id, err = q(); err == nil && id == 0 {
		err = orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	return id, err
}

func noBudget(name string) error {
	return orgbase.Errorf(orgbase.EINVALID, "%s shares the credits of the workspaces above it; switch it to its own budget first.", name)
}

// lockAccounts locks the organization's accounts with the given ids, in
// ascending id order (the ledger's lock order), and returns them by id,
// each with the workspace that holds it, read after the lock so that a
// concurrent funding-mode switch that committed meanwhile is seen.
func lockAccounts(tx *gorm.DB, orgID int64, ids ...int64) (map[int64]*ledgerEnd, error) {
	var rows []accountRow
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("org_id = ? AND id IN ?", orgID, ids).
		Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64]*ledgerEnd, len(rows))
	var wsIDs []int64
	for i := range rows {
		out[rows[i].ID] = &ledgerEnd{acct: &rows[i]}
		if rows[i].WorkspaceID != nil {
			wsIDs = append(wsIDs, *rows[i].WorkspaceID)
		}
	}
	for _, id := range ids {
		if out[id] == nil {
			return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Account not found.")
		}
	}
	if len(wsIDs) > 0 {
		var wss []workspaceRow
		if err := tx.Where("org_id = ? AND id IN ?", orgID, wsIDs).Find(&wss).Error; err != nil {
			return nil, err
		}
		for _, e := range out {
			for i := range wss {
				if e.acct.WorkspaceID != nil && *e.acct.WorkspaceID == wss[i].ID {
					e.ws = &wss[i]
				}
			}
		}
	}
	return out, nil
}

// usable refuses a budget account whose workspace no longer has a budget or
// is archived.
func (e *ledgerEnd) usable() error {
	if e.kind() != orgbase.AccountWorkspace || e.ws == nil {
		return nil
	}
	if e.ws.ArchivedAt != nil {
		return orgbase.Errorf(orgbase.ECONFLICT, "%s is archived.", e.ws.Name)
	}
	if orgbase.FundingMode(e.ws.FundingMode) != orgbase.FundingBudget {
		return noBudget(e.ws.Name)
	}
	return nil
}

// move debits from and credits to by amount and records the transfer. Both
// accounts must be locked by the caller. The debit is a conditional update:
// the database, not this code, decides that the balance suffices.
func move(tx *gorm.DB, orgID int64, actor *int64, from, to *ledgerEnd, amount orgbase.Credits, kind orgbase.TransferKind, memo, key string, now time.Time) (*transferRow, error) {
	if from.acct.ID == to.acct.ID {
		return nil, orgbase.Errorf(orgbase.EINVALID, "Choose two different accounts.")
	}
	a := int64(amount)
	if orgbase.AccountKind(from.acct.Kind).MayGoNegative() {
		if orgbase.Credits(from.acct.Balance-a) < -orgbase.MaxBalance {
			return nil, orgbase.Errorf(orgbase.EINVALID, "%s would pass the largest balance an account can hold.", from.name())
		}
		if err := tx.Exec("UPDATE accounts SET balance = balance - ? WHERE id = ?", a, from.acct.ID).Error; err != nil {
			return nil, err
		}
	} else {
		res := tx.Exec("UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?", a, from.acct.ID, a)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			have := orgbase.Credits(from.acct.Balance)
			return nil, &orgbase.Error{Code: orgbase.EINVALID, Message: "The source has only " + have.String() + " credits.",
				Fields: map[string]string{"amount": from.name() + " has only " + have.String() + " credits."}}
		}
	}
	if orgbase.Credits(to.acct.Balance+a) > orgbase.MaxBalance {
		return nil, orgbase.Errorf(orgbase.EINVALID, "%s would pass the largest balance an account can hold.", to.name())
	}
	if err := tx.Exec("UPDATE accounts SET balance = balance + ? WHERE id = ?", a, to.acct.ID).Error; err != nil {
		return nil, err
	}
	from.acct.Balance -= a
	to.acct.Balance += a
	row := transferRow{OrgID: orgID, DebitAccountID: from.acct.ID, CreditAccountID: to.acct.ID, Amount: a,
		Kind: string(kind), ActorID: actor, Memo: memo, CreatedAt: now}
	if key != "" {
		row.IdempotencyKey = &key
	}
	if err := tx.Create(&row).Error; err != nil {
		if key != "" && isUniqueViolation(err) {
			return nil, errKeyRace
		}
		return nil, err
	}
	if err := recordAlertCycles(tx, &row, from, to); err != nil {
		return nil, err
	}
	return &row, nil
}

// recordAlertCycles keeps, for each balance whose alert cycle the transfer
// starts (orgbase.StartsAlertCycle: a top-up of the pool, a move into or
// out of a budget), what it was allocated: its balance right after the
// transfer, known here for free. Alert checks read it from alert_cycles
// instead of recomputing it from the ledger (three statements per budget,
// seconds for an organization of a thousand budgets).
func recordAlertCycles(tx *gorm.DB, t *transferRow, from, to *ledgerEnd) error {
	for _, e := range []struct {
		end *ledgerEnd
		in  bool
	}{{from, false}, {to, true}} {
		k := e.end.kind()
		if e.end.acct.WorkspaceID == nil || !orgbase.StartsAlertCycle(orgbase.TransferKind(t.Kind), k, e.in) {
			continue
		}
		subject := orgbase.AlertBudget
		if k == orgbase.AccountPool {
			subject = orgbase.AlertPool
		}
		if err := tx.Exec(`INSERT INTO alert_cycles (org_id, subject, workspace_id, cycle, base, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			t.OrgID, string(subject), *e.end.acct.WorkspaceID, orgbase.AlertCycle(t.ID), e.end.acct.Balance, t.CreatedAt).Error; err != nil {
			return err
		}
	}
	return nil
}

// errKeyRace reports that a concurrent transaction committed a transfer
// with the same idempotency key first; the caller answers from that one.
var errKeyRace = errors.New("idempotency key taken concurrently")

// transferReq is one transfer as Transfer and GrantCredits ask for it.
type transferReq struct {
	orgID    int64
	by       orgbase.Access
	from, to orgbase.AccountRef
	amount   orgbase.Credits
	kind     orgbase.TransferKind
	memo     string
	key      string
	allow    func(a orgbase.Access, from, to *ledgerEnd) bool // the policy, asked again inside the transaction
	audit    func(tx *gorm.DB, t *transferRow, from, to *ledgerEnd, before [2]int64) error
}

// validate cleans the memo and checks the amount, kind and key.
func (r *transferReq) validate() error {
	var v orgbase.Validator
	switch {
	case r.amount <= 0:
		v.Check(false, "amount", "Enter an amount above zero.")
	case r.amount > orgbase.MaxCredits:
		v.Check(false, "amount", "That amount is too large.")
	}
	memo, err := orgbase.CleanText(r.memo, "Memo", orgbase.MaxMemoLen, false)
	v.Add("memo", err)
	r.memo = memo
	v.Add("idempotency_key", checkIdempotencyKey(r.key))
	if err := v.Err(); err != nil {
		return err
	}
	if !r.kind.Valid() {
		return orgbase.Errorf(orgbase.EINVALID, "Unknown kind of transfer %q.", string(r.kind))
	}
	return nil
}

// checkIdempotencyKey accepts "" (no key) or up to MaxIdempotencyKeyLen
// bytes of printable UTF-8.
func checkIdempotencyKey(key string) error {
	if len(key) > orgbase.MaxIdempotencyKeyLen {
		return orgbase.Errorf(orgbase.EINVALID, "The idempotency key must be at most %d bytes.", orgbase.MaxIdempotencyKeyLen)
	}
	if key != "" && !orgbase.Printable(key) {
		return orgbase.Errorf(orgbase.EINVALID, "The idempotency key must be printable text.")
	}
	return nil
}

// replay answers a request whose key an earlier transfer of the
// organization used: the original transfer when the payload is the same,
// ECONFLICT when it differs. found is false when the key is unused.
func replay(tx *gorm.DB, r *transferReq, debitID, creditID int64) (t *orgbase.Transfer, found bool, err error) {
	var prev transferRow
	err = tx.Take(&prev, "org_id = ? AND idempotency_key = ?", r.orgID, r.key).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	if prev.DebitAccountID != debitID || prev.CreditAccountID != creditID || prev.Amount != int64(r.amount) ||
		prev.Kind != string(r.kind) || prev.Memo != r.memo {
		return nil, true, &orgbase.Error{Code: orgbase.ECONFLICT,
			Message: "This idempotency key was already used for a different transfer.",
			Fields:  map[string]string{"idempotency_key": "Already used for a different transfer."}}
	}
	t = prev.domain()
	t.Replayed = true
	return t, true, nil
}

// transfer runs one transfer request in one transaction. See Transfer.
func (db *DB) transfer(ctx context.Context, r transferReq) (*orgbase.Transfer, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	var debitID, creditID int64
	var out *orgbase.Transfer
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var err error
		out, debitID, creditID, err = db.transferIn(tx, &r)
		return err
	})
	if errors.Is(err, errKeyRace) {
		// Another request with the same key committed while this one waited:
		// answer from it, as if this one had come second.
		err = db.tx(ctx, func(tx *gorm.DB) error {
			t, found, err := replay(tx, &r, debitID, creditID)
			if err == nil && !found {
				err = errKeyRace
			}
			out = t
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// transferIn runs one validated transfer request inside the caller's
// transaction (transfer's, or a billing event's, so that the credits move
// in the same transaction as what paid for them). It returns the transfer
// and the ids of both accounts; errKeyRace when a concurrent transaction
// took the idempotency key first.
func (db *DB) transferIn(tx *gorm.DB, r *transferReq) (out *orgbase.Transfer, debitID, creditID int64, err error) {
	if debitID, err = db.findAccountID(tx, r.orgID, r.from); err != nil {
		return nil, 0, 0, err
	}
	if creditID, err = db.findAccountID(tx, r.orgID, r.to); err != nil {
		return nil, debitID, 0, err
	}
	if debitID == creditID {
		return nil, debitID, creditID, orgbase.Errorf(orgbase.EINVALID, "Choose two different accounts.")
	}
	ends, err := lockAccounts(tx, r.orgID, debitID, creditID)
	if err != nil {
		return nil, debitID, creditID, err
	}
	from, to := ends[debitID], ends[creditID]
	if err := recheck(tx, r.orgID, r.by, func(a orgbase.Access) bool { return r.allow(a, from, to) }); err != nil {
		return nil, debitID, creditID, err
	}
	// A replay is answered only to someone who may make the transfer, and
	// even once the accounts have changed since (a budget switched back
	// to shared): the original transfer stands.
	if r.key != "" {
		t, found, err := replay(tx, r, debitID, creditID)
		if found || err != nil {
			return t, debitID, creditID, err
		}
	}
	if err := from.usable(); err != nil {
		return nil, debitID, creditID, err
	}
	if err := to.usable(); err != nil {
		return nil, debitID, creditID, err
	}
	if err := orgbase.CheckTransfer(r.kind, from.kind(), to.kind()); err != nil {
		return nil, debitID, creditID, err
	}
	before := [2]int64{from.acct.Balance, to.acct.Balance}
	row, err := move(tx, r.orgID, creator(r.by), from, to, r.amount, r.kind, r.memo, r.key, db.now())
	if err != nil {
		return nil, debitID, creditID, err
	}
	return row.domain(), debitID, creditID, r.audit(tx, row, from, to, before)
}

// transferChanges is what the audit log records about a transfer: the
// amount, both sides and their balances before and after.
func transferChanges(t *transferRow, from, to *ledgerEnd, before [2]int64) map[string]Change {
	ch := map[string]Change{
		"amount":              {To: orgbase.Credits(t.Amount).String()},
		"from":                {To: from.name()},
		"to":                  {To: to.name()},
		"source_balance":      {From: orgbase.Credits(before[0]).String(), To: orgbase.Credits(from.acct.Balance).String()},
		"destination_balance": {From: orgbase.Credits(before[1]).String(), To: orgbase.Credits(to.acct.Balance).String()},
	}
	if t.Kind != string(orgbase.TransferMove) {
		ch["kind"] = Change{To: orgbase.TransferKind(t.Kind).Label()}
	}
	if t.Memo != "" {
		ch["memo"] = Change{To: t.Memo}
	}
	if t.IdempotencyKey != nil {
		ch["idempotency_key"] = Change{To: *t.IdempotencyKey}
	}
	return ch
}

// Transfer moves amount from one account of the organization to another, in
// one transaction, and returns the transfer.
//
// A transfer of kind "transfer" moves credits between the pool and budget
// workspaces; the actor must manage both (orgbase.Access.CanMoveCredits:
// owners and admins anywhere, managers within their subtree). Every other
// kind (grants, usage, refunds, expiry, adjustments) is for the operator
// and the system only, between the accounts orgbase.CheckTransfer allows.
//
// With an idempotency key, repeating a request returns the original
// transfer (Replayed set) and moves nothing; the same key with a different
// payload is ECONFLICT. Errors: EINVALID for a bad amount, memo or key, for
// a workspace that has no budget of its own, and when the source has less
// than amount ("The source has only X credits."); EFORBIDDEN when the actor
// may not; ENOTFOUND for an unknown workspace; ECONFLICT for an archived one.
func (db *DB) Transfer(ctx context.Context, orgID int64, by orgbase.Access, from, to orgbase.AccountRef, amount orgbase.Credits,
	kind orgbase.TransferKind, memo, idempotencyKey string) (*orgbase.Transfer, error) {
	return db.transfer(ctx, transferReq{orgID: orgID, by: by, from: from, to: to, amount: amount, kind: kind, memo: memo, key: idempotencyKey,
		allow: func(a orgbase.Access, f, t *ledgerEnd) bool {
			if kind == orgbase.TransferMove {
				return a.CanMoveCredits(f.path(), t.path())
			}
			return a.IsOperator()
		},
		audit: func(tx *gorm.DB, t *transferRow, f, to *ledgerEnd, before [2]int64) error {
			return audit(tx, orgID, "credits.transfer", "transfer", itoa64(t.ID), f.name()+" → "+to.name(), transferChanges(t, f, to, before))
		},
	})
}

// GrantCredits is the operator's grant (`orgbase credits grant`): amount
// moves from the organization's purchases account to its pool, as a
// transfer of kind "grant", recorded in the audit log. An idempotency key
// makes a repeated grant return the first one and grant nothing more (the
// same key with another amount or memo is ECONFLICT). EINVALID for a bad
// amount, memo or key; ENOTFOUND for an unknown organization; ECONFLICT for
// one scheduled for deletion.
func (db *DB) GrantCredits(ctx context.Context, orgID int64, amount orgbase.Credits, memo, idempotencyKey string) (*orgbase.Transfer, error) {
	var org orgRow
	if err := db.q(ctx).Select("id", "deleted_at").Take(&org, "id = ?", orgID).Error; err != nil {
		return nil, notFound(err, "Organization not found.")
	}
	if org.DeletedAt != nil {
		return nil, orgbase.Errorf(orgbase.ECONFLICT, "This organization is scheduled for deletion.")
	}
	return db.transfer(ctx, grantReq(orgID, amount, orgbase.TransferGrant, memo, idempotencyKey, "credits.grant"))
}

// grantReq is a grant of new credits: amount moves from the organization's
// purchases account to its pool as a transfer of kind (grant, plan_grant,
// top_up), made by the operator or the system, recorded in the audit log as
// action with the pool's balance before and after.
func grantReq(orgID int64, amount orgbase.Credits, kind orgbase.TransferKind, memo, key, action string) transferReq {
	return transferReq{orgID: orgID, by: orgbase.OperatorAccess(orgID),
		from: orgbase.SystemAccount(orgbase.AccountPurchases), to: orgbase.PoolAccount(),
		amount: amount, kind: kind, memo: memo, key: key,
		allow: func(a orgbase.Access, _, _ *ledgerEnd) bool { return a.IsOperator() },
		audit: func(tx *gorm.DB, t *transferRow, f, to *ledgerEnd, before [2]int64) error {
			ch := map[string]Change{
				"amount":       {To: orgbase.Credits(t.Amount).String()},
				"pool_balance": {From: orgbase.Credits(before[1]).String(), To: orgbase.Credits(to.acct.Balance).String()},
			}
			if t.Memo != "" {
				ch["memo"] = Change{To: t.Memo}
			}
			if t.IdempotencyKey != nil {
				ch["idempotency_key"] = Change{To: *t.IdempotencyKey}
			}
			return audit(tx, orgID, action, "transfer", itoa64(t.ID), to.name(), ch)
		},
	}
}

// FindAccounts lists the organization's accounts: the pool, the budget
// accounts by workspace path (including those of workspaces switched back
// to shared, at zero), then the system accounts.
func (db *DB) FindAccounts(ctx context.Context, orgID int64) ([]orgbase.Account, error) {
	find := func() ([]accountRow, error) {
		var rows []accountRow
		err := db.q(ctx).Table("accounts a").Select("a.*, COALESCE(w.name, '') AS name").
			Joins("LEFT JOIN workspaces w ON w.id = a.workspace_id").Where("a.org_id = ?", orgID).
			Order("CASE a.kind WHEN 'pool' THEN 0 WHEN 'workspace' THEN 1 ELSE 2 END, w.path, a.id").Scan(&rows).Error
		return rows, err
	}
	rows, err := find()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || rows[0].Kind != string(orgbase.AccountPool) {
		// An organization that predates the ledger: open its accounts.
		if err := db.EnsureAccounts(ctx, orgID); err != nil {
			return nil, err
		}
		if rows, err = find(); err != nil {
			return nil, err
		}
	}
	// The usage shards read as one account (shard 0's, with their sum).
	out := make([]orgbase.Account, 0, len(rows))
	usage := -1
	for _, r := range rows {
		if r.Kind == string(orgbase.AccountUsage) {
			if usage >= 0 {
				out[usage].Balance += orgbase.Credits(r.Balance)
				if r.Shard == 0 {
					out[usage].ID = r.ID
				}
				continue
			}
			usage = len(out)
		}
		out = append(out, r.domain())
	}
	return out, nil
}

// PoolBalance returns the balance of the organization pool (zero for an
// organization whose accounts do not exist yet).
func (db *DB) PoolBalance(ctx context.Context, orgID int64) (orgbase.Credits, error) {
	var b []int64
	err := db.q(ctx).Model(&accountRow{}).Where("org_id = ? AND kind = ?", orgID, orgbase.AccountPool).Pluck("balance", &b).Error
	if err != nil || len(b) == 0 {
		return 0, err
	}
	return orgbase.Credits(b[0]), nil
}

// FindFundingAccount returns the account the workspace spends from: its own
// in budget mode, else that of its nearest ancestor in budget mode, else
// the organization pool, in one query. ENOTFOUND for an unknown workspace.
func (db *DB) FindFundingAccount(ctx context.Context, orgID, workspaceID int64) (*orgbase.Account, error) {
	ws, err := db.FindWorkspaceByID(ctx, orgID, workspaceID)
	if err != nil {
		return nil, err
	}
	find := func() ([]accountRow, error) {
		var rows []accountRow
		err := db.q(ctx).Table("accounts a").Select("a.*, w.name AS name").
			Joins("JOIN workspaces w ON w.id = a.workspace_id").
			Where("a.org_id = ? AND a.workspace_id IN ? AND (w.parent_id IS NULL OR w.funding_mode = ?)", orgID, orgbase.PathIDs(ws.Path), orgbase.FundingBudget).
			Order("w.depth DESC").Limit(1).Scan(&rows).Error
		return rows, err
	}
	rows, err := find()
	if err == nil && len(rows) == 0 {
		if err = db.EnsureAccounts(ctx, orgID); err == nil {
			rows, err = find()
		}
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	a := rows[0].domain()
	return &a, nil
}

// WorkspaceBalance returns the credits the workspace can spend now: the
// balance of its funding account (FindFundingAccount).
func (db *DB) WorkspaceBalance(ctx context.Context, orgID, workspaceID int64) (orgbase.Credits, error) {
	a, err := db.FindFundingAccount(ctx, orgID, workspaceID)
	if err != nil {
		return 0, err
	}
	return a.Balance, nil
}

// SetFundingMode switches a workspace between shared and budget (SPEC
// §5.3), in one transaction. Budget → shared returns the workspace's whole
// balance to its funding parent (the nearest ancestor in budget mode, else
// the pool) in one transfer; shared → budget opens its account (or reuses
// the one it had) at zero. Both are recorded in the audit log; setting the
// mode it already has changes nothing.
//
// EFORBIDDEN unless the actor manages the workspace's parent
// (Access.CanSetFundingMode); EINVALID for the Primary workspace (it always
// holds the pool) or an unknown mode; ECONFLICT for an archived workspace;
// ENOTFOUND for an unknown one.
func (db *DB) SetFundingMode(ctx context.Context, orgID int64, by orgbase.Access, workspaceID int64, mode orgbase.FundingMode) (*orgbase.Workspace, error) {
	if !mode.Valid() {
		return nil, &orgbase.Error{Code: orgbase.EINVALID, Message: "Choose shared or budget.",
			Fields: map[string]string{"funding_mode": "Choose shared or budget."}}
	}
	now := db.now()
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		// Mode switches change where other workspaces' credits come from:
		// they queue behind each other and behind moves on the tree lock.
		if err := lockOrgTree(tx, orgID); err != nil {
			return notFound(err, "Organization not found.")
		}
		ws, err := lockWorkspace(tx, orgID, workspaceID)
		if err != nil {
			return err
		}
		if ws.ParentID == nil {
			return orgbase.Errorf(orgbase.EINVALID, "The Primary workspace always holds the organization pool.")
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanSetFundingMode(ws.domain(), ws.domain().ParentPath()) }); err != nil {
			return err
		}
		if ws.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is archived.", ws.Name)
		}
		old := orgbase.FundingMode(ws.FundingMode)
		if old == mode {
			out = ws.domain()
			return nil
		}
		changes := map[string]Change{"funding_mode": {From: old.Label(), To: mode.Label()}}
		if mode == orgbase.FundingBudget {
			if err := tx.Exec(`INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at) VALUES (?, ?, ?, 0, ?)
				ON CONFLICT DO NOTHING`, orgID, orgbase.AccountWorkspace, ws.ID, now).Error; err != nil {
				return err
			}
		} else {
			returned, to, err := db.returnBalance(tx, orgID, by, ws, "Returned when "+ws.Name+" switched to shared", now)
			if err != nil {
				return err
			}
			if returned > 0 {
				changes["returned"] = Change{To: returned.String()}
				changes["returned_to"] = Change{To: to}
			}
		}
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND id = ?", orgID, ws.ID).Update("funding_mode", string(mode)).Error; err != nil {
			return err
		}
		ws.FundingMode = string(mode)
		out = ws.domain()
		return audit(tx, orgID, "workspace.funding_mode", "workspace", itoa64(ws.ID), ws.Name, changes)
	})
	return out, err
}

// returnBalance moves a budget workspace's whole balance to its funding
// parent (a switch to shared, an archive), inside the caller's transaction (which holds the tree lock and the
// workspace's row), and returns the amount and where it went.
func (db *DB) returnBalance(tx *gorm.DB, orgID int64, by orgbase.Access, ws *workspaceRow, memo string, now time.Time) (orgbase.Credits, string, error) {
	var own []int64
	if err := tx.Model(&accountRow{}).Where("org_id = ? AND workspace_id = ?", orgID, ws.ID).Pluck("id", &own).Error; err != nil {
		return 0, "", err
	}
	if len(own) == 0 {
		return 0, "", nil // budget mode without an account: nothing to return
	}
	ancestors := orgbase.PathIDs(ws.domain().ParentPath())
	var parents []int64
	if err := tx.Table("accounts a").Select("a.id").Joins("JOIN workspaces w ON w.id = a.workspace_id").
		Where("a.org_id = ? AND a.workspace_id IN ? AND (w.parent_id IS NULL OR w.funding_mode = ?)", orgID, ancestors, orgbase.FundingBudget).
		Order("w.depth DESC").Limit(1).Pluck("a.id", &parents).Error; err != nil {
		return 0, "", err
	}
	if len(parents) == 0 {
		id, err := db.findAccountID(tx, orgID, orgbase.PoolAccount())
		if err != nil {
			return 0, "", err
		}
		parents = []int64{id}
	}
	ends, err := lockAccounts(tx, orgID, own[0], parents[0])
	if err != nil {
		return 0, "", err
	}
	from, to := ends[own[0]], ends[parents[0]]
	amount := orgbase.Credits(from.acct.Balance)
	if amount <= 0 {
		return 0, to.name(), nil
	}
	if _, err := move(tx, orgID, creator(by), from, to, amount, orgbase.TransferMove, memo, "", now); err != nil {
		return 0, "", err
	}
	return amount, to.name(), nil
}

// Ledger check problems.
const (
	MismatchBalance  = "balance_differs"  // the cached balance is not the sum of the account's transfers
	MismatchNegative = "negative_balance" // a balance below zero on an account that may not go negative
	MismatchOrg      = "cross_org"        // a transfer between accounts of another organization
)

// Mismatch is one problem CheckLedger found.
type Mismatch struct {
	Problem     string          `json:"problem"`
	OrgID       int64           `json:"org_id"`
	AccountID   int64           `json:"account_id,omitempty"`
	Kind        string          `json:"kind,omitempty"`
	WorkspaceID *int64          `json:"workspace_id,omitempty"`
	Balance     orgbase.Credits `json:"balance"`  // the cached balance
	Computed    orgbase.Credits `json:"computed"` // credits minus debits of its transfers
	TransferID  int64           `json:"transfer_id,omitempty"`
}

// String describes the mismatch on one line.
func (m Mismatch) String() string {
	switch m.Problem {
	case MismatchOrg:
		return fmt.Sprintf("transfer %d (org %d): moves credits between accounts of another organization", m.TransferID, m.OrgID)
	case MismatchNegative:
		return fmt.Sprintf("account %d (org %d, %s): balance %s is negative", m.AccountID, m.OrgID, m.Kind, m.Balance.Decimal())
	}
	return fmt.Sprintf("account %d (org %d, %s): balance %s, but its transfers sum to %s", m.AccountID, m.OrgID, m.Kind,
		m.Balance.Decimal(), m.Computed.Decimal())
}

// LedgerCheck is CheckLedger's report.
type LedgerCheck struct {
	Accounts   int64      `json:"accounts"`
	Transfers  int64      `json:"transfers"`
	Mismatches []Mismatch `json:"mismatches"`
}

// OK reports whether the check found nothing wrong.
func (c *LedgerCheck) OK() bool { return len(c.Mismatches) == 0 }

// CheckLedger verifies the whole ledger, every organization, from one
// snapshot: every account's cached balance equals the credits minus the
// debits of its transfers, no balance is negative except on the source
// accounts, and no transfer crosses organizations. It returns every
// problem found (none when the ledger is sound).
func (db *DB) CheckLedger(ctx context.Context) (*LedgerCheck, error) {
	out := &LedgerCheck{Mismatches: []Mismatch{}}
	check := func(tx *gorm.DB) error {
		if err := tx.Model(&accountRow{}).Count(&out.Accounts).Error; err != nil {
			return err
		}
		if err := tx.Model(&transferRow{}).Count(&out.Transfers).Error; err != nil {
			return err
		}
		type row struct {
			ID          int64
			OrgID       int64
			Kind        string
			WorkspaceID *int64
			Balance     int64
			Computed    int64
		}
		var rows []row
		err := tx.Raw(`SELECT a.id, a.org_id, a.kind, a.workspace_id, a.balance,
				CAST(COALESCE(c.total, 0) - COALESCE(d.total, 0) AS BIGINT) AS computed
			FROM accounts a
			LEFT JOIN (SELECT credit_account_id AS id, SUM(amount) AS total FROM transfers GROUP BY credit_account_id) c ON c.id = a.id
			LEFT JOIN (SELECT debit_account_id AS id, SUM(amount) AS total FROM transfers GROUP BY debit_account_id) d ON d.id = a.id
			WHERE a.balance <> COALESCE(c.total, 0) - COALESCE(d.total, 0)
				OR (a.balance < 0 AND a.kind NOT IN ('purchases', 'adjustment'))
			ORDER BY a.id`).Scan(&rows).Error
		if err != nil {
			return err
		}
		for _, r := range rows {
			m := Mismatch{OrgID: r.OrgID, AccountID: r.ID, Kind: r.Kind, WorkspaceID: r.WorkspaceID,
				Balance: orgbase.Credits(r.Balance), Computed: orgbase.Credits(r.Computed)}
			if r.Balance != r.Computed {
				m.Problem = MismatchBalance
				out.Mismatches = append(out.Mismatches, m)
			}
			if r.Balance < 0 && !orgbase.AccountKind(r.Kind).MayGoNegative() {
				m.Problem = MismatchNegative
				out.Mismatches = append(out.Mismatches, m)
			}
		}
		var crossed []transferRow
		err = tx.Raw(`SELECT t.id, t.org_id FROM transfers t
			JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id
			WHERE d.org_id <> t.org_id OR c.org_id <> t.org_id ORDER BY t.id`).Scan(&crossed).Error
		if err != nil {
			return err
		}
		for _, t := range crossed {
			out.Mismatches = append(out.Mismatches, Mismatch{Problem: MismatchOrg, OrgID: t.OrgID, TransferID: t.ID})
		}
		return nil
	}
	var err error
	if db.dialect == Postgres {
		// One snapshot for the counts and the sums, while transfers go on.
		err = db.gorm.WithContext(ctx).Transaction(check, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	} else {
		err = db.tx(ctx, check) // SQLite transactions are serializable
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
