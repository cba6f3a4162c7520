package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Batches of charges (POST /api/v1/usage with {"events": [...]}), as sets.
//
// A batch is one transaction. loadBatch first takes every lock the batch
// needs, in the charging lock order (the charged workspaces FOR SHARE by
// id, the members FOR SHARE, the counters of limited workspaces and members
// FOR UPDATE, the funding and usage accounts FOR UPDATE by id), and reads
// everything the decisions need in a few statements. With those rows held,
// nobody else can change a balance or a counter the batch depends on, so the
// events are decided in memory, in order, by exactly the rules of chargeTx,
// and what was accepted is written with a handful of set statements: one
// update per touched counter and account, multi-row inserts of the transfers
// and the usage events, and one upsert of the daily rollups.
// TestChargeBatchMatchesCharge holds the two implementations to the same
// answers.

// ChargeOutcome is one event's answer in a batch: its result, or the
// refusal (an *orgbase.Error family error, as Charge returns).
type ChargeOutcome struct {
	Result *orgbase.ChargeResult
	Err    error
}

// maxBatchAttempts bounds the retries of a whole batch that the database
// aborted (a deadlock it broke, a funding account that changed while the
// batch was locking, an idempotency key a concurrent request took first).
const maxBatchAttempts = 5

// errBatchMoved reports that a funding mode changed between reading the
// tree and locking the accounts: the batch starts over.
var errBatchMoved = errors.New("funding changed while the batch was locking")

