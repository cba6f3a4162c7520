package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// The charging service (SPEC §5.5). A charge is one transaction that
// checks the idempotency key, the workspace and the member, prices the
// event, counts it against every limit on the path and the member's,
// debits the funding account, credits the organization's usage account,
// and writes the transfer, the usage event and the daily rollup.
//
// Lock order (the ledger's, so charges cannot deadlock with each other, with
// transfers or with tree changes):
//
//  1. the charged workspace's row, FOR SHARE (charges share it; archiving and
//     funding-mode switches, which lock it FOR UPDATE after the tree root,
//     wait for the charges in flight and vice versa);
//  2. the limit_periods counters (reserveLimits: workspace counters by
//     ascending id, then the member's);
//  3. the funding account and the usage account, in one SELECT … ORDER BY id
//     FOR UPDATE (lockAccounts);
//  4. the rollup rows (usage_daily, usage_daily_ws, usage_daily_member: only
//     charges touch them, always last, tables and keys in a fixed order).
//
// Hot rows: a charge locks only rows that its own constraints need — the
// counters of limited workspaces on its path and of a limited member
// (reserveLimits keeps no counter where there is no limit), its funding
// account, and one of UsageShards usage accounts chosen by its workspace.
// Charges of different budget workspaces without a shared limit therefore
// run in parallel; charges that spend from one balance (the pool for
// shared workspaces) or count against one limit queue on that row, as they
// must. Organizations never contend.

type usageEventRow struct {
	ID             int64
	OrgID          int64
	WorkspaceID    int64
	UserID         int64
	Tool           string
	Model          string
	Units          int64
	Credits        int64
	Category       string
	IdempotencyKey string
	RequestHash    string
	BalanceAfter   int64
	Metadata       string
	TransferID     *int64
	CreatedAt      time.Time
}

func (usageEventRow) TableName() string { return "usage_events" }

func (r usageEventRow) result() *orgbase.ChargeResult {
	out := &orgbase.ChargeResult{EventID: r.ID, Charged: orgbase.Credits(r.Credits), BalanceLeft: orgbase.Credits(r.BalanceAfter)}
	if r.TransferID != nil {
		out.TransferID = *r.TransferID
	}
	return out
}

// errFundingMoved reports that the funding account changed between finding
// it and locking it (a concurrent funding-mode switch or archive): the
// charge starts over.
var errFundingMoved = errors.New("funding account changed concurrently")

// chargeReplay answers a charge whose key the organization already used:
// the original result (Replayed) when the hash is the same,
// *orgbase.IdempotencyConflict when it differs. found is false when the key
// is unused.
func chargeReplay(tx *gorm.DB, orgID int64, key, hash string) (res *orgbase.ChargeResult, found bool, err error) {
	var prev []usageEventRow
	if err := tx.Where("org_id = ? AND idempotency_key = ?", orgID, key).Limit(1).Find(&prev).Error; err != nil {
		return nil, false, err
	}
	if len(prev) == 0 {
		return nil, false, nil
	}
	if prev[0].RequestHash != hash {
		return nil, true, &orgbase.IdempotencyConflict{Key: key}
	}
	res = prev[0].result()
	res.Replayed = true
	return res, true, nil
}

