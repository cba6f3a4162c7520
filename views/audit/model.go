// Package audit renders the organization's audit log: the filters, the
// table of entries, and the rows that "Load more" appends.
package audit

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/components"
)

// Filters are the filter form's values as the URL carries them.
type Filters struct {
	Actor  string // "", "system" or a user id
	Action string // "", an action, or a category prefix ("workspace.")
	From   string // YYYY-MM-DD, UTC
	To     string // YYYY-MM-DD, UTC, inclusive
}

// Active reports whether any filter is set.
func (f Filters) Active() bool { return f.Actor != "" || f.Action != "" || f.From != "" || f.To != "" }

// Model is the audit page's view model.
type Model struct {
	Filters Filters
	Errors  map[string]string // field → message; the table is not shown while there are any
	Actors  []components.Option
	Actions []components.Option
	Entries []Entry
	Query   string // the encoded filters, for page and export links
	Next    int64  // cursor of the next page (the last entry's id), 0 when there is none
	Paged   bool   // this is a later page: offer a way back to the newest entries
}

// Entry is one audit entry with its changes ready to read.
type Entry struct {
	orgbase.AuditEntry
	Changes []ChangeLine
}

// ChangeLine is one changed field: "Name: Acme → Acme Inc".
type ChangeLine struct {
	Field   string
	From    string
	To      string
	HasFrom bool
	HasTo   bool
}

// NewEntry prepares an entry for display.
func NewEntry(e orgbase.AuditEntry) Entry {
	return Entry{AuditEntry: e, Changes: ParseChanges(e.Changes)}
}

// RowID is the stable DOM id of an entry's row.
func (e Entry) RowID() string { return "audit-" + strconv.FormatInt(e.ID, 10) }

// Actor is who made the change as the table shows it.
func (e Entry) Actor() string {
	switch {
	case e.ActorID == nil:
		return "System"
	case e.ActorName == "":
		return "User #" + strconv.FormatInt(*e.ActorID, 10)
	}
	return e.ActorName
}

// ParseChanges turns the JSON of an entry's changes into lines, sorted by
// field. A field holding {"from": …, "to": …} is a change; any other value
// is shown as it is. Text that is not a JSON object becomes one line.
func ParseChanges(js string) []ChangeLine {
	js = strings.TrimSpace(js)
	if js == "" || js == "{}" || js == "null" {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := decode(js, &fields); err != nil {
		return []ChangeLine{{To: js, HasTo: true}}
	}
	out := make([]ChangeLine, 0, len(fields))
	for name, raw := range fields {
		line := ChangeLine{Field: fieldLabel(name)}
		var ch map[string]any
		if err := decode(string(raw), &ch); err == nil && isChange(ch) {
			if v, ok := ch["from"]; ok && v != nil {
				line.From, line.HasFrom = value(v), true
			}
			if v, ok := ch["to"]; ok && v != nil {
				line.To, line.HasTo = value(v), true
			}
		} else {
			var v any
			if decode(string(raw), &v) == nil {
				line.To, line.HasTo = value(v), true
			}
		}
		out = append(out, line)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func decode(s string, v any) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	return d.Decode(v)
}

func isChange(m map[string]any) bool {
	if len(m) == 0 || len(m) > 2 {
		return false
	}
	for k := range m {
		if k != "from" && k != "to" {
			return false
		}
	}
	return true
}

// fieldLabel turns "billing_email" into "Billing email".
func fieldLabel(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// value renders one JSON value: times in UTC to the minute, lists joined.
func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Format("2006-01-02 15:04") + " UTC"
		}
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = value(e)
		}
		return strings.Join(parts, ", ")
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	return strings.TrimSpace(b.String())
}
