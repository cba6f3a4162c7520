package web

import (
	"bytes"
	"encoding/csv"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	billingviews "github.com/orgbase/orgbase/views/billing"
	"github.com/orgbase/orgbase/views/members"
)

// Fuzz targets of the web layer's decoders of untrusted input: the usage
// API's query and bearer header, the forms (limits, alert levels,
// auto-recharge, invitations), the filters of the Overview, Members and
// Audit pages, the sign-in redirect, uploaded logos, and the CSV exports.
// FuzzDecodeUsage (api_decode_test.go) and FuzzHistoryQuery
// (history_internal_test.go) cover the usage API's body and the History
// filters. `make fuzz` runs each target; `go test` runs their seeds.

// fuzzNow turns a fuzzed number into a moment between the years 1970 and
// 2100, when Orgbase runs.
func fuzzNow(unix int64) time.Time {
	const span = 130 * 365 * 24 * 3600
	return time.Unix(((unix%span)+span)%span, 0).UTC()
}

// FuzzAPIUsageQuery feeds arbitrary query strings to GET /api/v1/usage's
// decoder: a refusal is a 422 naming one of its fields; an accepted query
// is a range of canonical days from 2000-01-01 on, in order and at most 366
// days apart, with a known grouping, that reads back the same when written
// out; ?workspace= is absent or a positive id.
func FuzzAPIUsageQuery(f *testing.F) {
	for _, s := range []string{"", "from=2025-01-01&to=2025-01-31&group_by=tool", "group_by=member", "group_by=planet", "from=2026-13-01",
		"from=2026-02-01&to=2026-01-01", "from=2000-01-01&to=2026-01-01", "to=2000-01-05", "to=0000-01-05", "from=1999-12-31&to=2000-01-01",
		"to=9999-12-31", "from=2024-02-29&to=2025-02-28", "from=2024-01-01&to=2025-01-01", "from=2024-01-01&to=2025-01-02",
		"workspace=42", "workspace=-1", "workspace=0", "workspace=9223372036854775808", "workspace=%2B7", "from=%00", "to=2025-1-1"} {
		f.Add(s, int64(1764201600)) // 2025-11-27
	}
	f.Fuzz(func(t *testing.T, raw string, unix int64) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		now := fuzzNow(unix)
		if id, ae := apiWorkspaceID(q.Get("workspace")); ae != nil {
			if ae.status != 422 || ae.Field != "workspace" || ae.Message == "" {
				t.Fatalf("workspace %q refused with %+v", q.Get("workspace"), ae)
			}
		} else if id < 0 || (id == 0) != (q.Get("workspace") == "") {
			t.Fatalf("workspace %q read as %d", q.Get("workspace"), id)
		}
		from, to, group, ae := decodeUsageReportQuery(q, now)
		if ae != nil {
			if ae.status != 422 || ae.Code != "invalid_request" || ae.Message == "" || !slices.Contains([]string{"from", "to", "group_by"}, ae.Field) {
				t.Fatalf("%q refused with %+v", raw, ae)
			}
			return
		}
		fd, td := from.Format(time.DateOnly), to.Format(time.DateOnly)
		switch {
		case fd < store.MinReportDay || fd > td || len(fd) != 10 || len(td) != 10:
			t.Fatalf("%q accepted as %s – %s", raw, fd, td)
		case to.Sub(from) > maxReportDays*24*time.Hour:
			t.Fatalf("%q accepted as %s – %s: too long", raw, fd, td)
		case !slices.Contains([]store.UsageGroup{store.GroupByDay, store.GroupByTool, store.GroupByCategory, store.GroupByMember}, group):
			t.Fatalf("%q accepted group %q", raw, group)
		case !from.Equal(from.Truncate(24*time.Hour)) || !to.Equal(to.Truncate(24*time.Hour)):
			t.Fatalf("%q accepted days that are not midnights: %v – %v", raw, from, to)
		}
		// The response echoes from, to and group_by: asked again, they mean the same.
		again := url.Values{"from": {fd}, "to": {td}, "group_by": {string(group)}}
		f2, t2, g2, ae := decodeUsageReportQuery(again, now)
		if ae != nil || !f2.Equal(from) || !t2.Equal(to) || g2 != group {
			t.Fatalf("%q → %s – %s by %s, which reads back as %v – %v by %s, %+v", raw, fd, td, group, f2, t2, g2, ae)
		}
	})
}