// fundingAccountID finds the account a workspace at path spends from: its
// own in budget mode, else its nearest budget ancestor's, else the pool.
func (db *DB) fundingAccountID(tx *gorm.DB, orgID int64, path string) (int64, error) {
	find := func() ([]int64, error) {
		var ids []int64
		err := tx.Table("accounts a").Joins("JOIN workspaces w ON w.id = a.workspace_id").
			Where("a.org_id = ? AND a.workspace_id IN ? AND (w.parent_id IS NULL OR w.funding_mode = ?)", orgID, orgbase.PathIDs(path), orgbase.FundingBudget).
			Order("w.depth DESC").Limit(1).Pluck("a.id", &ids).Error
		return ids, err
	}
	ids, err := find()
	if err == nil && len(ids) == 0 {
		if err = ensureAccounts(tx, orgID, db.now()); err == nil {
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

// Charge charges one usage event to the organization, in one transaction
// (see the lock order above), and returns the event id, the credits charged
// and the funding account's balance left.
//
// Repeating a charge with the same idempotency key returns the original
// result with Replayed set and charges nothing; the same key with a
// different request is *orgbase.IdempotencyConflict. Two concurrent
// requests with one key charge once: the second one's event insert hits the
// unique index, it rolls back and answers from the first.
//
// Refusals change nothing (no balance, counter, event or rollup):
//   - *orgbase.InsufficientCredits naming the funding account;
//   - *orgbase.LimitReached naming the workspace or the member;
//   - EINVALID naming the field: a malformed request (ChargeRequest.Validate),
//     a tool and model the catalog does not price ("tool"), an amount above
//     MaxCredits ("units");
//   - ENOTFOUND for a workspace not in the organization ("workspace") or a
//     user who is not a member ("user"); EFORBIDDEN for a member who is not
//     active or has no access to the workspace (owners and admins reach
//     every workspace, others through grants); ECONFLICT for an archived
//     workspace.
func (db *DB) Charge(ctx context.Context, orgID int64, req orgbase.ChargeRequest) (*orgbase.ChargeResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	hash := req.Hash()
	var out *orgbase.ChargeResult
	var err error
	for range 3 {
		out, err = db.charge(ctx, orgID, &req, hash)
		if !errors.Is(err, errFundingMoved) {
			break
		}
	}
	if errors.Is(err, errKeyRace) {
		// A concurrent request with the same key committed first: answer
		// from it, as if this one had come second.
		err = db.tx(ctx, func(tx *gorm.DB) error {
			res, found, err := chargeReplay(tx, orgID, req.IdempotencyKey, hash)
			if err == nil && !found {
				err = errKeyRace
			}
			out = res
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (db *DB) charge(ctx context.Context, orgID int64, req *orgbase.ChargeRequest, hash string) (*orgbase.ChargeResult, error) {
	now := db.now()
	var out *orgbase.ChargeResult
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res, err := db.chargeTx(tx, orgID, req, hash, now)
		out = res
		return err
	})
	return out, err
}

// chargeTx is one charge inside the caller's transaction (Charge's own, or
// ChargeBatch's, shared by all its events). Refusals are decided before
// anything is written; any error leaves the caller to roll back.
func (db *DB) chargeTx(tx *gorm.DB, orgID int64, req *orgbase.ChargeRequest, hash string, now time.Time) (*orgbase.ChargeResult, error) {
	// (a) Idempotency first.
	res, found, err := chargeReplay(tx, orgID, req.IdempotencyKey, hash)
	if found || err != nil {
		return res, err
	}

	// (b) The workspace, shared-locked so it cannot be archived or
	// switch funding mode under the charge, and the member.
	var ws workspaceRow
	if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).Take(&ws, "org_id = ? AND id = ?", orgID, req.WorkspaceID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, &orgbase.Error{Code: orgbase.ENOTFOUND, Message: "Workspace not found.", Fields: map[string]string{"workspace": "Workspace not found."}}
		}
		return nil, err
	}
	if req.Within != 0 && !slices.Contains(orgbase.PathIDs(ws.Path), req.Within) {
		return nil, &orgbase.Error{Code: orgbase.ENOTFOUND, Message: "Workspace not found.", Fields: map[string]string{"workspace": "Workspace not found."}}
	}
	if ws.ArchivedAt != nil {
		return nil, &orgbase.Error{Code: orgbase.ECONFLICT, Message: ws.Name + " is archived.", Fields: map[string]string{"workspace": ws.Name + " is archived."}}
	}
	var m membershipRow
	if err := tx.Take(&m, "org_id = ? AND user_id = ?", orgID, req.UserID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			msg := "That person is not a member of this organization."
			return nil, &orgbase.Error{Code: orgbase.ENOTFOUND, Message: msg, Fields: map[string]string{"user": msg}}
		}
		return nil, err
	}
	access := orgbase.Access{Membership: m.domain()}
	if access.Active() && !access.SeesAll() {
		if access.Grants, err = findGrants(tx, "g.org_id = ? AND g.user_id = ? AND w.archived_at IS NULL", orgID, m.UserID); err != nil {
			return nil, err
		}
	}
	if !access.CanView(ws.Path) {
		msg := "This member has no access to " + ws.Name + "."
		if !access.Active() {
			msg = "This member is not active in the organization."
		}
		return nil, &orgbase.Error{Code: orgbase.EFORBIDDEN, Message: msg, Fields: map[string]string{"user": msg}}
	}

	// (c) The price.
	price, err := findPrice(tx, req.Tool, req.Model)
	if err != nil {
		if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
			msg := orgbase.ErrorMessage(err)
			return nil, &orgbase.Error{Code: orgbase.EINVALID, Message: msg, Fields: map[string]string{"tool": msg}}
		}
		return nil, err
	}
	amount, err := req.Price(price.CreditsPerUnit)
	if err != nil {
		return nil, err
	}

	// (d) Limits, before any account: locked and decided, counted below
	// once the balance is known to suffice (a refusal writes nothing).
	plan, err := lockLimits(tx, orgID, orgbase.PathIDs(ws.Path), req.UserID, amount, now)
	if err != nil {
		return nil, err
	}

	// (e) The funding and usage accounts, locked by ascending id.
	fundID, err := db.fundingAccountID(tx, orgID, ws.Path)
	if err != nil {
		return nil, err
	}
	usageID, err := db.usageAccountID(tx, orgID, ws.ID)
	if err != nil {
		return nil, err
	}
	ends, err := lockAccounts(tx, orgID, fundID, usageID)
	if err != nil {
		return nil, err
	}
	from, to := ends[fundID], ends[usageID]
	// A budget ancestor switched or archived between finding and locking
	// its account: start over with the account that funds us now.
	if from.usable() != nil {
		return nil, errFundingMoved
	}
	if again, err := db.fundingAccountID(tx, orgID, ws.Path); err != nil {
		return nil, err
	} else if again != fundID {
		return nil, errFundingMoved
	}
	short := func() error {
		wsID := int64(0)
		if from.ws != nil {
			wsID = from.ws.ID
		}
		return &orgbase.InsufficientCredits{AccountID: from.acct.ID, AccountName: from.name(), WorkspaceID: wsID,
			Balance: orgbase.Credits(from.acct.Balance), Amount: amount}
	}
	if from.acct.Balance < int64(amount) {
		return nil, short()
	}
	// (f) Everything is decided: the counters, the transfer (move's debit
	// is the conditional update), the event and the rollup. Under the locks
	// held, none of these can refuse; if one did, it is a bug, and the error
	// (not a refusal) rolls the whole transaction back.
	if err := plan.apply(tx); err != nil {
		return nil, err
	}
	actor := req.UserID
	t, err := move(tx, orgID, &actor, from, to, amount, orgbase.TransferUsage, req.Tool+" "+req.Model, "", now)
	if err != nil {
		if isRefusal(err) {
			return nil, fmt.Errorf("the debit of a checked balance was refused: %s", orgbase.ErrorMessage(err))
		}
		return nil, err
	}
	ev := usageEventRow{OrgID: orgID, WorkspaceID: ws.ID, UserID: req.UserID, Tool: req.Tool, Model: req.Model, Units: req.Units,
		Credits: int64(amount), Category: string(price.Category), IdempotencyKey: req.IdempotencyKey, RequestHash: hash,
		BalanceAfter: from.acct.Balance, Metadata: req.MetadataJSON(), TransferID: &t.ID, CreatedAt: now}
	if err := tx.Create(&ev).Error; err != nil {
		if isUniqueViolation(err) {
			return nil, errKeyRace // (g) a concurrent duplicate won
		}
		return nil, err
	}
	if err := addRollups(tx, orgID, now.UTC().Format(time.DateOnly), []rollupDelta{{ws: ws.ID, user: req.UserID, category: ev.Category, tool: ev.Tool, credits: ev.Credits, count: 1}}); err != nil {
		return nil, err
	}
	return ev.result(), nil
}
