package orgbase

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestFits(t *testing.T) {
	const max, min = Credits(math.MaxInt64), Credits(math.MinInt64)
	cases := []struct {
		used, amount, limit Credits
		want                bool
	}{
		{0, 0, 0, true},
		{0, 1, 0, false},
		{24 * Credit, Credit, 25 * Credit, true},      // exactly at the limit is accepted
		{24 * Credit, Credit + 1, 25 * Credit, false}, // one milli-credit over is refused
		{25 * Credit, 0, 25 * Credit, true},
		{25 * Credit, 1, 25 * Credit, false},
		{30 * Credit, 0, 25 * Credit, false}, // already past (a limit lowered this month)
		{0, MaxCredits, MaxCredits, true},
		{1, MaxCredits, MaxCredits, false},
		// Overflow: the sum is compared as what it mathematically is.
		{max, 1, max, false},
		{1, max, max, false},
		{max, max, max, false},
		{max - 1, 1, max, true},
		{min, -1, 0, true},
		{-1, min, min, true},
		{min, min, min, true},
		{-5, 3, -2, true},
		{-5, 4, -2, false},
	}
	for _, c := range cases {
		if got := Fits(c.used, c.amount, c.limit); got != c.want {
			t.Errorf("Fits(used %d, amount %d, limit %d) = %v, want %v", c.used, c.amount, c.limit, got, c.want)
		}
	}
}

func TestPeriod(t *testing.T) {
	paris := time.FixedZone("Paris", 2*3600)
	cases := map[time.Time]string{
		time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC):                    "2025-06",
		time.Date(2025, 6, 30, 23, 59, 59, 999, time.UTC):                "2025-06",
		time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC):                      "2025-07",
		time.Date(2025, 7, 1, 1, 30, 0, 0, paris):                        "2025-06", // 23:30 UTC on June 30
		time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC):                 "2025-12",
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC):                      "2026-01",
		time.Date(2025, 6, 30, 22, 0, 0, 0, time.FixedZone("", -3*3600)): "2025-07",
	}
	for in, want := range cases {
		if got := Period(in); got != want {
			t.Errorf("Period(%v) = %q, want %q", in, got, want)
		}
	}
	if p, err := ParsePeriod("2025-06"); err != nil || !p.Equal(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParsePeriod(2025-06) = %v, %v", p, err)
	}
	for _, bad := range []string{"", "2025-6", "2025-13", "2025-00", "2025/06", "2025-06-01", " 2025-06"} {
		if _, err := ParsePeriod(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ParsePeriod(%q) = %v, want EINVALID", bad, err)
		}
	}
	if got := PeriodLabel("2025-06"); got != "June 2025" {
		t.Errorf("PeriodLabel = %q", got)
	}
}

func TestCheckLimit(t *testing.T) {
	c := func(v Credits) *Credits { return &v }
	for _, ok := range []*Credits{nil, c(0), c(1), c(MaxCredits)} {
		if err := CheckLimit(ok); err != nil {
			t.Errorf("CheckLimit(%v) = %v", ok, err)
		}
	}
	for _, bad := range []*Credits{c(-1), c(MaxCredits + 1)} {
		if err := CheckLimit(bad); ErrorCode(err) != EINVALID || ErrorFields(err)["monthly_limit"] == "" {
			t.Errorf("CheckLimit(%d) = %v, want EINVALID on monthly_limit", *bad, err)
		}
	}
}

func TestLimitReached(t *testing.T) {
	var err error = &LimitReached{Scope: LimitWorkspace, WorkspaceID: 7, WorkspaceName: "Marketing", Period: "2025-06",
		Limit: 25 * Credit, Used: 24 * Credit, Amount: 1500}
	if got := ErrorCode(err); got != ECONFLICT {
		t.Errorf("ErrorCode = %q, want %q", got, ECONFLICT)
	}
	msg := ErrorMessage(err)
	for _, want := range []string{"Marketing", "25 credits", "1.5 credits", "June 2025", "1 left"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	var lr *LimitReached
	if !errors.As(err, &lr) || lr.WorkspaceID != 7 {
		t.Errorf("errors.As(LimitReached) = %v", lr)
	}
	m := (&LimitReached{Scope: LimitMember, UserID: 3, MemberName: "Ann (ann@example.com)", Period: "2025-06",
		Limit: Credit, Used: 2 * Credit, Amount: 1}).Message()
	if !strings.Contains(m, "member limit of Ann") || !strings.Contains(m, "0 left") {
		t.Errorf("member message %q", m)
	}
}

func TestLimitPolicy(t *testing.T) {
	mem := func(role Role) *Membership { return &Membership{OrgID: 1, UserID: 9, Role: role, Status: MemberActive} }
	root := &Workspace{ID: 1, Path: "/1/"}
	p := int64(1)
	team := &Workspace{ID: 4, ParentID: &p, Path: "/1/4/"}
	four := int64(4)
	sub := &Workspace{ID: 9, ParentID: &four, Path: "/1/4/9/"}
	manager := Access{Membership: mem(RoleMember), Grants: []Grant{{OrgID: 1, WorkspaceID: 4, UserID: 9, Role: WorkspaceManager, Path: "/1/4/"}}}
	rootManager := Access{Membership: mem(RoleMember), Grants: []Grant{{OrgID: 1, WorkspaceID: 1, UserID: 9, Role: WorkspaceManager, Path: "/1/"}}}
	member := Access{Membership: mem(RoleMember), Grants: []Grant{{OrgID: 1, WorkspaceID: 1, UserID: 9, Role: WorkspaceMember, Path: "/1/"}}}
	cases := []struct {
		name string
		a    Access
		ws   *Workspace
		want bool
	}{
		{"owner sets the Primary's", Access{Membership: mem(RoleOwner)}, root, true},
		{"admin sets the Primary's", Access{Membership: mem(RoleAdmin)}, root, true},
		{"operator sets the Primary's", OperatorAccess(1), root, true},
		{"admin sets any", Access{Membership: mem(RoleAdmin)}, sub, true},
		{"billing sets none", Access{Membership: mem(RoleBilling)}, team, false},
		{"manager not their own workspace's", manager, team, false},
		{"manager below their workspace", manager, sub, true},
		{"Primary manager not the Primary's", rootManager, root, false},
		{"Primary manager below it", rootManager, team, true},
		{"member none", member, sub, false},
		{"suspended admin none", Access{Membership: &Membership{OrgID: 1, UserID: 9, Role: RoleAdmin, Status: MemberSuspended}}, sub, false},
	}
	for _, c := range cases {
		if got := c.a.CanSetWorkspaceLimit(c.ws); got != c.want {
			t.Errorf("%s: CanSetWorkspaceLimit = %v, want %v", c.name, got, c.want)
		}
	}
	owner, admin := Access{Membership: mem(RoleOwner)}, Access{Membership: mem(RoleAdmin)}
	target := func(role Role) *Membership { return &Membership{OrgID: 1, UserID: 2, Role: role, Status: MemberActive} }
	if !owner.CanSetMemberLimit(target(RoleOwner)) || !admin.CanSetMemberLimit(target(RoleMember)) || admin.CanSetMemberLimit(target(RoleOwner)) ||
		manager.CanSetMemberLimit(target(RoleMember)) || (Access{Membership: mem(RoleBilling)}).CanSetMemberLimit(target(RoleMember)) {
		t.Error("CanSetMemberLimit: want owners for anyone, admins for all but owners, nobody else")
	}
}
