package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// The daily usage rollups. Every accepted charge adds its credits to one row
// of each table, in the charging transaction:
//
//	usage_daily        (org, workspace, member, category, tool, day): limits, the usage API
//	usage_daily_ws     (org, workspace, category, day): the Overview chart, top workspaces, workspace columns
//	usage_daily_member (org, member, category, day): top members, the Members tab, a member's own usage
//	usage_daily_ws_member (org, workspace, member, day): top members under a workspace filter
//
// Reports read these, never the events; CheckRollups proves they equal a
// recomputation from usage_events, and RebuildRollups rewrites them from it.

// rollupDelta is one charge (or the sum of a batch's charges) to add to the
// rollups of one day.
type rollupDelta struct {
	ws, user       int64
	category, tool string
	credits, count int64
}

// rollupTable describes one rollup table: its name and the key columns a
// delta fills, in primary-key order after org_id.
type rollupTable struct {
	name string
	keys []string
	key  func(d rollupDelta) []any
}

var rollupTables = []rollupTable{
	{"usage_daily", []string{"workspace_id", "user_id", "category", "tool"}, func(d rollupDelta) []any { return []any{d.ws, d.user, d.category, d.tool} }},
	{"usage_daily_ws", []string{"workspace_id", "category"}, func(d rollupDelta) []any { return []any{d.ws, d.category} }},
	{"usage_daily_member", []string{"user_id", "category"}, func(d rollupDelta) []any { return []any{d.user, d.category} }},
	{"usage_daily_ws_member", []string{"workspace_id", "user_id"}, func(d rollupDelta) []any { return []any{d.ws, d.user} }},
}