// ChargeBatch charges events in order, each accepted or refused on its own
// exactly as Charge would, in one transaction. A database failure returns an
// error and nothing of the batch is written (clients retry with the same
// idempotency keys).
func (db *DB) ChargeBatch(ctx context.Context, orgID int64, reqs []orgbase.ChargeRequest) ([]ChargeOutcome, error) {
	hashes := make([]string, len(reqs))
	invalid := make([]error, len(reqs))
	for i := range reqs {
		if err := reqs[i].Validate(); err != nil {
			invalid[i] = err
			continue
		}
		hashes[i] = reqs[i].Hash()
	}
	var out []ChargeOutcome
	var err error
	for range maxBatchAttempts {
		now := db.now()
		err = db.tx(ctx, func(tx *gorm.DB) error {
			st, err := db.loadBatch(tx, orgID, reqs, invalid, now)
			if err != nil {
				return err
			}
			out, err = st.run(tx, reqs, hashes, invalid)
			return err
		})
		if !isDeadlock(err) && !errors.Is(err, errKeyRace) && !errors.Is(err, errBatchMoved) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// isRefusal reports whether err is a charge's refusal (a domain error the
// caller reports) rather than a failure of the database.
func isRefusal(err error) bool {
	code := orgbase.ErrorCode(err)
	return code != "" && code != orgbase.EINTERNAL
}

// isDeadlock reports whether PostgreSQL aborted the transaction to break a
// deadlock (or a serialization failure): retrying it is safe.
func isDeadlock(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

type counterKey struct {
	scope orgbase.LimitScope
	id    int64
}

// batchState is what a batch decides with: locked rows and lookups.
type batchState struct {
	db       *DB
	orgID    int64
	now      time.Time
	period   string
	ws       map[int64]*workspaceRow // every workspace on the charged paths (the charged ones included)
	members  map[int64]*membershipRow
	grants   map[int64][]orgbase.Grant // members who do not see every workspace
	counters map[counterKey]int64      // this month's locked counters of limited subjects
	accts    map[int64]*accountRow     // locked accounts
	fundOf   map[int64]int64           // charged workspace → its funding account
	usageOf  map[int64]int64           // charged workspace → its usage shard
	prices   map[[2]string]orgbase.Price
	prior    map[string]*usageEventRow // events already recorded under the batch's keys
}

// loadBatch locks and reads everything the batch's events need.
func (db *DB) loadBatch(tx *gorm.DB, orgID int64, reqs []orgbase.ChargeRequest, invalid []error, now time.Time) (*batchState, error) {
	st := &batchState{db: db, orgID: orgID, now: now, period: orgbase.Period(now), ws: map[int64]*workspaceRow{},
		members: map[int64]*membershipRow{}, grants: map[int64][]orgbase.Grant{}, counters: map[counterKey]int64{},
		accts: map[int64]*accountRow{}, fundOf: map[int64]int64{}, usageOf: map[int64]int64{},
		prices: map[[2]string]orgbase.Price{}, prior: map[string]*usageEventRow{}}
	wsSet, userSet, keySet := map[int64]bool{}, map[int64]bool{}, map[string]bool{}
	priceSet := map[[2]string]bool{}
	for i, r := range reqs {
		if invalid[i] == nil {
			wsSet[r.WorkspaceID] = true
			userSet[r.UserID] = true
			keySet[r.IdempotencyKey] = true
			priceSet[[2]string{r.Tool, r.Model}] = true
		}
	}
	if len(wsSet) == 0 {
		return st, nil
	}
	// Replays: the events already recorded under these keys.
	var prior []usageEventRow
	for _, keys := range slices.Collect(slices.Chunk(slices.Sorted(maps.Keys(keySet)), 500)) {
		var rows []usageEventRow
		if err := tx.Where("org_id = ? AND idempotency_key IN ?", orgID, keys).Find(&rows).Error; err != nil {
			return nil, err
		}
		prior = append(prior, rows...)
	}
	for i := range prior {
		st.prior[prior[i].IdempotencyKey] = &prior[i]
	}
	// 1. The charged workspaces, shared-locked by id, then their paths.
	var charged []workspaceRow
	if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).Where("org_id = ? AND id IN ?", orgID, slices.Sorted(maps.Keys(wsSet))).
		Order("id").Find(&charged).Error; err != nil {
		return nil, err
	}
	pathSet := map[int64]bool{}
	for _, w := range charged {
		for _, id := range orgbase.PathIDs(w.Path) {
			pathSet[id] = true
		}
	}
	if len(pathSet) > 0 {
		var onPaths []workspaceRow
		if err := tx.Where("org_id = ? AND id IN ?", orgID, slices.Sorted(maps.Keys(pathSet))).Find(&onPaths).Error; err != nil {
			return nil, err
		}
		for i := range onPaths {
			st.ws[onPaths[i].ID] = &onPaths[i]
		}
	}
	for i := range charged { // as locked (the same rows)
		st.ws[charged[i].ID] = &charged[i]
	}
	// 2. The members, shared-locked, and the grants of those who need them.
	var members []membershipRow
	if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).Where("org_id = ? AND user_id IN ?", orgID, slices.Sorted(maps.Keys(userSet))).
		Order("user_id").Find(&members).Error; err != nil {
		return nil, err
	}
	var needGrants []int64
	for i := range members {
		m := &members[i]
		st.members[m.UserID] = m
		if a := (orgbase.Access{Membership: m.domain()}); a.Active() && !a.SeesAll() {
			needGrants = append(needGrants, m.UserID)
		}
	}
	if len(needGrants) > 0 {
		grants, err := findGrants(tx, "g.org_id = ? AND g.user_id IN ? AND w.archived_at IS NULL", orgID, needGrants)
		if err != nil {
			return nil, err
		}
		for _, g := range grants {
			st.grants[g.UserID] = append(st.grants[g.UserID], g)
		}
	}
	// 3. The counters of every limited workspace on the paths and of the
	// limited members, created when missing and locked in lockLimits' order.
	var rows []limitPeriodRow
	for _, id := range slices.Sorted(maps.Keys(st.ws)) {
		if st.ws[id].MonthlyLimit != nil {
			rows = append(rows, limitPeriodRow{OrgID: orgID, Scope: string(orgbase.LimitWorkspace), SubjectID: id, Period: st.period})
		}
	}
	for _, m := range members {
		if m.MonthlyLimit != nil {
			rows = append(rows, limitPeriodRow{OrgID: orgID, Scope: string(orgbase.LimitMember), SubjectID: m.UserID, Period: st.period})
		}
	}
	if len(rows) > 0 {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
			return nil, err
		}
		var wsIDs, userIDs []int64
		for _, r := range rows {
			if r.Scope == string(orgbase.LimitWorkspace) {
				wsIDs = append(wsIDs, r.SubjectID)
			} else {
				userIDs = append(userIDs, r.SubjectID)
			}
		}
		q := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("org_id = ? AND period = ?", orgID, st.period)
		switch {
		case len(wsIDs) > 0 && len(userIDs) > 0:
			q = q.Where("(scope = ? AND subject_id IN ?) OR (scope = ? AND subject_id IN ?)", orgbase.LimitWorkspace, wsIDs, orgbase.LimitMember, userIDs)
		case len(wsIDs) > 0:
			q = q.Where("scope = ? AND subject_id IN ?", orgbase.LimitWorkspace, wsIDs)
		default:
			q = q.Where("scope = ? AND subject_id IN ?", orgbase.LimitMember, userIDs)
		}
		var locked []limitPeriodRow
		if err := q.Order("scope DESC, subject_id").Find(&locked).Error; err != nil {
			return nil, err
		}
		for _, r := range locked {
			st.counters[counterKey{orgbase.LimitScope(r.Scope), r.SubjectID}] = r.Used
		}
	}
	// 4. The accounts: each charged workspace's funding account (its nearest
	// budget ancestor's, else the pool) and usage shard, locked by id.
	funding := func() (map[int64]int64, error) {
		var funds []struct {
			ID          int64
			WorkspaceID int64
		}
		if err := tx.Table("accounts a").Select("a.id, a.workspace_id").Joins("JOIN workspaces w ON w.id = a.workspace_id").
			Where("a.org_id = ? AND a.workspace_id IN ? AND (w.parent_id IS NULL OR w.funding_mode = ?)", orgID, slices.Sorted(maps.Keys(st.ws)), orgbase.FundingBudget).
			Scan(&funds).Error; err != nil {
			return nil, err
		}
		holder := make(map[int64]int64, len(funds))
		for _, f := range funds {
			holder[f.WorkspaceID] = f.ID
		}
		out := map[int64]int64{}
		for _, w := range charged {
			ids := orgbase.PathIDs(w.Path)
			for k := len(ids) - 1; k >= 0; k-- {
				if id, ok := holder[ids[k]]; ok {
					out[w.ID] = id
					break
				}
			}
		}
		return out, nil
	}
	fundOf, err := funding()
	if err != nil {
		return nil, err
	}
	if len(fundOf) < len(charged) {
		if err := ensureAccounts(tx, orgID, now); err != nil { // an organization that predates the ledger
			return nil, err
		}
		if fundOf, err = funding(); err != nil {
			return nil, err
		}
	}
	st.fundOf = fundOf
	acctSet := map[int64]bool{}
	for _, id := range fundOf {
		acctSet[id] = true
	}
	shardIDs := map[int64]int64{}
	for _, w := range charged {
		shard := w.ID % UsageShards
		if _, ok := shardIDs[shard]; !ok {
			id, err := db.usageAccountID(tx, orgID, shard) // a shard number is its own shard
			if err != nil {
				return nil, err
			}
			shardIDs[shard] = id
		}
		st.usageOf[w.ID] = shardIDs[shard]
		acctSet[shardIDs[shard]] = true
	}
	if len(acctSet) > 0 {
		var accts []accountRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("org_id = ? AND id IN ?", orgID, slices.Sorted(maps.Keys(acctSet))).
			Order("id").Find(&accts).Error; err != nil {
			return nil, err
		}
		for i := range accts {
			st.accts[accts[i].ID] = &accts[i]
		}
		// A funding mode that changed before the accounts were locked.
		again, err := funding()
		if err != nil {
			return nil, err
		}
		if !maps.Equal(again, fundOf) {
			return nil, errBatchMoved
		}
	}
	// 5. The prices.
	if len(priceSet) > 0 {
		var conds []string
		var args []any
		for _, k := range slices.SortedFunc(maps.Keys(priceSet), func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) }) {
			conds = append(conds, "(tool = ? AND model = ?)")
			args = append(args, k[0], k[1])
		}
		for chunk := range slices.Chunk(conds, 200) {
			var prices []priceRow
			if err := tx.Where("active AND ("+strings.Join(chunk, " OR ")+")", args[:2*len(chunk)]...).Find(&prices).Error; err != nil {
				return nil, err
			}
			args = args[2*len(chunk):]
			for _, p := range prices {
				st.prices[[2]string{p.Tool, p.Model}] = p.domain()
			}
		}
	}
	return st, nil
}

