package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// `orgbase seed --demo`: the demo organization with 90 days of usage,
// charged through the real charging service (store.ChargeBatch) with the
// store's clock set to the moment of each batch, so that the events, their
// transfers, the limit counters and the daily rollups all carry their day.
// The numbers come from math/rand/v2 seeded per date: a given date always
// gets the same events, so screenshots are stable.

// demoDays is how many days of usage `seed --demo` charges, ending today.
const demoDays = 90

// demoSeed is the fixed seed of the demo's random numbers.
const demoSeed = 20_250_601

// The granularity of the demo's charges: the events of one slot of a day
// are charged in one batch, at one moment inside it. The last week, which
// the History feed shows first, has hourly slots; older days, seen as
// daily totals, have wider ones (fewer batches: seeding stays fast).
const (
	demoSlot       = 3 * time.Hour
	demoRecentSlot = time.Hour
	demoRecentDays = 7
)

// demoClock is the seed's store clock: the real time, or, while the demo's
// history is written, the moment being written.
type demoClock struct {
	mu sync.Mutex
	at time.Time // zero: the real time
}

// Now is the store's clock (store.Options.Now).
func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

// Set makes the clock read t; the zero time gives it back the real time.
func (c *demoClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}

// demoUse is one way a workspace uses a tool: a catalog tool and model, how
// often among the workspace's uses (weight) and how many catalog units an
// event takes (between min and max, mostly near min).
type demoUse struct {
	tool, model string
	weight      int
	min, max    int64
}

// demoUses is what each workspace is used for. Brand and Website are
// image-heavy, Platform and Mobile app chat-heavy; parents of other
// workspaces are not charged directly. Every tool and model is in the
// default price catalog (internal/catalog/default.csv).
var demoUses = map[string][]demoUse{
	orgbase.PrimaryWorkspaceName: {
		{"chat.completion", "gpt-4.1", 5, 1, 4},
		{"chat.completion", "gemini-2.5-flash", 4, 1, 3},
		{"chat.completion", "o4-mini", 2, 1, 3},
		{"kb.upload", "default", 1, 2, 20},
	},
	"Campaigns": {
		{"chat.completion", "gpt-4.1", 6, 1, 4},
		{"chat.completion", "gemini-2.5-flash", 3, 1, 3},
		{"image.generate", "dall-e-3", 4, 1, 4},
		{"image.generate", "imagegen-4", 4, 1, 6},
		{"speech.generate", "default", 2, 1, 6},
		{"music.generate", "default", 1, 1, 1},
	},
	"Brand": {
		{"image.generate", "flux-1.1-pro", 5, 1, 4},
		{"image.generate", "ideogram-v3", 3, 1, 3},
		{"image.generate", "recraft-v3", 3, 1, 3},
		{"image.generate", "nano-banana-pro", 1, 1, 2},
		{"image.generate", "gpt-image-2", 2, 1, 2},
		{"image.upscale", "2x", 3, 1, 4},
		{"image.background_removal", "default", 2, 1, 6},
		{"image.inpaint", "default", 2, 1, 3},
		{"chat.completion", "gpt-4.1", 2, 1, 2},
	},
	"Platform": {
		{"chat.completion", "gpt-4.1", 6, 1, 6},
		{"chat.completion", "o4-mini", 5, 1, 4},
		{"chat.completion", "gpt-4.1-nano", 5, 2, 10},
		{"chat.completion", "gemini-2.5-pro", 2, 1, 3},
		{"chat.completion", "gemini-2.5-flash", 3, 1, 6},
		{"kb.upload", "default", 2, 1, 30},
	},
	"Research": {
		{"chat.completion", "gemini-2.5-pro", 4, 1, 5},
		{"chat.completion", "o4-mini", 4, 1, 4},
		{"chat.completion", "gpt-4.1", 4, 1, 4},
		{"chat.completion", "gpt-4.5", 1, 1, 1},
		{"speech.transcribe_file", "default", 2, 5, 60},
		{"kb.upload", "default", 2, 5, 50},
		{"image.generate", "sd-3.5", 1, 1, 2},
	},
	"Acme Corp": {
		{"chat.completion", "gpt-4.1", 3, 1, 3},
		{"chat.completion", "gemini-2.5-flash", 3, 1, 3},
		{"kb.upload", "default", 1, 1, 20},
	},
	"Website": {
		{"image.generate", "imagegen-4", 4, 1, 6},
		{"image.generate", "sd-3.5-medium", 2, 1, 4},
		{"image.generate", "flux-dev", 3, 1, 4},
		{"image.background_removal", "default", 5, 2, 12},
		{"image.upscale", "2x", 3, 1, 6},
		{"chat.completion", "gpt-4.1", 3, 1, 4},
		{"chat.completion", "gemini-2.5-flash", 2, 1, 3},
	},
	"Mobile app": {
		{"chat.completion", "gpt-4.1-nano", 6, 2, 12},
		{"chat.completion", "gemini-2.5-flash", 5, 1, 8},
		{"chat.completion", "gpt-4.1", 2, 1, 3},
		{"speech.transcribe_file", "default", 2, 1, 15},
		{"speech.generate", "default", 2, 1, 4},
	},
	"Globex": {
		{"chat.completion", "gpt-4.1", 4, 1, 4},
		{"chat.completion", "gemini-2.5-flash", 3, 1, 3},
		{"kb.upload", "default", 3, 2, 40},
		{"speech.transcribe_file", "default", 3, 10, 90},
	},
}