// addRollups adds the deltas (all of one organization and day) to every
// rollup table: one INSERT … ON CONFLICT per table and 500 keys, tables in
// a fixed order and keys sorted within each, so concurrent charges and
// batches lock rollup rows in one global order and cannot deadlock on them.
func addRollups(tx *gorm.DB, orgID int64, day string, deltas []rollupDelta) error {
	for _, t := range rollupTables {
		type row struct {
			key            []any
			credits, count int64
		}
		sums := map[string]*row{}
		for _, d := range deltas {
			k := t.key(d)
			var b strings.Builder
			for _, part := range k {
				fmt.Fprint(&b, part, "\x00") // parts separated: no two keys print alike
			}
			s := b.String()
			if sums[s] == nil {
				sums[s] = &row{key: k}
			}
			sums[s].credits += d.credits
			sums[s].count += d.count
		}
		rows := make([]*row, 0, len(sums))
		for _, r := range sums {
			rows = append(rows, r)
		}
		slices.SortFunc(rows, func(a, b *row) int { return compareKeys(a.key, b.key) })
		cols := "org_id, " + strings.Join(t.keys, ", ") + ", day, credits, events"
		ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.keys)+4), ", ") + ")"
		for chunk := range slices.Chunk(rows, 500) {
			values := make([]string, len(chunk))
			args := make([]any, 0, (len(t.keys)+4)*len(chunk))
			for i, r := range chunk {
				values[i] = ph
				args = append(args, orgID)
				args = append(args, r.key...)
				args = append(args, day, r.credits, r.count)
			}
			err := tx.Exec("INSERT INTO "+t.name+" ("+cols+") VALUES "+strings.Join(values, ", ")+
				" ON CONFLICT (org_id, "+strings.Join(t.keys, ", ")+", day) DO UPDATE SET credits = "+t.name+".credits + excluded.credits, events = "+t.name+".events + excluded.events",
				args...).Error
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// compareKeys orders two rollup keys (int64 and string parts) column by column.
func compareKeys(a, b []any) int {
	for i := range a {
		var c int
		switch x := a[i].(type) {
		case int64:
			c = cmp.Compare(x, b[i].(int64))
		case string:
			c = cmp.Compare(x, b[i].(string))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// RollupMismatch is a rollup row that differs from the recomputation from
// usage_events: Stored or Computed is empty when the row is missing there.
type RollupMismatch struct {
	Table    string `json:"table"`
	Key      string `json:"key"`
	Stored   string `json:"stored"`
	Computed string `json:"computed"`
}

// eventDay is the SQL expression of an event's UTC day, "YYYY-MM-DD", as
// the charging transaction writes it in the rollups.
func (db *DB) eventDay() string {
	if db.dialect == Postgres {
		return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return "substr(created_at, 1, 10)" // times are stored in UTC, "YYYY-MM-DD HH:MM:SS..."
}

// recomputed is the SELECT that computes table t from usage_events, with the
// columns of the table in order.
func (db *DB) recomputed(t rollupTable, orgFilter string) string {
	keys := strings.Join(t.keys, ", ")
	return "SELECT org_id, " + keys + ", " + db.eventDay() + " AS day, SUM(credits) AS credits, COUNT(*) AS events FROM usage_events" +
		orgFilter + " GROUP BY org_id, " + keys + ", " + db.eventDay()
}

// CheckRollups compares every rollup table with a recomputation from the
// usage events (all organizations when orgID is 0) and returns the rows
// that differ, at most limit of them (all when limit <= 0). Empty means
// the rollups are exact.
func (db *DB) CheckRollups(ctx context.Context, orgID int64, limit int) ([]RollupMismatch, error) {
	var out []RollupMismatch
	for _, t := range rollupTables {
		filter, args := "", []any{}
		if orgID != 0 {
			filter, args = " WHERE org_id = ?", []any{orgID}
		}
		stored := "SELECT org_id, " + strings.Join(t.keys, ", ") + ", day, credits, events FROM " + t.name + filter
		computed := db.recomputed(t, filter)
		// Rows in one and not the other, both ways, marked by where they come from.
		q := "SELECT 's' AS side, x.* FROM (" + stored + " EXCEPT " + computed + ") x UNION ALL SELECT 'c' AS side, y.* FROM (" + computed + " EXCEPT " + stored + ") y"
		var all []any
		for range 4 { // the filter appears in each of the four SELECTs
			all = append(all, args...)
		}
		rows, err := db.q(ctx).Raw(q, all...).Rows()
		if err != nil {
			return nil, err
		}
		cols := len(t.keys) + 4 // org_id, keys, day, credits, events
		byKey := map[string]*RollupMismatch{}
		var order []string
		for rows.Next() {
			vals := make([]any, cols+1)
			ptrs := make([]any, cols+1)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			key := fmt.Sprintf("org=%v", vals[1])
			for i, k := range t.keys {
				key += fmt.Sprintf(" %s=%v", k, asText(vals[2+i]))
			}
			key += " day=" + asText(vals[cols-2])
			value := fmt.Sprintf("credits=%v events=%v", vals[cols-1], vals[cols])
			m := byKey[key]
			if m == nil {
				m = &RollupMismatch{Table: t.name, Key: key}
				byKey[key] = m
				order = append(order, key)
			}
			if asText(vals[0]) == "s" {
				m.Stored = value
			} else {
				m.Computed = value
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, k := range order {
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
			out = append(out, *byKey[k])
		}
	}
	return out, nil
}

// asText prints a scanned value, with []byte as text.
func asText(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// RebuildRollups rewrites every rollup table of the organization (all
// organizations when orgID is 0) from the usage events, in one
// transaction. On PostgreSQL the events table is locked in SHARE mode
// first: charges in flight (which insert their event before their rollups)
// finish, and new ones wait until the rebuild commits.
func (db *DB) RebuildRollups(ctx context.Context, orgID int64) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		filter, args := "", []any{}
		if orgID != 0 {
			filter, args = " WHERE org_id = ?", []any{orgID}
		}
		if db.dialect == Postgres {
			if err := tx.Exec("LOCK TABLE usage_events IN SHARE MODE").Error; err != nil {
				return err
			}
		}
		for _, t := range rollupTables {
			if err := tx.Exec("DELETE FROM "+t.name+filter, args...).Error; err != nil {
				return err
			}
			cols := "org_id, " + strings.Join(t.keys, ", ") + ", day, credits, events"
			if err := tx.Exec("INSERT INTO "+t.name+" ("+cols+") "+db.recomputed(t, filter), args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
}
