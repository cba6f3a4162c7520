package mail

import (
	"github.com/orgbase/orgbase/internal/orgbase"
)

// Alert is the email of a raised alert (SPEC §5.7) to one recipient: what
// was reached, what it means, and a link to the workspace (or, for the pool,
// the organization's overview).
func (c *Composer) Alert(to *orgbase.User, orgName string, a *orgbase.Alert, link string) (*orgbase.Email, error) {
	action := "Open the workspace"
	if a.Subject == orgbase.AlertPool {
		action = "Open " + orgName
	}
	return c.compose(to.Email, orgName+": "+a.Title(), message{
		Greeting: greeting(to.Name),
		Lines:    []string{a.Title() + ".", a.Message()},
		Action:   action,
		URL:      link,
		Footer: "You get this alert as an owner, admin, billing member or workspace manager in " + orgName +
			". Each threshold is sent once per month (limits) or per top-up (balances).",
	})
}