// demoShare is how much of a person's work happens in a workspace.
type demoShare struct {
	ws     string
	weight int
}

// demoUser is a demo person's habits: how many events they charge on an
// ordinary weekday, and where (within their grants).
type demoUser struct {
	email  string
	perDay float64
	work   []demoShare
}

// demoUsers: Hiro, Dev, Grace and Amir are the heavy users; Beth (billing)
// has no grants and uses nothing.
var demoUsers = []demoUser{
	{demoEmail, 2.5, []demoShare{{orgbase.PrimaryWorkspaceName, 3}, {"Research", 1}, {"Campaigns", 1}}},
	{"amir@orgbase.test", 8, []demoShare{{"Platform", 5}, {"Research", 3}, {orgbase.PrimaryWorkspaceName, 1}}},
	{"carla@orgbase.test", 4, []demoShare{{"Globex", 3}, {"Acme Corp", 2}, {"Website", 1}, {"Mobile app", 1}}},
	{"dev@orgbase.test", 9, []demoShare{{"Mobile app", 5}, {"Website", 3}, {"Acme Corp", 1}}},
	{"elena@orgbase.test", 5, []demoShare{{"Campaigns", 4}, {"Brand", 2}, {"Research", 1}}},
	{"felix@orgbase.test", 5, []demoShare{{"Platform", 3}, {"Research", 3}}},
	{"grace@orgbase.test", 8, []demoShare{{"Brand", 1}}},
	{"hiro@orgbase.test", 12, []demoShare{{"Platform", 1}}},
	{"ines@orgbase.test", 5, []demoShare{{"Website", 3}, {"Campaigns", 1}}},
	{"jonas@orgbase.test", 6, []demoShare{{"Mobile app", 1}}},
	{"kofi@orgbase.test", 3, []demoShare{{"Globex", 1}}},
}

// The hours (UTC) people work: weights of each hour of a weekday and of a
// weekend day.
var (
	demoWeekdayHours = [24]int{7: 1, 8: 4, 9: 8, 10: 9, 11: 8, 12: 4, 13: 6, 14: 8, 15: 8, 16: 6, 17: 3, 18: 1, 19: 1, 20: 1}
	demoWeekendHours = [24]int{9: 1, 10: 2, 11: 2, 12: 2, 13: 2, 14: 2, 15: 2, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 1}
)

// demoEvent is one planned charge.
type demoEvent struct {
	user, ws string
	use      demoUse
	units    int64
	cost     orgbase.Credits
}

// demoBatch is the events of one slot, charged together at its moment.
type demoBatch struct {
	at     time.Time
	events []demoEvent
}

// demoDay is one day's plan.
type demoDay struct {
	date    time.Time // midnight UTC
	batches []demoBatch
}

// pick returns the index of a weighted choice.
func pick(r *rand.Rand, weights func(i int) int, n int) int {
	total := 0
	for i := range n {
		total += weights(i)
	}
	x := r.IntN(total)
	for i := range n {
		if x -= weights(i); x < 0 {
			return i
		}
	}
	return n - 1
}

