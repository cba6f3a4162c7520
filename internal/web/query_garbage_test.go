package web_test

import (
	"net/url"
	"testing"
)

// TestQueryGarbage sends the values fuzzing found troublesome (a NUL byte,
// invalid UTF-8, huge numbers, far-away dates, LIKE wildcards) to every
// query parameter of the organization's GET pages and exports, on both
// dialects: each page answers (200, or 422 naming the field), never 500.
// The decoders themselves are fuzzed in fuzz_internal_test.go; this checks
// that whatever they let through, the database takes.
func TestQueryGarbage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		owner.createOrg("Acme", "acme")
		values := []string{"\x00", "a\x00b", "\xff\xfe", "%", "_", "%.", "\\", "'", "-1", "0", "9223372036854775808",
			"0000-01-01", "9999-12-31", "1999-12-31", "custom", "all", "\u202e", "\u00a0"}
		pages := map[string][]string{
			"/orgs/acme":               {"range", "from", "to", "workspace"},
			"/orgs/acme/members":       {"q", "sort", "dir", "page", "period", "closed"},
			"/orgs/acme/members.csv":   {"q", "sort", "period"},
			"/orgs/acme/audit":         {"actor", "action", "from", "to", "before"},
			"/orgs/acme/audit.csv":     {"actor", "action", "from", "to"},
			"/orgs/acme/history":       {"workspace", "tool", "me", "from", "to", "cursor"},
			"/orgs/acme/history.csv":   {"workspace", "tool", "from", "to"},
			"/orgs/acme/workspaces":    {"period", "archived", "level"},
			"/orgs/acme/notifications": {"before", "filter"},
			"/orgs/acme/billing":       {"notice"},
		}
		for path, params := range pages {
			for _, p := range params {
				for _, v := range values {
					q := url.Values{p: {v}}
					if p == "from" || p == "to" {
						q.Set("range", "custom")
					}
					owner.get(path + "?" + q.Encode()) // the client fails the test on a 5xx
				}
			}
		}
	})
}
