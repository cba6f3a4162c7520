package orgs

import (
	"strconv"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// OverviewModel is the Overview tab's view model. Full is the dashboard of
// owners, admins and billing; others get the limited view: what they can
// spend and their own usage.
type OverviewModel struct {
	Full    bool
	Members int64

	// Full view: this month's additions to the pool, what is left (the pool
	// plus every budget), and the spending pace of the last 7 days.
	Month       string // "March 2025"
	Added       orgbase.Credits
	Remaining   orgbase.Credits
	Pool        orgbase.Credits
	Budgets     orgbase.Credits
	BudgetCount int
	BurnRate    orgbase.Credits // per day, averaged over the last 7 days
	HasBurn     bool

	// Limited view: what each granted workspace can spend now (the first is
	// the headline), the member limit, and their own use this month.
	Available   []AvailableCredits
	MemberLimit *orgbase.Credits
	MemberUsed  orgbase.Credits
	MyMonth     orgbase.Credits

	Usage UsagePanel

	// Full view: the latest billing records (newest first, a few).
	Invoices []orgbase.Invoice
}

// AvailableCredits is what the viewer can spend in one workspace: the
// smallest of its funding balance, the limits on its path and their member
// limit.
type AvailableCredits struct {
	WorkspaceID int64
	Name        string
	Available   orgbase.Credits
	Because     string // what bounds it: "the pool", "Design's budget", "Design's monthly limit", "your monthly limit"
}

// DaysLeft is the projected number of days the remaining credits last at the
// current burn rate: "—" when nothing is being spent.
func (m OverviewModel) DaysLeft() string {
	if !m.HasBurn || m.BurnRate <= 0 {
		return "—"
	}
	d := int64(m.Remaining / m.BurnRate)
	if d == 1 {
		return "1 day"
	}
	return formatInt(d) + " days"
}

// MemberLeft is what the member limit still allows (never negative).
func (m OverviewModel) MemberLeft() orgbase.Credits {
	if m.MemberLimit == nil {
		return 0
	}
	return max(*m.MemberLimit-m.MemberUsed, 0)
}

// UsagePanel is the consumption chart with its filters and, in the full
// view, the top workspaces and members. HTMX swaps it whole.
type UsagePanel struct {
	URL       string // the Overview's URL, the filter form's action
	Own       bool   // the viewer's own usage (limited view)
	Period    string // "7d", "30d", "90d" or "custom"
	From, To  string // the days shown ("YYYY-MM-DD"), or as typed when Error is set
	Workspace string // the filter as sent: "" for all, else a workspace id
	Options   []WorkspaceOption
	Error     string // why the filter was refused (422); no data then

	Days        []Day
	ImageSpeech orgbase.Credits // the range's totals
	Chatbot     orgbase.Credits

	TopWorkspaces []TopRow
	TopMembers    []TopRow
}

// WorkspaceOption is one entry of the workspace filter, in tree order.
type WorkspaceOption struct {
	ID       int64
	Name     string
	Level    int
	Archived bool
}

// Day is one day of the chart.
type Day struct {
	Day         string
	ImageSpeech orgbase.Credits
	Chatbot     orgbase.Credits
}

// TopRow is one row of a top list; Href is "" when the viewer may not open it.
type TopRow struct {
	Label   string
	Sub     string
	Href    string
	Credits orgbase.Credits
}

// Total is everything spent in the range.
func (p UsagePanel) Total() orgbase.Credits { return p.ImageSpeech + p.Chatbot }

// RangeLabel says which days the panel covers: "Mar 1 – Mar 30, 2025".
func (p UsagePanel) RangeLabel() string {
	f, err1 := time.Parse(time.DateOnly, p.From)
	t, err2 := time.Parse(time.DateOnly, p.To)
	if err1 != nil || err2 != nil {
		return ""
	}
	if f.Equal(t) {
		return t.Format("Jan 2, 2006")
	}
	if f.Year() == t.Year() {
		return f.Format("Jan 2") + " – " + t.Format("Jan 2, 2006")
	}
	return f.Format("Jan 2, 2006") + " – " + t.Format("Jan 2, 2006")
}

// chartData is the JSON the chart is drawn from (static/js/app.js): labels
// and the two stacked series, in credits.
type chartData struct {
	Days   []string      `json:"days"`
	Labels []string      `json:"labels"`
	Series []chartSeries `json:"series"`
}

type chartSeries struct {
	Label     string    `json:"label"`
	Color     string    `json:"color"`
	DarkColor string    `json:"darkColor"`
	Data      []float64 `json:"data"`
}

// Series colours, from the Tailwind palette (accent is indigo).
const (
	colorImageSpeech     = "#4f46e5" // accent-600
	colorImageSpeechDark = "#818cf8" // accent-400
	colorChatbot         = "#38bdf8" // sky-400
	colorChatbotDark     = "#0ea5e9" // sky-500
)

func (p UsagePanel) chart() chartData {
	d := chartData{Days: make([]string, len(p.Days)), Labels: make([]string, len(p.Days))}
	img := chartSeries{Label: orgbase.CategoryImageSpeech.Label(), Color: colorImageSpeech, DarkColor: colorImageSpeechDark, Data: make([]float64, len(p.Days))}
	chat := chartSeries{Label: orgbase.CategoryChatbot.Label(), Color: colorChatbot, DarkColor: colorChatbotDark, Data: make([]float64, len(p.Days))}
	for i, day := range p.Days {
		d.Days[i] = day.Day
		d.Labels[i] = dayLabel(day.Day)
		// Display only: the chart needs numbers; the table shows the exact figures.
		img.Data[i] = float64(day.ImageSpeech) / 1000
		chat.Data[i] = float64(day.Chatbot) / 1000
	}
	d.Series = []chartSeries{img, chat}
	return d
}

// dayLabel is a day as the chart's axis shows it: "Mar 5".
func dayLabel(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}

// longDay is a day as the table shows it: "Wed, Mar 5, 2025".
func longDay(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Mon, Jan 2, 2006")
}

// share is part of total in whole percent (0 when total is 0).
func share(part, total orgbase.Credits) int {
	if total <= 0 || part <= 0 {
		return 0
	}
	return int(int64(part) * 100 / int64(total))
}

// shareWidths are bar widths in steps of 5 % (whole classes, so Tailwind
// finds them, and no inline style: the CSP forbids it).
var shareWidths = []string{"w-0", "w-[5%]", "w-[10%]", "w-[15%]", "w-[20%]", "w-[25%]", "w-[30%]", "w-[35%]", "w-[40%]", "w-[45%]",
	"w-[50%]", "w-[55%]", "w-[60%]", "w-[65%]", "w-[70%]", "w-[75%]", "w-[80%]", "w-[85%]", "w-[90%]", "w-[95%]", "w-full"}

// shareWidth rounds pct to a step, showing any share at all as one step.
func shareWidth(part orgbase.Credits, pct int) string {
	i := (pct + 2) / 5
	if part > 0 && i == 0 {
		i = 1
	}
	return shareWidths[min(i, 20)]
}

func shareLabel(pct int) string {
	if pct == 0 {
		return "<1 %"
	}
	return strconv.Itoa(pct) + " %"
}

func formatInt(n int64) string { return (orgbase.Credits(n) * orgbase.Credit).String() }
