package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// historyTools is the catalog the decoder is fuzzed against.
var historyTools = map[string]bool{"image.generate": true, "chat.completion": true}

// FuzzHistoryQuery feeds arbitrary query strings to the History filters'
// decoder: it must never panic, a refusal names a known field, what it
// accepts is a consistent filter, what it echoes is safe to show, and the
// filters it echoes decode again to the same meaning.
func FuzzHistoryQuery(f *testing.F) {
	for _, s := range []string{
		"", "workspace=12&me=1&tool=image.generate&from=2025-01-01&to=2025-01-31",
		"tool=category:chatbot", "tool=category:video", "tool=%00", "workspace=all", "workspace=-3", "workspace=1e3",
		"from=2025-02-30", "from=1999-12-31", "from=2001-01-01&to=2020-01-01", "from=2025-03-10&to=2025-03-01",
		"to=9999-12-31&from=9990-01-01", "cursor=" + encodeHistoryCursor(time.Date(2025, 3, 10, 9, 0, 0, 1500, time.UTC), 42),
		"cursor=bm9wZQ", "me=0&me=1", "from=%ff%fe", "workspace=" + strings.Repeat("9", 300),
	} {
		f.Add(s)
	}
	known := func(t string) bool { return historyTools[t] }
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, errs := decodeHistoryQuery(q, known)
		for field, msg := range errs {
			switch field {
			case "workspace", "tool", "from", "to", "cursor":
			default:
				t.Fatalf("message for unknown field %q", field)
			}
			if msg == "" {
				t.Fatalf("empty message for %s", field)
			}
		}
		for _, v := range []string{p.Filters.Workspace, p.Filters.Tool, p.Filters.From, p.Filters.To} {
			if len(v) > 200 || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("echoed value %q is not safe to show", v)
			}
		}
		if errs["cursor"] == "" && p.Cursor != nil {
			if got := encodeHistoryCursor(p.Cursor.CreatedAt, p.Cursor.ID); got != q.Get("cursor") {
				t.Fatalf("cursor %q decodes to %+v, which encodes to %q", q.Get("cursor"), p.Cursor, got)
			}
		}
		if len(errs) > 0 {
			return
		}
		switch {
		case p.Tool != "" && p.Category != "":
			t.Fatalf("both a tool and a category: %+v", p)
		case p.Tool != "" && !historyTools[p.Tool]:
			t.Fatalf("unknown tool accepted: %q", p.Tool)
		case p.Category != "" && !p.Category.Valid():
			t.Fatalf("unknown category accepted: %q", p.Category)
		case p.WorkspaceID < 0 || (p.WorkspaceID == 0) != (p.Filters.Workspace == ""):
			t.Fatalf("workspace %d from %q", p.WorkspaceID, p.Filters.Workspace)
		}
		if !p.From.IsZero() && !p.To.IsZero() {
			if !p.From.Before(p.To) || p.To.After(p.From.AddDate(historyMaxRangeYr, 0, 1)) {
				t.Fatalf("accepted range %v – %v", p.From, p.To)
			}
		}
		for _, d := range []time.Time{p.From, p.To} {
			if !d.IsZero() && (d.Year() < historyMinYear || d.Year() > historyMaxYear+1 || d.Location() != time.UTC || d.Hour() != 0) {
				t.Fatalf("accepted day %v", d)
			}
		}
		// The links the page writes carry the same filters.
		again, errs2 := decodeHistoryQuery(mustParseQuery(t, p.Filters.Query()), known)
		if len(errs2) > 0 || again.Filters != p.Filters || again.WorkspaceID != p.WorkspaceID || again.Tool != p.Tool ||
			again.Category != p.Category || !again.From.Equal(p.From) || !again.To.Equal(p.To) {
			t.Fatalf("filters %+v re-encode as %q and decode to %+v (%v)", p.Filters, p.Filters.Query(), again.Filters, errs2)
		}
	})
}

func mustParseQuery(t *testing.T, s string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("the page's own query %q does not parse: %v", s, err)
	}
	return q
}

func TestHistoryCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		t  time.Time
		id int64
	}{
		{time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC), 1},
		{time.Date(2025, 3, 10, 9, 0, 0, 123456000, time.UTC), 9223372036854775807},
		{time.Date(2000, 1, 1, 1, 0, 0, 1, time.FixedZone("x", 3600)), 7}, // 2000-01-01T00:00:00.000000001Z
	} {
		c, ok := decodeHistoryCursor(encodeHistoryCursor(tc.t, tc.id))
		if !ok || !c.CreatedAt.Equal(tc.t) || c.ID != tc.id || c.CreatedAt.Location() != time.UTC {
			t.Errorf("round trip of %v/%d = %+v, %v", tc.t, tc.id, c, ok)
		}
	}
}