// planDemoUsage plans the usage of the demoDays days that end on now's
// date (UTC), priced by prices (per unit, by tool and model); nothing is
// planned at or after now. Weekdays are busy, weekends quiet; use grows a
// little over the period; people take the odd day or week off.
func planDemoUsage(now time.Time, prices map[[2]string]orgbase.Credits) ([]demoDay, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -(demoDays - 1))
	days := make([]demoDay, 0, demoDays)
	for d := range demoDays {
		date := first.AddDate(0, 0, d)
		dayNum := uint64(date.Unix() / 86400)
		r := rand.New(rand.NewPCG(demoSeed, dayNum))
		weekend := date.Weekday() == time.Saturday || date.Weekday() == time.Sunday
		hours := &demoWeekdayHours
		factor := 0.8 + 0.4*r.Float64() // busier and quieter days
		if weekend {
			hours = &demoWeekendHours
			factor *= 0.07
		}
		factor *= 0.8 + 0.35*float64(d)/float64(demoDays-1) // the company grows into its tools
		width := demoSlot
		if d >= demoDays-demoRecentDays {
			width = demoRecentSlot
		}
		slots := map[int][]demoEvent{}
		for ui, u := range demoUsers {
			// A week off now and then (decided per person and week), and the odd day.
			week := rand.New(rand.NewPCG(demoSeed+uint64(ui)+1, dayNum/7))
			if week.Float64() < 0.07 || r.Float64() < 0.04 {
				continue
			}
			mean := u.perDay * factor * (0.7 + 0.6*r.Float64())
			n := int(mean)
			if r.Float64() < mean-float64(n) {
				n++
			}
			for range n {
				ws := u.work[pick(r, func(i int) int { return u.work[i].weight }, len(u.work))].ws
				uses := demoUses[ws]
				use := uses[pick(r, func(i int) int { return uses[i].weight }, len(uses))]
				// Mostly small events, now and then a large one.
				units := use.min + int64(float64(use.max-use.min+1)*r.Float64()*r.Float64())
				perUnit, ok := prices[[2]string{use.tool, use.model}]
				if !ok {
					return nil, fmt.Errorf("the price catalog has no price for %s with model %s", use.tool, use.model)
				}
				hour := pick(r, func(i int) int { return hours[i] }, len(hours))
				slot := (hour*int(time.Hour) + r.IntN(int(time.Hour))) / int(width)
				slots[slot] = append(slots[slot], demoEvent{user: u.email, ws: ws, use: use, units: units, cost: perUnit * orgbase.Credits(units)})
			}
		}
		day := demoDay{date: date}
		for _, slot := range slices.Sorted(maps.Keys(slots)) {
			// Each batch at a moment inside its slot, to the second.
			at := date.Add(time.Duration(slot)*width + time.Duration(r.IntN(int(width/time.Second)))*time.Second)
			if !at.Before(now) {
				continue
			}
			day.batches = append(day.batches, demoBatch{at: at, events: slots[slot]})
		}
		days = append(days, day)
	}
	return days, nil
}

// demoFunder maps each workspace of the demo tree to the budget workspace
// that funds it ("" for the pool).
func demoFunder() map[string]string {
	budget := map[string]bool{}
	for _, b := range demoBudgets {
		budget[b.name] = true
	}
	out := map[string]string{orgbase.PrimaryWorkspaceName: ""}
	var walk func(nodes []demoNode, funder string)
	walk = func(nodes []demoNode, funder string) {
		for _, n := range nodes {
			f := funder
			if budget[n.name] {
				f = n.name
			}
			out[n.name] = f
			walk(n.children, f)
		}
	}
	walk(demoTree, "")
	return out
}

// demoLimits are the monthly limits the demo sets: a couple of workspaces
// and one heavy user. Each is set a quarter above the most its subject
// spends in any month of the plan (rounded up to 500 credits), so no charge
// is refused and the current month shows real progress toward it.
var demoLimits = struct {
	workspaces []string
	members    []string
}{[]string{"Platform", "Brand"}, []string{"dev@orgbase.test"}}

func demoLimitFor(days []demoDay, match func(demoEvent) bool) orgbase.Credits {
	months := map[string]orgbase.Credits{}
	for _, d := range days {
		for _, b := range d.batches {
			for _, e := range b.events {
				if match(e) {
					months[orgbase.Period(b.at)] += e.cost
				}
			}
		}
	}
	var most orgbase.Credits
	for _, c := range months {
		most = max(most, c)
	}
	step := 500 * orgbase.Credit
	return orgbase.Credits(math.Ceil(float64(most)*1.25/float64(step))) * step
}

// Funding rules of the demo's history: the pool is topped up with a
// purchase when it would fall below demoPoolFloor, and a budget workspace
// gets its top-up from the pool when its day's usage would leave it below
// demoBudgetFloor.
const (
	demoPurchase    = 20_000 * orgbase.Credit
	demoPoolFloor   = 3_000 * orgbase.Credit
	demoBudgetFloor = 500 * orgbase.Credit
)

