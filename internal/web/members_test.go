package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

var inviteLinkRE = regexp.MustCompile(`https?://[^\s/]+(/invites/[A-Za-z0-9_-]+)`)

// inviteLink returns the path of the newest invitation link sent to addr.
func (e *env) inviteLink(t *testing.T, addr string) string {
	t.Helper()
	mails, err := e.db.FindEmails(context.Background(), addr, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		if sub := inviteLinkRE.FindStringSubmatch(m.Text); sub != nil {
			return sub[1]
		}
	}
	t.Fatalf("no invitation email to %s", addr)
	return ""
}

func TestInvitationFlows(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		slug := owner.createOrg("Invite Co", "invite-co")
		org := e.org(t, slug, "olga@example.com")
		primary, _ := e.db.FindPrimaryWorkspace(context.Background(), org.ID)
		base := "/orgs/" + slug

		t.Run("BadInputInvitesNobody", func(t *testing.T) {
			many := make([]string, 51)
			for i := range many {
				many[i] = "p" + strings.Repeat("x", i+1) + "@example.com"
			}
			cases := map[string]url.Values{
				"TooMany":   {"emails": {strings.Join(many, ",")}, "role": {"member"}, "days": {"7"}},
				"Malformed": {"emails": {"good@example.com, not-an-address"}, "role": {"member"}, "days": {"7"}},
				"Duplicate": {"emails": {"dup@example.com\nDUP@example.com"}, "role": {"member"}, "days": {"7"}},
				"OwnerRole": {"emails": {"boss@example.com"}, "role": {"owner"}, "days": {"7"}},
				"Member":    {"emails": {"olga@example.com"}, "role": {"member"}, "days": {"7"}},
				"BadDays":   {"emails": {"x@example.com"}, "role": {"member"}, "days": {"90"}},
				"ForeignWS": {"emails": {"x@example.com"}, "role": {"member"}, "days": {"7"}, "ws": {"999999"}},
				"Empty":     {"emails": {""}, "role": {"member"}, "days": {"7"}},
			}
			for name, form := range cases {
				r := owner.post(base+"/invitations", form)
				if r.status != http.StatusUnprocessableEntity {
					t.Errorf("%s: got %d, want 422", name, r.status)
				}
			}
			invs, _ := e.db.FindInvitations(context.Background(), org.ID, true)
			if len(invs) != 0 {
				t.Fatalf("bad input left %d invitations", len(invs))
			}
			r := owner.post(base+"/invitations", cases["Malformed"])
			if !strings.Contains(r.text(`[data-testid="invite-problems"]`), "not-an-address is not a valid email address") {
				t.Errorf("malformed address not reported: %q", r.text(`[data-testid="invite-problems"]`))
			}
		})

		form := url.Values{"emails": {"new@example.com, old@example.com\nthird@example.com"}, "role": {"member"}, "days": {"7"},
			"ws": {id(primary.ID)}, "wsrole-" + id(primary.ID): {"member"}, "note": {"Welcome aboard!"}}
		owner.post(base+"/invitations", form).wantRedirect(base + "/members")
		r := owner.get(base + "/members")
		if n := r.find(`[data-testid="invite-row"]`).Length(); n != 3 {
			t.Fatalf("members tab shows %d invitations, want 3", n)
		}
		t.Run("ExistingInvitationIsReported", func(t *testing.T) {
			r := owner.post(base+"/invitations", url.Values{"emails": {"new@example.com"}, "role": {"member"}, "days": {"7"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			if !strings.Contains(r.text(`[data-testid="invite-problems"]`), "already has an open invitation") {
				t.Errorf("got %q", r.text(`[data-testid="invite-problems"]`))
			}
		})

		t.Run("NewPersonSignsUpThroughTheLink", func(t *testing.T) {
			link := e.inviteLink(t, "new@example.com")
			token := strings.TrimPrefix(link, "/invites/")
			if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
				t.Errorf("token %q is not 256 random bits (%d bytes, %v)", token, len(raw), err)
			}
			var stored, hashed int
			q := "SELECT (SELECT COUNT(*) FROM invitations WHERE token_hash = $1), (SELECT COUNT(*) FROM invitations WHERE token_hash = $2)"
			if e.db.Dialect() == store.SQLite {
				q = strings.NewReplacer("$1", "?", "$2", "?").Replace(q)
			}
			if err := e.db.SQL().QueryRowContext(context.Background(), q, token, hashSecret(token)).Scan(&stored, &hashed); err != nil || stored != 0 || hashed != 1 {
				t.Errorf("raw token stored %d times, its hash %d times (%v); want 0 and 1", stored, hashed, err)
			}
			c := e.client(t)
			page := c.get(link)
			page.wantStatus(http.StatusOK)
			if !strings.Contains(page.text(`[data-testid="invite-page"]`), "Welcome aboard!") {
				t.Errorf("the note is not shown")
			}
			signup := c.get("/signup?invite=" + strings.TrimPrefix(link, "/invites/"))
			if signup.attr("#email", "readonly") == "" && signup.find("#email[readonly]").Length() == 0 {
				t.Errorf("the email is not fixed on the sign-up form")
			}
			// A forged address in the form is ignored: the invited one is used.
			res := c.post("/signup", url.Values{"name": {"Nia New"}, "email": {"forged@example.com"}, "password": {strongPassword},
				"invite": {strings.TrimPrefix(link, "/invites/")}})
			res.wantRedirect(base + "/workspaces/" + id(primary.ID))
			u := e.user(t, "new@example.com")
			if !u.Verified() {
				t.Errorf("accepting through the link should verify the address")
			}
			if _, _, err := e.db.FindUserByEmail(context.Background(), "forged@example.com"); err == nil {
				t.Errorf("an account was created for the forged address")
			}
			c.get(link).wantStatus(http.StatusGone)
		})

		t.Run("OtherAccountIsGuidedToSwitch", func(t *testing.T) {
			link := e.inviteLink(t, "old@example.com")
			other := e.newUser(t, "Oscar Other", "oscar@example.com")
			r := other.get(link)
			r.wantStatus(http.StatusOK)
			msg := r.text(`[data-testid="invite-other-user"]`)
			if !strings.Contains(msg, "old@example.com") || !strings.Contains(msg, "oscar@example.com") {
				t.Errorf("explanation %q does not name both addresses", msg)
			}
			other.post(link+"/accept", nil).wantStatus(http.StatusForbidden)
			res := other.post("/logout", url.Values{"next": {link}})
			res.wantRedirect("/login?notice=logged_out&next=" + url.QueryEscape(link))
		})

		t.Run("ExistingAccountAccepts", func(t *testing.T) {
			link := e.inviteLink(t, "old@example.com")
			old := e.newUser(t, "Omar Old", "old@example.com")
			old.get(link).wantElement(`[data-testid="invite-accept"]`)
			old.post(link+"/accept", nil).wantRedirect(base + "/workspaces/" + id(primary.ID))
			if _, m, err := e.db.FindOrgForMember(context.Background(), slug, e.user(t, "old@example.com").ID); err != nil || m.Role != orgbase.RoleMember {
				t.Fatalf("membership: %v %v", m, err)
			}
		})

		t.Run("DeclineLeavesNoMembership", func(t *testing.T) {
			link := e.inviteLink(t, "third@example.com")
			third := e.newUser(t, "Tia Third", "third@example.com")
			third.post(link+"/decline", nil).wantStatus(http.StatusOK)
			if _, _, err := e.db.FindOrgForMember(context.Background(), slug, e.user(t, "third@example.com").ID); err == nil {
				t.Fatal("declined but a member")
			}
			third.get(link).wantStatus(http.StatusGone)
		})

		t.Run("ResendKillsTheOldLinkAndRevokeShowsItsPage", func(t *testing.T) {
			owner.post(base+"/invitations", url.Values{"emails": {"late@example.com"}, "role": {"billing"}, "days": {"7"}}).wantRedirect(base + "/members")
			first := e.inviteLink(t, "late@example.com")
			invs, _ := e.db.FindInvitations(context.Background(), org.ID, false)
			var invID int64
			for _, i := range invs {
				if i.Email == "late@example.com" {
					invID = i.ID
				}
			}
			r := owner.post(base+"/invitations/"+id(invID)+"/resend", nil, "HX-Request", "true")
			r.wantStatus(http.StatusUnprocessableEntity) // within a minute: rate-limited, said in the row
			if !strings.Contains(r.text(`[data-testid="invite-error"]`), "less than a minute") {
				t.Errorf("rate limit message: %q", r.text(`[data-testid="invite-error"]`))
			}
			e.clock.Advance(2 * 60e9)
			owner.post(base+"/invitations/"+id(invID)+"/resend", nil, "HX-Request", "true").wantStatus(http.StatusOK)
			second := e.inviteLink(t, "late@example.com")
			if second == first {
				t.Fatal("resend kept the same link")
			}
			c := e.client(t)
			gone := c.get(first)
			gone.wantStatus(http.StatusGone)
			if !strings.Contains(gone.text(`[data-testid="message"]`), "not valid any more") {
				t.Errorf("old link page: %q", gone.text(`[data-testid="message"]`))
			}
			owner.post(base+"/invitations/"+id(invID)+"/revoke", nil, "HX-Request", "true").wantStatus(http.StatusOK)
			revoked := c.get(second)
			revoked.wantStatus(http.StatusGone)
			if !strings.Contains(revoked.text(`[data-testid="message"]`), "withdrawn") {
				t.Errorf("revoked link page: %q", revoked.text(`[data-testid="message"]`))
			}
		})
	})
}