// FuzzBearerSecret feeds arbitrary Authorization headers to the usage
// API's parser: it takes only "Bearer <secret>" (the scheme in any case)
// and hands on a trimmed, non-empty secret; every real key gets through
// whatever the spacing, and only well-shaped secrets reach the database.
func FuzzBearerSecret(f *testing.F) {
	key := orgbase.NewAPIKeySecret()
	for _, s := range []string{"Bearer " + key, "bearer " + key, "BEARER   " + key + "  ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer\t" + key,
		" Bearer " + key, "Token " + key, "Bearer obk_\x00", "Bearer " + key + " extra", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		secret, ok := bearerSecret(h)
		if !ok {
			if secret != "" {
				t.Fatalf("refused %q but returned %q", h, secret)
			}
		} else {
			scheme, rest, _ := strings.Cut(h, " ")
			if secret == "" || strings.TrimSpace(secret) != secret || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) != secret {
				t.Fatalf("%q gave the secret %q", h, secret)
			}
		}
		if ok && orgbase.LooksLikeAPIKey(secret) && !strings.Contains(h, secret) {
			t.Fatalf("%q: the secret %q is not in the header", h, secret)
		}
		k := orgbase.NewAPIKeySecret()
		for _, form := range []string{"Bearer " + k, "bearer  " + k + " ", "BEARER " + k} {
			if got, ok := bearerSecret(form); !ok || got != k {
				t.Fatalf("%q gave %q, %v", form, got, ok)
			}
		}
	})
}

// FuzzParseLimit checks the monthly limit field of workspaces and members:
// empty is no limit, a refusal has a message, and an accepted limit is zero
// or more credits that the form shows in a way that reads back the same.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"", "  ", "0", "500", "1,500.250", "-1", " -0 ", "0.0001", "1e3", "NaN", "9999999999999", "\xff", "٥"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		limit, msg := parseLimit(raw)
		switch {
		case msg != "":
			if limit != nil {
				t.Fatalf("parseLimit(%q) refused with %q but gave %v", raw, msg, *limit)
			}
			return
		case limit == nil:
			if strings.TrimSpace(raw) != "" {
				t.Fatalf("parseLimit(%q) read no limit", raw)
			}
			return
		case *limit < 0 || *limit > orgbase.MaxCredits:
			t.Fatalf("parseLimit(%q) = %v", raw, *limit)
		}
		for _, form := range []string{limit.String(), limit.Decimal()} {
			if back, msg := parseLimit(form); msg != "" || back == nil || *back != *limit {
				t.Fatalf("parseLimit(%q) = %v, shown %q, reads back as %v, %q", raw, *limit, form, back, msg)
			}
		}
	})
}

// FuzzAlertSettingsForm checks the alert levels form: what it accepts
// without a field message is valid settings the store takes, and every
// message is for one of its two fields.
func FuzzAlertSettingsForm(f *testing.F) {
	for _, s := range [][2]string{{"50, 80, 100", "20"}, {"50 80 100%", "20%"}, {"", ""}, {"0", "100"}, {"1,2,3,4,5,6", "-5"}, {"80", "+5"},
		{"80", "99%"}, {"80", "1000"}, {"80", "5%%"}, {"80", "0"}, {"80", " 5"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, thresholds, pool string) {
		in, fields := decodeAlertSettings(thresholds, pool)
		for k, v := range fields {
			if (k != "thresholds" && k != "pool_percent") || v == "" {
				t.Fatalf("field message %q: %q", k, v)
			}
		}
		if len(fields) == 0 {
			if err := in.Validate(); err != nil {
				t.Fatalf("(%q, %q) accepted as %+v, which is not valid: %v", thresholds, pool, in, err)
			}
			if back, f2 := decodeAlertSettings(orgbase.FormatAlertThresholds(in.Thresholds), "20"); len(f2) > 0 || !slices.Equal(back.Thresholds, in.Thresholds) {
				t.Fatalf("thresholds %v do not read back: %v %v", in.Thresholds, back.Thresholds, f2)
			}
		}
	})
}

