package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestRollups: single charges and batches over two days fill the three
// rollup tables exactly; CheckRollups catches a tampered, a missing and an
// extra row, and RebuildRollups repairs them.
func TestRollups(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) { testRollups(t, d) })
	}
}

func testRollups(t *testing.T, dialect string) {
	{
		clock := time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
		db := dbtest.Open(t, dialect, store.Options{Now: func() time.Time { return clock }})
		f := newChargeFixture(t, db)
		f.grant(10_000 * orgbase.Credit)
		a := f.add(t, f.root, "A")
		b := f.add(t, a, "B")
		m := f.member("m@example.com", orgbase.RoleMember)
		if err := db.SetGrant(f.ctx, f.org.ID, f.op, a.ID, m.ID, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		n := 0
		charge := func(ws *orgbase.Workspace, user int64, tool, model string) {
			n++
			f.mustCharge(ws, user, tool, model, int64(n%3+1), fmt.Sprint("k", n))
		}
		for range 3 {
			charge(a, m.ID, "test.image", "m1")
			charge(b, m.ID, "test.chat", "m2")
			charge(b, f.owner.ID, "test.image", "m1")
		}
		clock = clock.Add(2 * time.Minute) // the next day (April 1st)
		var reqs []orgbase.ChargeRequest
		for i := range 40 {
			ws := []*orgbase.Workspace{a, b, f.root}[i%3]
			user := []int64{m.ID, f.owner.ID}[i%2]
			if ws == f.root {
				user = f.owner.ID // m works in A only
			}
			tool, model := "test.image", "m1"
			if i%4 == 0 {
				tool, model = "test.chat", "m2"
			}
			reqs = append(reqs, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: user, Tool: tool, Model: model, Units: int64(i + 1), IdempotencyKey: fmt.Sprint("b", i)})
		}
		out, err := db.ChargeBatch(f.ctx, f.org.ID, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			if o.Err != nil {
				t.Fatalf("batch event %d refused: %v", i, o.Err)
			}
		}
		f.checkConsistent()

		// The coarse tables hold the sums of the fine one.
		var sums []struct {
			Table, Days     string
			Credits, Events int64
		}
		if err := db.ScanForTest(f.ctx, &sums, `
			SELECT 'daily' AS "table", COUNT(DISTINCT day) AS days, SUM(credits) AS credits, SUM(events) AS events FROM usage_daily WHERE org_id = ?
			UNION ALL SELECT 'ws', COUNT(DISTINCT day), SUM(credits), SUM(events) FROM usage_daily_ws WHERE org_id = ?
			UNION ALL SELECT 'member', COUNT(DISTINCT day), SUM(credits), SUM(events) FROM usage_daily_member WHERE org_id = ?`,
			f.org.ID, f.org.ID, f.org.ID); err != nil {
			t.Fatal(err)
		}
		if len(sums) != 3 || sums[0].Events != 49 || sums[0].Days != "2" || sums[1] != (struct {
			Table, Days     string
			Credits, Events int64
		}{"ws", "2", sums[0].Credits, 49}) ||
			sums[2].Credits != sums[0].Credits || sums[2].Events != 49 {
			t.Fatalf("rollup sums = %+v", sums)
		}

		// Tamper with each table in a different way; the check names each row.
		for _, q := range []string{
			"UPDATE usage_daily_ws SET credits = credits + 1 WHERE org_id = ? AND workspace_id = " + fmt.Sprint(a.ID) + " AND day = '2026-03-31'",
			"DELETE FROM usage_daily_member WHERE org_id = ? AND user_id = " + fmt.Sprint(m.ID) + " AND day = '2026-04-01' AND category = 'chatbot'",
			"INSERT INTO usage_daily (org_id, workspace_id, user_id, category, tool, day, credits, events) VALUES (?, 999, 1, 'chatbot', 'x', '2026-04-01', 5, 1)",
		} {
			if err := db.ExecForTest(f.ctx, q, f.org.ID); err != nil {
				t.Fatal(err)
			}
		}
		bad, err := db.CheckRollups(f.ctx, f.org.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range bad {
			got = append(got, fmt.Sprintf("%s stored=%v computed=%v", b.Table, b.Stored != "", b.Computed != ""))
		}
		want := []string{"usage_daily stored=true computed=false", "usage_daily_ws stored=true computed=true", "usage_daily_member stored=false computed=true"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("CheckRollups = %+v\nwant %v", bad, want)
		}
		if other, err := db.CheckRollups(f.ctx, f.org.ID+1000, 0); err != nil || len(other) != 0 {
			t.Fatalf("another organization's check = %v, %v", other, err)
		}
		if err := db.RebuildRollups(f.ctx, f.org.ID); err != nil {
			t.Fatal(err)
		}
		f.checkConsistent()
	}
}