// pending is an accepted event waiting for its ids.
type pending struct {
	transfer transferRow
	event    usageEventRow
}

// run decides every event in order, then writes what was accepted.
func (st *batchState) run(tx *gorm.DB, reqs []orgbase.ChargeRequest, hashes []string, invalid []error) ([]ChargeOutcome, error) {
	out := make([]ChargeOutcome, len(reqs))
	var accepted []*pending
	byKey := map[string]*pending{} // in-batch events by key
	replayOf := map[int]*pending{} // index → the in-batch event it replays
	touchedCounters := map[counterKey]bool{}
	touchedAccts := map[int64]bool{}
	for i := range reqs {
		if invalid[i] != nil {
			out[i].Err = invalid[i]
			continue
		}
		req := &reqs[i]
		if p := byKey[req.IdempotencyKey]; p != nil {
			if p.event.RequestHash != hashes[i] {
				out[i].Err = &orgbase.IdempotencyConflict{Key: req.IdempotencyKey}
			} else {
				replayOf[i] = p
			}
			continue
		}
		if prev := st.prior[req.IdempotencyKey]; prev != nil {
			if prev.RequestHash != hashes[i] {
				out[i].Err = &orgbase.IdempotencyConflict{Key: req.IdempotencyKey}
				continue
			}
			res := prev.result()
			res.Replayed = true
			out[i].Result = res
			continue
		}
		p, err := st.decide(tx, req, hashes[i])
		if err != nil {
			if !isRefusal(err) {
				return nil, err
			}
			out[i].Err = err
			continue
		}
		accepted = append(accepted, p)
		byKey[req.IdempotencyKey] = p
		for _, id := range orgbase.PathIDs(st.ws[req.WorkspaceID].Path) {
			if st.ws[id].MonthlyLimit != nil {
				touchedCounters[counterKey{orgbase.LimitWorkspace, id}] = true
			}
		}
		if st.members[req.UserID].MonthlyLimit != nil {
			touchedCounters[counterKey{orgbase.LimitMember, req.UserID}] = true
		}
		touchedAccts[p.transfer.DebitAccountID] = true
		touchedAccts[p.transfer.CreditAccountID] = true
		out[i].Result = &orgbase.ChargeResult{} // filled once the rows have ids
	}
	if err := st.write(tx, accepted, touchedCounters, touchedAccts); err != nil {
		return nil, err
	}
	for i := range reqs {
		switch p := replayOf[i]; {
		case p != nil:
			res := p.event.result()
			res.Replayed = true
			out[i].Result = res
		case out[i].Result != nil && out[i].Result.EventID == 0 && !out[i].Result.Replayed:
			out[i].Result = byKey[reqs[i].IdempotencyKey].event.result()
		}
	}
	return out, nil
}