// FuzzAutoRechargeForm checks the Auto-recharge card's form: what it
// accepts without a field message is valid settings, which the card shows
// again (AutoRechargeFormOf) in a form that reads back to the same
// settings; every message is for one of its fields.
func FuzzAutoRechargeForm(f *testing.F) {
	pack := orgbase.Packs()[0].Key
	for _, s := range [][3]string{{"5,000", pack, "$120"}, {"5000", pack, "120.50"}, {"0", pack, "0"}, {"", "", ""}, {"1e3", "nope", "-5"},
		{"10000000.001", pack, "100000.01"}, {"1", pack, "1"}, {"0.001", pack, "100,000"}} {
		f.Add(true, s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, enabled bool, threshold, pack, monthlyCap string) {
		form := billingviews.AutoRechargeForm{Enabled: enabled, Threshold: threshold, Pack: pack, MonthlyCap: monthlyCap}
		in, fields := decodeAutoRecharge(form)
		for k, v := range fields {
			if !slices.Contains([]string{"threshold", "pack", "monthly_cap"}, k) || v == "" {
				t.Fatalf("field message %q: %q", k, v)
			}
		}
		if len(fields) > 0 {
			return
		}
		if err := in.Validate(); err != nil || in.Enabled != enabled {
			t.Fatalf("%+v accepted as %+v, which is not valid: %v", form, in, err)
		}
		shown := billingviews.AutoRechargeFormOf(orgbase.AutoRecharge{AutoRechargeSettings: in})
		if back, f2 := decodeAutoRecharge(shown); len(f2) > 0 || back != in {
			t.Fatalf("%+v shown as %+v reads back as %+v, %v", in, shown, back, f2)
		}
	})
}

// inviteChoices are the workspaces the fuzzed invitation dialog offers.
var inviteChoices = []members.WorkspaceChoice{{ID: 1, Label: "Acme", Checked: true, Role: orgbase.WorkspaceMember},
	{ID: 2, Label: "\u2003Web", Role: orgbase.WorkspaceMember}, {ID: 30, Label: "\u2003\u2003Design", Role: orgbase.WorkspaceMember}}

// FuzzInviteForm feeds arbitrary form bodies to the invitation dialog's
// decoder: accepted, it invites 1–50 distinct normalized addresses with an
// invitable role (never owner), for 1–30 days, with a clean note and only
// workspaces the dialog offered; refused, it names known fields, invites
// nobody, and what it echoes is valid UTF-8 of bounded size.
func FuzzInviteForm(f *testing.F) {
	for _, s := range []string{
		"emails=ada%40example.com&role=member&days=7&ws=1",
		"emails=ada%40example.com%2C+bob%40example.com%0Acy%40example.com&role=admin&days=30&ws=2&wsrole-2=manager&note=Welcome",
		"emails=ada%40example.com&role=owner&days=7", "emails=&role=member&days=7", "emails=x&role=member&days=0",
		"emails=ada%40example.com%2CADA%40example.com&role=billing&days=1", "emails=ada%40example.com&role=member&days=7&ws=99",
		"emails=%FF%40example.com&role=member&days=7", "emails=ada%40example.com&role=member&days=7&note=%00",
		"emails=" + strings.Repeat("a%40b.co%2C", 51) + "&role=member&days=7", "emails=ada%40example.com&role=member&days=%2B7",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fm := members.InviteForm{Role: "member", Days: "7", Fields: map[string]string{}, Workspaces: slices.Clone(inviteChoices)}
		in, ok := decodeInvite(form, &fm)
		for _, v := range []string{fm.Emails, fm.Note} {
			if !utf8.ValidString(v) || len(v) > 1024 {
				t.Fatalf("echoed %q", v)
			}
		}
		for _, p := range fm.Problems {
			if !utf8.ValidString(p) || len(p) > 200 {
				t.Fatalf("problem %q", p)
			}
		}
		if !ok {
			if len(fm.Fields) == 0 || in.emails != nil || in.grants != nil {
				t.Fatalf("refused %q without a message (%v) or with addresses (%v)", raw, fm.Fields, in.emails)
			}
			for k, v := range fm.Fields {
				if !slices.Contains([]string{"emails", "role", "days", "note", "workspaces"}, k) || v == "" {
					t.Fatalf("field message %q: %q", k, v)
				}
			}
			return
		}
		if len(in.emails) == 0 || len(in.emails) > orgbase.MaxInvitesPerRequest || len(fm.Problems) > 0 {
			t.Fatalf("accepted %d addresses with problems %v", len(in.emails), fm.Problems)
		}
		seen := map[string]bool{}
		for _, e := range in.emails {
			if n, err := orgbase.NormalizeEmail(e); err != nil || n != e || seen[e] {
				t.Fatalf("accepted address %q (normalizes to %q, %v; repeated %v)", e, n, err, seen[e])
			}
			seen[e] = true
		}
		if !slices.Contains(orgbase.InvitableRoles, in.role) || in.role == orgbase.RoleOwner || in.days < 1 || in.days > 30 {
			t.Fatalf("accepted role %q for %d days", in.role, in.days)
		}
		if note, err := orgbase.CleanText(in.note, "Note", orgbase.MaxNoteLen, false); err != nil || note != in.note {
			t.Fatalf("accepted note %q", in.note)
		}
		for _, g := range in.grants {
			if !slices.ContainsFunc(inviteChoices, func(c members.WorkspaceChoice) bool { return c.ID == g.WorkspaceID }) || !g.Role.Valid() {
				t.Fatalf("accepted grant %+v", g)
			}
		}
	})
}