func TestMembersTab(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		slug := owner.createOrg("Team Co", "team-co")
		org := e.org(t, slug, "olga@example.com")
		base := "/orgs/" + slug
		admin := e.newUser(t, "Ada Admin", "ada@example.com")
		e.addMember(t, org.ID, e.user(t, "ada@example.com").ID, orgbase.RoleAdmin)
		e.newUser(t, "Max Member", "max@example.com")
		maxID := e.user(t, "max@example.com").ID
		e.addMember(t, org.ID, maxID, orgbase.RoleMember)
		olgaID := e.user(t, "olga@example.com").ID

		r := admin.get(base + "/members")
		r.wantStatus(http.StatusOK)
		if n := r.find(`[data-testid="member-row"]`).Length(); n != 3 {
			t.Fatalf("rows = %d, want 3", n)
		}
		if r.find(`#member-`+id(olgaID)+` [data-testid="member-role"]`).Length() != 0 {
			t.Errorf("an admin is offered to change the owner's role")
		}
		admin.post(base+"/members/"+id(olgaID)+"/role", url.Values{"role": {"member"}}, "HX-Request", "true").wantStatus(http.StatusForbidden)
		admin.post(base+"/members/"+id(maxID)+"/role", url.Values{"role": {"owner"}}, "HX-Request", "true").wantStatus(http.StatusForbidden)

		res := admin.post(base+"/members/"+id(maxID)+"/role", url.Values{"role": {"billing"}}, "HX-Request", "true")
		res.wantStatus(http.StatusOK)
		// A bare <tr> fragment is dropped by an HTML parser outside a table, so check the markup.
		if !strings.Contains(res.body, `id="member-`+id(maxID)+`"`) || !strings.Contains(res.body, `value="billing" selected`) {
			t.Errorf("the returned row does not show the new role: %s", abbrev(res.body))
		}
		// Search.
		if n := admin.get(base + "/members?q=max").find(`[data-testid="member-row"]`).Length(); n != 1 {
			t.Errorf("search for max: %d rows", n)
		}
		// Suspend ends access at once.
		maxClient := e.client(t)
		maxClient.login("max@example.com", strongPassword)
		maxClient.get(base).wantStatus(http.StatusOK)
		admin.post(base+"/members/"+id(maxID)+"/suspend", nil, "HX-Request", "true").wantStatus(http.StatusOK)
		maxClient.get(base).wantStatus(http.StatusNotFound)
		admin.post(base+"/members/"+id(maxID)+"/restore", nil, "HX-Request", "true").wantStatus(http.StatusOK)
		maxClient.get(base).wantStatus(http.StatusOK)
		// The last owner cannot leave; a member can.
		owner.post(base+"/leave", nil).wantRedirect(base)
		maxClient.post(base+"/leave", nil).wantRedirect("/orgs")
		maxClient.get(base).wantStatus(http.StatusNotFound)
		// Members cannot see the tab.
		e.addMember(t, org.ID, maxID, orgbase.RoleMember)
		maxClient.get(base + "/members").wantStatus(http.StatusForbidden)
	})
}