// decide is chargeTx's decisions on the locked, loaded rows: the same checks
// in the same order with the same refusals. On acceptance it updates the
// in-memory counters and balances and returns the rows to write.
func (st *batchState) decide(tx *gorm.DB, req *orgbase.ChargeRequest, hash string) (*pending, error) {
	ws := st.ws[req.WorkspaceID]
	if ws == nil || ws.OrgID != st.orgID {
		return nil, &orgbase.Error{Code: orgbase.ENOTFOUND, Message: "Workspace not found.", Fields: map[string]string{"workspace": "Workspace not found."}}
	}
	if req.Within != 0 && !slices.Contains(orgbase.PathIDs(ws.Path), req.Within) {
		return nil, &orgbase.Error{Code: orgbase.ENOTFOUND, Message: "Workspace not found.", Fields: map[string]string{"workspace": "Workspace not found."}}
	}
	if ws.ArchivedAt != nil {
		return nil, &orgbase.Error{Code: orgbase.ECONFLICT, Message: ws.Name + " is archived.", Fields: map[string]string{"workspace": ws.Name + " is archived."}}
	}
	m := st.members[req.UserID]
	if m == nil {
		msg := "That person is not a member of this organization."
		return nil, &orgbase.Error{Code: orgbase.ENOTFOUND, Message: msg, Fields: map[string]string{"user": msg}}
	}
	access := orgbase.Access{Membership: m.domain(), Grants: st.grants[m.UserID]}
	if !access.CanView(ws.Path) {
		msg := "This member has no access to " + ws.Name + "."
		if !access.Active() {
			msg = "This member is not active in the organization."
		}
		return nil, &orgbase.Error{Code: orgbase.EFORBIDDEN, Message: msg, Fields: map[string]string{"user": msg}}
	}
	price, ok := st.prices[[2]string{req.Tool, req.Model}]
	if !ok {
		msg := "The price catalog has no price for " + req.Tool + " with model " + req.Model + "."
		return nil, &orgbase.Error{Code: orgbase.EINVALID, Message: msg, Fields: map[string]string{"tool": msg}}
	}
	amount, err := req.Price(price.CreditsPerUnit)
	if err != nil {
		return nil, err
	}
	// Limits, root first, then the member's (lockLimits' rule and order).
	path := orgbase.PathIDs(ws.Path)
	for _, id := range path {
		w := st.ws[id]
		if w.MonthlyLimit == nil {
			continue
		}
		used := st.counters[counterKey{orgbase.LimitWorkspace, id}]
		if !orgbase.Fits(orgbase.Credits(used), amount, orgbase.Credits(*w.MonthlyLimit)) {
			return nil, &orgbase.LimitReached{Scope: orgbase.LimitWorkspace, WorkspaceID: id, WorkspaceName: w.Name, Period: st.period,
				Limit: orgbase.Credits(*w.MonthlyLimit), Used: orgbase.Credits(used), Amount: amount}
		}
	}
	if m.MonthlyLimit != nil {
		used := st.counters[counterKey{orgbase.LimitMember, m.UserID}]
		if !orgbase.Fits(orgbase.Credits(used), amount, orgbase.Credits(*m.MonthlyLimit)) {
			name, err := userLabel(tx, m.UserID)
			if err != nil {
				return nil, err
			}
			return nil, &orgbase.LimitReached{Scope: orgbase.LimitMember, UserID: m.UserID, MemberName: name, Period: st.period,
				Limit: orgbase.Credits(*m.MonthlyLimit), Used: orgbase.Credits(used), Amount: amount}
		}
	}
	// The funding account.
	fund, usage := st.accts[st.fundOf[ws.ID]], st.accts[st.usageOf[ws.ID]]
	if fund == nil || usage == nil {
		return nil, fmt.Errorf("batch: accounts of workspace %d not loaded", ws.ID)
	}
	if fund.Balance < int64(amount) {
		from := &ledgerEnd{acct: fund}
		wsID := int64(0)
		if fund.WorkspaceID != nil {
			from.ws = st.ws[*fund.WorkspaceID]
			wsID = *fund.WorkspaceID
		}
		return nil, &orgbase.InsufficientCredits{AccountID: fund.ID, AccountName: from.name(), WorkspaceID: wsID,
			Balance: orgbase.Credits(fund.Balance), Amount: amount}
	}
	if orgbase.Credits(usage.Balance+int64(amount)) > orgbase.MaxBalance {
		return nil, fmt.Errorf("the usage account would pass the largest balance an account can hold")
	}
	// Accepted: count it.
	for _, id := range path {
		if st.ws[id].MonthlyLimit != nil {
			st.counters[counterKey{orgbase.LimitWorkspace, id}] += int64(amount)
		}
	}
	if m.MonthlyLimit != nil {
		st.counters[counterKey{orgbase.LimitMember, m.UserID}] += int64(amount)
	}
	fund.Balance -= int64(amount)
	usage.Balance += int64(amount)
	actor := req.UserID
	return &pending{
		transfer: transferRow{OrgID: st.orgID, DebitAccountID: fund.ID, CreditAccountID: usage.ID, Amount: int64(amount),
			Kind: string(orgbase.TransferUsage), ActorID: &actor, Memo: req.Tool + " " + req.Model, CreatedAt: st.now},
		event: usageEventRow{OrgID: st.orgID, WorkspaceID: ws.ID, UserID: req.UserID, Tool: req.Tool, Model: req.Model, Units: req.Units,
			Credits: int64(amount), Category: string(price.Category), IdempotencyKey: req.IdempotencyKey, RequestHash: hash,
			BalanceAfter: fund.Balance, Metadata: req.MetadataJSON(), CreatedAt: st.now},
	}, nil
}