// FuzzAuditFilter feeds arbitrary query strings to the Audit log's filter
// decoder: refusals name known fields; what it accepts is an actor id, the
// system, or nobody, a printable action of at most 100 bytes, days from
// 2000 in order, and a positive cursor; and the filters the page links to
// decode again to the same filter.
func FuzzAuditFilter(f *testing.F) {
	for _, s := range []string{"", "actor=12&action=workspace.&from=2025-01-01&to=2025-01-31", "actor=system", "actor=-1", "actor=abc",
		"action=%00", "action=%FF", "action=" + strings.Repeat("x", 101), "from=1999-12-31", "from=2025-02-30", "from=2025-03-10&to=2025-03-01",
		"to=9999-12-31", "before=0", "before=18", "before=9223372036854775808", "from=+2025-01-01", "action=%25.", "action=+workspace.move+"} {
		f.Add(s)
	}
	now := time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		in, af, errs := decodeAuditFilter(q, now)
		for k, v := range errs {
			if !slices.Contains([]string{"actor", "action", "from", "to", "before"}, k) || v == "" {
				t.Fatalf("field message %q: %q", k, v)
			}
		}
		if len(errs) > 0 {
			return
		}
		switch {
		case af.ActorID < 0 && af.ActorID != store.AuditNoActor, (af.ActorID == 0) != (in.Actor == ""):
			t.Fatalf("actor %q read as %d", in.Actor, af.ActorID)
		case len(af.Action) > 100 || !orgbase.Printable(af.Action):
			t.Fatalf("action %q accepted", af.Action)
		case !af.From.IsZero() && (af.From.Year() < 2000 || af.From.Location() != time.UTC),
			!af.To.IsZero() && af.To.Year() < 2000,
			!af.From.IsZero() && !af.To.IsZero() && !af.From.Before(af.To):
			t.Fatalf("days %v – %v accepted", af.From, af.To)
		case af.Before < 0 || af.Limit != auditPageSize:
			t.Fatalf("cursor %d, limit %d", af.Before, af.Limit)
		}
		q2, err := url.ParseQuery(auditQuery(in))
		if err != nil {
			t.Fatalf("the page's own query %q does not parse: %v", auditQuery(in), err)
		}
		in2, af2, errs2 := decodeAuditFilter(q2, now)
		af.Before = 0
		if len(errs2) > 0 || in2 != in || af2.ActorID != af.ActorID || af2.Action != af.Action || !af2.From.Equal(af.From) || !af2.To.Equal(af.To) {
			t.Fatalf("filters %+v link as %q and read back as %+v %+v, %v", in, auditQuery(in), in2, af2, errs2)
		}
	})
}

