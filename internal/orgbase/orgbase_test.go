package orgbase

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"Ann@Example.COM":        "ann@example.com",
		"  bob.smith+x@a.co.uk ": "bob.smith+x@a.co.uk",
	}
	for in, want := range good {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "a@b", "no-at", "x@y..com", "Ann <ann@x.org>", "a@.com", "a@com.", "a b@c.com",
		"\xff@x.com", strings.Repeat("a", 250) + "@x.com", "@x.com", "a@@x.com"}
	for _, in := range bad {
		if got, err := NormalizeEmail(in); ErrorCode(err) != EINVALID {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want EINVALID", in, got, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	weak := []string{"short", "password123", "aaaaaaaaaaaa", "qwertyuiop", "1234567890", "ann@example.com1", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6", strings.Repeat("x", 200)}
	for _, pw := range weak {
		if err := CheckPassword(pw, "ann@example.com", "Ann Example"); ErrorCode(err) != EINVALID {
			t.Errorf("CheckPassword(%q) = %v; want EINVALID", pw, err)
		}
	}
	if err := CheckPassword("correct horse battery staple 42", "ann@example.com"); err != nil {
		t.Errorf("strong password refused: %v", err)
	}
}

func TestCheckSlugAndSlugify(t *testing.T) {
	for _, s := range []string{"acme", "acme-inc", "a1b", strings.Repeat("a", 40)} {
		if err := CheckSlug(s); err != nil {
			t.Errorf("CheckSlug(%q) = %v; want nil", s, err)
		}
	}
	for _, s := range []string{"", "ab", "-acme", "acme-", "Acme", "ac--me", "new", "a_b", strings.Repeat("a", 41), "äcme"} {
		if CheckSlug(s) == nil {
			t.Errorf("CheckSlug(%q) = nil; want an error", s)
		}
	}
	tests := map[string]string{"Acme Robotics": "acme-robotics", "  Café Crème!  ": "cafe-creme", "!!!": "", "A--B": "a-b",
		strings.Repeat("long name ", 10): "long-name-long-name-long-name-long-name"}
	for in, want := range tests {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	if _, err := CleanText("", "Name", 10, true); ErrorCode(err) != EINVALID {
		t.Errorf("empty required: %v", err)
	}
	if _, err := CleanText("\xff", "Name", 10, false); ErrorCode(err) != EINVALID {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := CleanText("a\x00b", "Name", 10, false); ErrorCode(err) != EINVALID {
		t.Errorf("control character: %v", err)
	}
	if _, err := CleanText(strings.Repeat("é", 11), "Name", 10, false); ErrorCode(err) != EINVALID {
		t.Errorf("too long: %v", err)
	}
	if got, err := CleanText("  Ann  ", "Name", 10, true); err != nil || got != "Ann" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestCan(t *testing.T) {
	actor := func(r Role, status string) Actor {
		return Actor{UserID: 1, Membership: &Membership{Role: r, Status: status}}
	}
	tests := []struct {
		role   Role
		action Action
		want   bool
	}{
		{RoleOwner, ActionOrgView, true}, {RoleOwner, ActionOrgEditProfile, true}, {RoleOwner, ActionOrgDelete, true}, {RoleOwner, ActionOrgRestore, true},
		{RoleAdmin, ActionOrgView, true}, {RoleAdmin, ActionOrgEditProfile, true}, {RoleAdmin, ActionOrgDelete, false}, {RoleAdmin, ActionOrgRestore, false},
		{RoleBilling, ActionOrgView, true}, {RoleBilling, ActionOrgEditProfile, false}, {RoleBilling, ActionOrgDelete, false},
		{RoleMember, ActionOrgView, true}, {RoleMember, ActionOrgEditProfile, false}, {RoleMember, ActionOrgDelete, false},
		{RoleOwner, ActionPricesView, true}, {RoleAdmin, ActionPricesView, true}, {RoleBilling, ActionPricesView, true}, {RoleMember, ActionPricesView, false},
		{RoleOwner, ActionBillingManage, true}, {RoleAdmin, ActionBillingManage, true}, {RoleBilling, ActionBillingManage, true}, {RoleMember, ActionBillingManage, false},
		{RoleOwner, ActionUsageViewAll, true}, {RoleAdmin, ActionUsageViewAll, true}, {RoleBilling, ActionUsageViewAll, true}, {RoleMember, ActionUsageViewAll, false},
	}
	for _, tt := range tests {
		if got := Can(actor(tt.role, MemberActive), tt.action); got != tt.want {
			t.Errorf("Can(%s, %s) = %v; want %v", tt.role, tt.action, got, tt.want)
		}
	}
	if Can(actor(RoleOwner, MemberSuspended), ActionOrgView) {
		t.Error("a suspended owner can view; want not")
	}
	if Can(Actor{UserID: 1}, ActionOrgView) {
		t.Error("a non-member can view; want not")
	}
}