// write stores what the batch accepted: counters and balances (absolute
// values, under the locks; the database's CHECK constraints still guard
// them), the transfers, the events and the rollups.
func (st *batchState) write(tx *gorm.DB, accepted []*pending, counters map[counterKey]bool, accts map[int64]bool) error {
	if len(accepted) == 0 {
		return nil
	}
	for _, k := range slices.SortedFunc(maps.Keys(counters), func(a, b counterKey) int {
		if a.scope != b.scope {
			return strings.Compare(string(b.scope), string(a.scope))
		}
		return int(a.id - b.id)
	}) {
		if err := tx.Exec("UPDATE limit_periods SET used = ? WHERE org_id = ? AND scope = ? AND subject_id = ? AND period = ?",
			st.counters[k], st.orgID, string(k.scope), k.id, st.period).Error; err != nil {
			return err
		}
	}
	if err := st.setBalances(tx, slices.Sorted(maps.Keys(accts))); err != nil {
		return err
	}
	transfers := make([]transferRow, len(accepted))
	for i, p := range accepted {
		transfers[i] = p.transfer
	}
	if err := tx.CreateInBatches(&transfers, 500).Error; err != nil {
		return err
	}
	events := make([]usageEventRow, len(accepted))
	for i, p := range accepted {
		id := transfers[i].ID
		p.event.TransferID = &id
		events[i] = p.event
	}
	if err := tx.CreateInBatches(&events, 500).Error; err != nil {
		if isUniqueViolation(err) {
			return errKeyRace // a concurrent request took a key: the batch starts over and replays it
		}
		return err
	}
	for i, p := range accepted {
		p.event.ID = events[i].ID
	}
	// The daily rollups (addRollups sums per key and sorts).
	deltas := make([]rollupDelta, len(accepted))
	for i, p := range accepted {
		deltas[i] = rollupDelta{ws: p.event.WorkspaceID, user: p.event.UserID, category: p.event.Category, tool: p.event.Tool, credits: p.event.Credits, count: 1}
	}
	return addRollups(tx, st.orgID, st.now.UTC().Format(time.DateOnly), deltas)
}

// setBalances writes the batch's balances of the accounts: on PostgreSQL
// one UPDATE … FROM (VALUES …) per 1,000 accounts (a batch spread over many
// budget workspaces touches hundreds), on SQLite one UPDATE each (local
// calls, no round trips).
func (st *batchState) setBalances(tx *gorm.DB, ids []int64) error {
	if st.db.dialect != Postgres {
		for _, id := range ids {
			if err := tx.Exec("UPDATE accounts SET balance = ? WHERE id = ?", st.accts[id].Balance, id).Error; err != nil {
				return err
			}
		}
		return nil
	}
	for chunk := range slices.Chunk(ids, 1000) {
		values := make([]string, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		for i, id := range chunk {
			values[i] = "(?::bigint, ?::bigint)"
			args = append(args, id, st.accts[id].Balance)
		}
		res := tx.Exec("UPDATE accounts AS a SET balance = v.balance FROM (VALUES "+strings.Join(values, ", ")+") AS v(id, balance) WHERE a.id = v.id", args...)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != int64(len(chunk)) {
			return fmt.Errorf("batch: %d of %d balances written", res.RowsAffected, len(chunk))
		}
	}
	return nil
}