// seedDemoWithUsage builds the demo organization as it was demoDays days
// before now (its people, tree, credits and limits), then charges each
// day's planned usage in batches dated at their moment, topping up the pool
// and the budgets when they run low, so that no charge is refused. It
// returns how many events were charged and their total.
func seedDemoWithUsage(ctx context.Context, db *store.DB, clock *demoClock, now time.Time) (int, orgbase.Credits, error) {
	catalog, err := db.FindCatalog(ctx)
	if err != nil {
		return 0, 0, err
	}
	prices := map[[2]string]orgbase.Credits{}
	for _, p := range catalog {
		prices[[2]string{p.Tool, p.Model}] = p.CreditsPerUnit
	}
	days, err := planDemoUsage(now, prices)
	if err != nil {
		return 0, 0, err
	}
	defer clock.Set(time.Time{})
	// The organization is set up the afternoon before the first day.
	clock.Set(days[0].date.Add(-9 * time.Hour))
	org, err := seedDemo(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	ownerCtx := orgbase.WithAuditMeta(ctx, orgbase.AuditMeta{ActorID: org.owner.Membership.UserID})
	opCtx := orgbase.WithAuditMeta(ctx, orgbase.AuditMeta{})
	clock.Set(days[0].date.Add(-8 * time.Hour))
	for _, name := range demoLimits.workspaces {
		limit := demoLimitFor(days, func(e demoEvent) bool { return e.ws == name })
		if _, err := db.SetWorkspaceLimit(ownerCtx, org.id, org.owner, org.workspaces[name], &limit); err != nil {
			return 0, 0, fmt.Errorf("limit of %s: %w", name, err)
		}
	}
	for _, email := range demoLimits.members {
		limit := demoLimitFor(days, func(e demoEvent) bool { return e.user == email })
		if err := db.SetMemberLimit(ownerCtx, org.id, org.owner, org.users[email], &limit); err != nil {
			return 0, 0, fmt.Errorf("limit of %s: %w", email, err)
		}
	}

	funder := demoFunder()
	// What seedDemo left: the pool (its trial credits and the demo grant,
	// less the budgets' first credits) and each budget.
	pool, err := db.PoolBalance(ctx, org.id)
	if err != nil {
		return 0, 0, err
	}
	balance := map[string]orgbase.Credits{"": pool}
	for _, b := range demoBudgets {
		balance[b.name] = b.initial
	}
	// fund makes sure the pool holds need and keeps its floor: a purchase,
	// granted by the operator, when it would not.
	fund := func(date string, need orgbase.Credits) error {
		for n := 1; balance[""]-need < demoPoolFloor; n++ {
			if _, err := db.GrantCredits(opCtx, org.id, demoPurchase, "Credit purchase", fmt.Sprintf("demo-grant-%s-%d", date, n)); err != nil {
				return err
			}
			balance[""] += demoPurchase
		}
		return nil
	}
	events, total := 0, orgbase.Credits(0)
	for _, d := range days {
		date := d.date.Format(time.DateOnly)
		spend := map[string]orgbase.Credits{}
		for _, b := range d.batches {
			for _, e := range b.events {
				spend[funder[e.ws]] += e.cost
			}
		}
		// Funding first thing in the morning, before anyone works.
		clock.Set(d.date.Add(6*time.Hour + 45*time.Minute))
		for _, b := range demoBudgets {
			for n := 1; balance[b.name]-spend[b.name] < demoBudgetFloor; n++ {
				if err := fund(date, spend[""]+b.topUp); err != nil {
					return 0, 0, err
				}
				if _, err := db.Transfer(ownerCtx, org.id, org.owner, orgbase.PoolAccount(), orgbase.WorkspaceAccount(org.workspaces[b.name]), b.topUp,
					orgbase.TransferMove, "Budget top-up", fmt.Sprintf("demo-budget-%s-%s-%d", b.name, date, n)); err != nil {
					return 0, 0, err
				}
				balance[""] -= b.topUp
				balance[b.name] += b.topUp
			}
		}
		if err := fund(date, spend[""]); err != nil {
			return 0, 0, err
		}
		n := 0
		for _, b := range d.batches {
			reqs := make([]orgbase.ChargeRequest, len(b.events))
			for i, e := range b.events {
				n++
				reqs[i] = orgbase.ChargeRequest{WorkspaceID: org.workspaces[e.ws], UserID: org.users[e.user],
					Tool: e.use.tool, Model: e.use.model, Units: e.units, IdempotencyKey: fmt.Sprintf("demo-%s-%d", date, n)}
			}
			clock.Set(b.at)
			outs, err := db.ChargeBatch(ctx, org.id, reqs)
			if err != nil {
				return 0, 0, err
			}
			for i, o := range outs {
				if o.Err != nil {
					return 0, 0, fmt.Errorf("charge %s refused: %w", reqs[i].IdempotencyKey, o.Err)
				}
				if o.Result.Charged != b.events[i].cost {
					return 0, 0, fmt.Errorf("charge %s: %s credits, planned %s", reqs[i].IdempotencyKey, o.Result.Charged, b.events[i].cost)
				}
				balance[funder[b.events[i].ws]] -= o.Result.Charged
				total += o.Result.Charged
			}
			events += len(outs)
		}
	}
	return events, total, nil
}
