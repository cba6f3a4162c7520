// Package mail composes Orgbase's emails (plain text and HTML parts). Emails
// are written to the outbox table in the transaction that causes them; with
// no SMTP server configured they stay there and appear in the dev mailbox.
package mail

import (
	"bytes"
	"html/template"
	"strings"
	texttemplate "text/template"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// message is the data every template receives.
type message struct {
	Greeting string
	Logo     string // absolute URL of a logo shown above the text, or ""
	Lines    []string
	Quote    string // a personal note, quoted
	Action   string
	URL      string
	Footer   string
}

const textTmpl = `{{.Greeting}}

{{range .Lines}}{{.}}

{{end}}{{if .Quote}}"{{.Quote}}"

{{end}}{{.Action}}:
{{.URL}}

{{.Footer}}
— Orgbase
`

const htmlTmpl = `<!DOCTYPE html><html><body style="font-family:system-ui,sans-serif;color:#111827;line-height:1.5">
{{if .Logo}}<p><img src="{{.Logo}}" alt="" width="48" height="48" style="border-radius:8px"></p>{{end}}
<p>{{.Greeting}}</p>
{{range .Lines}}<p>{{.}}</p>{{end}}
{{if .Quote}}<blockquote style="margin:0 0 16px;padding:8px 12px;border-left:3px solid #c7d2fe;color:#374151">{{.Quote}}</blockquote>{{end}}
<p><a href="{{.URL}}" style="display:inline-block;background:#4f46e5;color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none">{{.Action}}</a></p>
<p style="font-size:12px;color:#6b7280">Or paste this link into your browser: {{.URL}}</p>
<p style="font-size:12px;color:#6b7280">{{.Footer}}</p>
</body></html>`

// Composer renders emails from the two templates, parsed once.
type Composer struct {
	text *texttemplate.Template
	html *template.Template
}

// NewComposer parses the templates.
func NewComposer() *Composer {
	return &Composer{
		text: texttemplate.Must(texttemplate.New("text").Parse(textTmpl)),
		html: template.Must(template.New("html").Parse(htmlTmpl)),
	}
}

func (c *Composer) compose(to, subject string, m message) (*orgbase.Email, error) {
	var tb, hb bytes.Buffer
	if err := c.text.Execute(&tb, m); err != nil {
		return nil, err
	}
	if err := c.html.Execute(&hb, m); err != nil {
		return nil, err
	}
	return &orgbase.Email{To: to, Subject: subject, Text: tb.String(), HTML: hb.String()}, nil
}

func greeting(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Hello,"
	}
	return "Hello " + name + ","
}

// Verify is the email-verification message.
func (c *Composer) Verify(user *orgbase.User, link string) (*orgbase.Email, error) {
	return c.compose(user.Email, "Verify your email for Orgbase", message{
		Greeting: greeting(user.Name),
		Lines:    []string{"Please confirm that " + user.Email + " is your email address. The link works once and expires in 24 hours."},
		Action:   "Verify email address",
		URL:      link,
		Footer:   "If you did not create an Orgbase account, you can ignore this email.",
	})
}

// Reset is the password-reset message.
func (c *Composer) Reset(user *orgbase.User, link string) (*orgbase.Email, error) {
	return c.compose(user.Email, "Reset your Orgbase password", message{
		Greeting: greeting(user.Name),
		Lines:    []string{"Someone asked to reset the password of your Orgbase account. The link works once and expires in 30 minutes."},
		Action:   "Choose a new password",
		URL:      link,
		Footer:   "If it was not you, ignore this email: your password stays as it is.",
	})
}

// Invite is the invitation message: who invites, to which organization, as
// what, with the inviter's note.
func (c *Composer) Invite(to, orgName, inviterName, role string, workspaces []string, note, link, logoURL string, expires string) (*orgbase.Email, error) {
	who := inviterName
	if who == "" {
		who = "Someone"
	}
	lines := []string{who + " invited you to join " + orgName + " on Orgbase as " + role + "."}
	if len(workspaces) > 0 {
		lines = append(lines, "You will have access to: "+strings.Join(workspaces, ", ")+".")
	}
	lines = append(lines, "The link works once, only for "+to+", and expires on "+expires+".")
	return c.compose(to, who+" invited you to "+orgName+" on Orgbase", message{
		Greeting: "Hello,",
		Logo:     logoURL,
		Lines:    lines,
		Quote:    note,
		Action:   "Accept the invitation",
		URL:      link,
		Footer:   "If you were not expecting this, you can ignore this email.",
	})
}
