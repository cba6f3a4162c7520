// Package history renders the History tab: the feed of AI actions with its
// filters, the rows that infinite scroll appends, and the empty states.
package history

import (
	"net/url"
	"strconv"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/components"
)

// Filters are the filter form's values as the URL carries them.
type Filters struct {
	Workspace string // "" (every workspace the viewer sees) or a workspace id
	Me        bool   // only the viewer's own actions
	Tool      string // "", "category:<category>" or a tool of the catalog
	From      string // YYYY-MM-DD, UTC
	To        string // YYYY-MM-DD, UTC, inclusive
}

// Active reports whether any filter is set.
func (f Filters) Active() bool {
	return f.Workspace != "" || f.Me || f.Tool != "" || f.From != "" || f.To != ""
}

// Query encodes the filters for page and export links ("" when none is set).
func (f Filters) Query() string {
	q := url.Values{}
	for k, v := range map[string]string{"workspace": f.Workspace, "tool": f.Tool, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Me {
		q.Set("me", "1")
	}
	return q.Encode()
}

// Model is the History page's view model.
type Model struct {
	Filters    Filters
	Errors     map[string]string // field → message; the table is not shown while there are any
	AllLabel   string            // the workspace filter's empty choice: "All workspaces" or "All my workspaces"
	Workspaces []components.Option
	Tools      []components.Option
	Events     []Event
	Next       string // cursor of the next page, "" when there is none
	Paged      bool   // this is a later page: offer a way back to the newest events
	HasUsage   bool   // any event at all in what the viewer may see (for the empty state)
}

// Event is one AI action ready to show.
type Event struct {
	orgbase.UsageEvent
	Workspace     string // the workspace's name
	WorkspacePath string // its ancestors, "Primary / Clients", "" for the Primary workspace
	Archived      bool
}

// RowID is the stable DOM id of an event's row.
func (e Event) RowID() string { return "event-" + strconv.FormatInt(e.ID, 10) }

// Member is who acted, as the table shows them.
func (e Event) Member() string {
	if e.UserName != "" {
		return e.UserName
	}
	if e.UserEmail != "" {
		return e.UserEmail
	}
	return "User #" + strconv.FormatInt(e.UserID, 10)
}

// ToolLabel is the tool as people read it.
func (e Event) ToolLabel() string { return orgbase.ToolLabel(e.Tool) }