// FuzzOverviewRange checks the Overview chart's range: it always shows a
// known period; when it accepts, the days are a report range the store
// takes (from 2000, in order, at most 366 days) ending no later than today.
func FuzzOverviewRange(f *testing.F) {
	for _, s := range [][3]string{{"", "", ""}, {"7d", "", ""}, {"90d", "x", "y"}, {"custom", "", ""}, {"custom", "2025-01-01", "2025-01-31"},
		{"custom", "1999-12-31", "2000-01-01"}, {"custom", "2024-01-01", "2025-01-01"}, {"custom", "2025-11-01", "2099-01-01"},
		{"custom", "2025-1-1", "2025-01-02"}, {"custom", "2025-01-02", "2025-01-01"}, {"365d", "", ""}, {"custom", "%00", "\xff"}} {
		f.Add(s[0], s[1], s[2], int64(1764201600))
	}
	f.Fuzz(func(t *testing.T, period, from, to string, unix int64) {
		now := fuzzNow(unix)
		p, fd, td, msg := overviewRange(period, from, to, now)
		if _, ok := overviewPeriods[p]; !ok && p != "custom" {
			t.Fatalf("(%q, %q, %q) shows the period %q", period, from, to, p)
		}
		if msg != "" {
			return
		}
		if err := store.CheckReportRange(fd, td); err != nil || td > now.Format(time.DateOnly) {
			t.Fatalf("(%q, %q, %q) accepted as %s – %s: %v", period, from, to, fd, td, err)
		}
	})
}

// FuzzMemberListQuery checks the Members tab's query (search, period,
// sort, direction, page): whatever the URL, the list is one the store
// takes (a range CheckDayRange accepts, a known sort, a page from 1) and
// the search is printable text of at most 200 bytes without surrounding
// spaces, so it reaches PostgreSQL (which refuses a NUL byte).
func FuzzMemberListQuery(f *testing.F) {
	for _, s := range []string{"", "q=max&sort=credits&dir=desc&page=2&period=30d", "q=%00", "q=a%00b", "q=%FF%FE", "sort=password&dir=up",
		"page=-5", "page=99999999999999999999", "period=all", "q=" + strings.Repeat("%C3%A9", 150), "q=+%0A+max+", "closed=1"} {
		f.Add(s, "month")
	}
	now := time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw, periodKey string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		m, mq := decodeMemberList(q, periodKey, now)
		if _, ok := store.MemberSorts[mq.Sort]; !ok || mq.Page < 1 || mq.PerPage != membersPerPage {
			t.Fatalf("%q read as sort %q, page %d", raw, mq.Sort, mq.Page)
		}
		if err := orgbase.CheckDayRange(mq.From, mq.To); err != nil {
			t.Fatalf("%q, period %q: range %s – %s refused: %v", raw, periodKey, mq.From, mq.To, err)
		}
		if mq.Search != m.Query || len(mq.Search) > 200 || !orgbase.Printable(mq.Search) || strings.TrimSpace(mq.Search) != mq.Search {
			t.Fatalf("%q searched as %q", raw, mq.Search)
		}
	})
}

// FuzzSafeNext checks the sign-in and sign-up redirect target: it is the
// default or a path on this site (resolved against the site, the host stays
// ours), without control characters, backslashes or a scheme, and never the
// sign-out route.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/orgs/acme", "//evil.example", "/\\evil.example", "https://evil.example", "/logout", "/logout?x", "", "orgs",
		"/%2F/evil.example", "/\t/evil.example", "/\x00", "/\u2028", "/.//evil.example", "/a?next=//evil", "/#//evil", "/\xff"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://orgbase.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next, "/fallback")
		if got == "/fallback" {
			return
		}
		if got != next || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/logout") ||
			strings.ContainsFunc(got, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			return // the browser gets a path it cannot read, on our site
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q) = %q leads to %s", next, got, r)
		}
	})
}

