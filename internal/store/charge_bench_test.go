package store_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// BenchmarkChargeProfile is the profile behind the charging figures in
// docs/BENCHMARKS.md: time and SQL statements per event for Charge (one
// transaction per event) and ChargeBatch (1,000 events in one transaction),
// on PostgreSQL, 50 budget workspaces, no HTTP. Run it:
//
//	TEST_DATABASE_URL=… go test ./internal/store/ -run '^$' -bench ChargeProfile -benchtime=1x
func BenchmarkChargeProfile(b *testing.B) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		b.Skip("TEST_DATABASE_URL not set")
	}
	q := new(atomic.Int64)
	db := dbtest.Open(b, store.Postgres, store.Options{Queries: q})
	f := newChargeFixture(b, db)
	f.grant(1_000_000 * credit)
	var wss []*orgbase.Workspace
	for i := range 50 {
		w, err := db.CreateWorkspace(f.ctx, f.org.ID, f.op, store.NewWorkspace{ParentID: f.root.ID, Name: fmt.Sprint("W", i)}, orgbase.DefaultMaxDepth)
		if err != nil {
			b.Fatal(err)
		}
		f.budget(w, 1000*credit)
		wss = append(wss, w)
	}
	req := func(i int, prefix string) orgbase.ChargeRequest {
		return orgbase.ChargeRequest{WorkspaceID: wss[i%len(wss)].ID, UserID: f.owner.ID, Tool: "test.unit", Model: "one", Units: 1, IdempotencyKey: fmt.Sprint(prefix, i)}
	}
	var run atomic.Int64
	b.Run("single", func(b *testing.B) {
		const n = 500
		prefix := fmt.Sprint("s", run.Add(1), "-")
		q.Store(0)
		start := time.Now()
		for i := range n {
			if _, err := db.Charge(f.ctx, f.org.ID, req(i, prefix)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000/n, "ms/event")
		b.ReportMetric(float64(q.Load())/n, "queries/event")
	})
	b.Run("batch1000", func(b *testing.B) {
		prefix := fmt.Sprint("b", run.Add(1), "-")
		reqs := make([]orgbase.ChargeRequest, 1000)
		for i := range reqs {
			reqs[i] = req(i, prefix)
		}
		q.Store(0)
		start := time.Now()
		if _, err := db.ChargeBatch(f.ctx, f.org.ID, reqs); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000/1000, "ms/event")
		b.ReportMetric(float64(q.Load())/1000, "queries/event")
	})
}