// FuzzCSVExport writes arbitrary text through the three CSV exporters
// (audit log, History, members): the output parses back with encoding/csv
// as the header and one record of the same width, every cell reads back
// as written (a quoted CR LF reads as LF), and no cell starts with
// = + - @ tab or CR unless guarded by a leading quote, removing which gives
// the original text.
func FuzzCSVExport(f *testing.F) {
	for _, s := range [][3]string{{"=HYPERLINK(\"http://evil\")", "+1", "-2"}, {"@SUM(A1)", "\t=1", "\r=1"}, {"plain", "a,b", "\"quoted\""},
		{"multi\nline", "cr\rlf", "crlf\r\nx"}, {"", " =1", "'=1"}, {"\xff\xfe", "\x00", "\u202e=1"}, {"é", "日本", "\ufeff=1"}} {
		f.Add(s[0], s[1], s[2], int64(-1500))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, n int64) {
		actor := n
		at := time.Unix(n%(1<<33), 0)
		credits := orgbase.Credits(n % int64(orgbase.MaxCredits))
		limit := -credits
		check := func(name string, header, rec, orig []string) {
			t.Helper()
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			if err := w.Write(header); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(rec); err != nil {
				t.Fatalf("%s: writing %q: %v", name, rec, err)
			}
			w.Flush()
			r := csv.NewReader(&buf)
			back, err := r.ReadAll()
			if err != nil || len(back) != 2 || len(back[0]) != len(header) || len(back[1]) != len(header) {
				t.Fatalf("%s: %q reads back as %q, %v", name, buf.String(), back, err)
			}
			for i, cell := range back[1] {
				want := strings.ReplaceAll(rec[i], "\r\n", "\n")
				if cell != want {
					t.Fatalf("%s: cell %d %q reads back as %q", name, i, rec[i], cell)
				}
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Fatalf("%s: cell %d starts with %q: %q", name, i, cell[0], cell)
				}
				if orig != nil && rec[i] != orig[i] && rec[i] != "'"+orig[i] {
					t.Fatalf("%s: cell %d %q written as %q", name, i, orig[i], rec[i])
				}
			}
		}
		e := orgbase.AuditEntry{ID: n, ActorID: &actor, ActorName: a, ActorEmail: b, IP: c, UserAgent: a + b, Action: c, TargetType: b,
			TargetID: a, TargetLabel: c, Changes: `{"name":["` + a + `","` + b + `"]}`, CreatedAt: at}
		check("audit", auditCSVHeader, auditCSVRecord(e), nil)
		ev := orgbase.UsageEvent{UserEmail: a, UserName: b, Tool: c, Model: a, Category: orgbase.Category(b), Units: n, Credits: credits,
			IdempotencyKey: c, CreatedAt: at}
		check("history", historyCSVHeader, historyCSVRecord(ev, a+" / "+b), []string{at.UTC().Format(time.RFC3339), a, b, a + " / " + b, c, a,
			orgbase.Category(b).Label(), strconv.FormatInt(n, 10), credits.Decimal(), c})
		row := store.MemberUsageRow{Member: orgbase.Member{UserID: n, Name: a, Email: b, Role: orgbase.Role(c), Status: orgbase.MemberActive,
			MonthlyLimit: &limit}, LastSeen: &at, ImageSpeech: credits, Chatbot: -credits}
		check("members", memberCSVHeader, memberCSVRecord(row, []store.MemberGrant{{Name: a, Role: orgbase.WorkspaceManager}, {Name: c}},
			orgbase.UsagePeriod{Key: "all", Label: b, From: c, To: a}, c), nil)
		for _, s := range []string{a, b, c} {
			if g := csvCell(s); g != s && (g != "'"+s || s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0]))) {
				t.Fatalf("csvCell(%q) = %q", s, g)
			}
		}
	})
}

// logoSeeds are small images of each accepted format, and a few that are
// not.
func logoSeeds(f *testing.F) [][]byte {
	img := image.NewPaletted(image.Rect(0, 0, 3, 2), []color.Color{color.White, color.Black})
	var p, j, g bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		f.Fatal(err)
	}
	if err := gif.Encode(&g, img, nil); err != nil {
		f.Fatal(err)
	}
	wide := bytes.Clone(p.Bytes())
	wide[16], wide[17] = 0x7f, 0xff // IHDR width 0x7fff0003: far too wide
	return [][]byte{p.Bytes(), j.Bytes(), g.Bytes(), wide, p.Bytes()[:30], []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		[]byte("<html><script>alert(1)</script>"), []byte("GIF89a"), {0xff, 0xd8, 0xff}, nil}
}

// FuzzCheckLogo feeds arbitrary files to the logo upload's check: what it
// accepts is a PNG, JPEG or GIF whose header Go decodes as that same
// format, with both sides from 1 to maxLogoSide pixels; a refusal says why.
func FuzzCheckLogo(f *testing.F) {
	for _, s := range logoSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, msg := checkLogo(data)
		if msg != "" {
			if typ != "" {
				t.Fatalf("refused (%s) with a type %q", msg, typ)
			}
			return
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || "image/"+format != typ || cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxLogoSide || cfg.Height > maxLogoSide {
			t.Fatalf("accepted %s (decoded as %q %dx%d, %v)", typ, format, cfg.Width, cfg.Height, err)
		}
	})
}
