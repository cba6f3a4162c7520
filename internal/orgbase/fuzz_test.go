package orgbase

import (
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Fuzz targets of the domain's decoders of untrusted input: the text,
// email, slug, password, percentage, money, day-range, invoice-number and
// API-key rules every form and the API go through. `make fuzz` runs each
// one; `go test` runs their seeds (f.Add and testdata/fuzz/<target>) as
// ordinary tests.

// wantInvalid fails unless err is an EINVALID *Error with a message.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if ErrorCode(err) != EINVALID || ErrorMessage(err) == "" {
		t.Fatalf("%s: error %v is not EINVALID with a message", what, err)
	}
}

// textFields are the CleanText calls the forms make: label, limit, required.
var textFields = []struct {
	label    string
	max      int
	required bool
}{
	{"Name", MaxNameLen, true},                       // account, signup
	{"Organization name", MaxOrgNameLen, true},       // new organization, settings
	{"Name", MaxWorkspaceNameLen, true},              // workspace forms
	{"Description", MaxDescriptionLen, false},        // workspace forms (multi-line)
	{"Note", MaxNoteLen, false},                      // invitation note
	{"Organization name", MaxOrgNameLen * 100, true}, // a long limit: only the content rules apply
}

// FuzzCleanText checks the names and free texts of every form (CleanText)
// and of API keys (CleanAPIKeyName): a refusal is EINVALID with a message;
// an accepted value is valid UTF-8, trimmed, within its limit, without
// control characters (line breaks only in multi-line fields), and cleans
// to itself.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"Acme Inc.", "  Ada Lovelace  ", "", " ", "\t", "a\nb", "a\x00b", "\xff", "é\u0301", "\u00a0x\u00a0",
		"line one\r\nline two", "\u2028", "\u200b", "\x7f", "\u0085", strings.Repeat("ж", 81), strings.Repeat("x", 1001)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tf := range textFields {
			out, err := CleanText(s, tf.label, tf.max, tf.required)
			if err != nil {
				wantInvalid(t, "CleanText("+strconv.Quote(s)+")", err)
				if !strings.HasPrefix(ErrorMessage(err), tf.label+" ") {
					t.Fatalf("CleanText(%q): message %q does not name the field %q", s, ErrorMessage(err), tf.label)
				}
				continue
			}
			if !utf8.ValidString(out) || strings.TrimSpace(out) != out || utf8.RuneCountInString(out) > tf.max || (tf.required && out == "") {
				t.Fatalf("CleanText(%q, %d, %v) accepted %q", s, tf.max, tf.required, out)
			}
			if out != strings.TrimSpace(s) {
				t.Fatalf("CleanText(%q) = %q: it may only trim", s, out)
			}
			for _, r := range out {
				if unicode.IsControl(r) && !(tf.max >= MaxDescriptionLen && (r == '\n' || r == '\r' || r == '\t')) {
					t.Fatalf("CleanText(%q, %d) kept the control character %U", s, tf.max, r)
				}
			}
			if again, err := CleanText(out, tf.label, tf.max, tf.required); err != nil || again != out {
				t.Fatalf("CleanText(%q) = %q, which cleans to %q, %v", s, out, again, err)
			}
		}
		name, err := CleanAPIKeyName(s)
		if err != nil {
			wantInvalid(t, "CleanAPIKeyName", err)
			if ErrorFields(err)["name"] == "" {
				t.Fatalf("CleanAPIKeyName(%q): %v names no field", s, err)
			}
			return
		}
		if name == "" || !Printable(name) || strings.TrimSpace(name) != name || utf8.RuneCountInString(name) > MaxAPIKeyNameLen {
			t.Fatalf("CleanAPIKeyName(%q) accepted %q", s, name)
		}
		if again, err := CleanAPIKeyName(name); err != nil || again != name {
			t.Fatalf("CleanAPIKeyName(%q) = %q, which cleans to %q, %v", s, name, again, err)
		}
	})
}

// FuzzNormalizeEmail checks the one email rule (sign-up, sign-in, billing
// email, invitations): an accepted address is lower-case, trimmed, at most
// 254 bytes, a bare address as net/mail reads it with one non-empty local
// part and a dotted domain, and normalizes to itself.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", " Ada@Example.COM ", "Ada <ada@example.com>", "ada@localhost", "ada@@example.com",
		"@example.com", "ada@.example.com", "ada@example..com", "ada@example.com.", `"a b"@example.com`, "ada@[127.0.0.1]",
		"ada@exämple.com", "\xffada@example.com", "a@b.c", strings.Repeat("a", 250) + "@b.co", "ada@example.com\n", "(comment)ada@example.com",
		strings.Repeat("Ⱥ", 120) + "@ex.com"} { // lower-cased, 367 bytes: was accepted
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := NormalizeEmail(s)
		if err != nil {
			wantInvalid(t, "NormalizeEmail("+strconv.Quote(s)+")", err)
			return
		}
		if e == "" || len(e) > MaxEmailLen || e != strings.ToLower(e) || !utf8.ValidString(e) || strings.TrimSpace(e) != e {
			t.Fatalf("NormalizeEmail(%q) accepted %q", s, e)
		}
		local, domain, ok := strings.Cut(e, "@")
		if !ok || local == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") {
			t.Fatalf("NormalizeEmail(%q) = %q: not local@domain.tld", s, e)
		}
		if a, err := mail.ParseAddress(e); err != nil || a.Name != "" {
			t.Fatalf("NormalizeEmail(%q) = %q, which net/mail refuses: %v", s, e, err)
		}
		if again, err := NormalizeEmail(e); err != nil || again != e {
			t.Fatalf("NormalizeEmail(%q) = %q, which normalizes to %q, %v", s, e, again, err)
		}
	})
}

// FuzzParseEmailList checks the invitation dialog's address list: every
// address it returns is normalized and unique, every problem names a raw
// entry of the input with a message, and nothing is lost (each entry is an
// address, a problem or a repeat of one).
func FuzzParseEmailList(f *testing.F) {
	for _, s := range []string{"ada@example.com, bob@example.com", "ada@example.com\nADA@example.com", "ada@example.com;;;bob@example.com",
		"not-an-address, ada@example.com", "", " \n\t ", "Ada <ada@example.com>", "a@b.co a@b.co a@b.co", "\xff@b.co",
		"ada@example.com\r\nbob@example.com\r\n", strings.Repeat("x@y.co,", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		emails, problems := ParseEmailList(raw)
		entries := strings.FieldsFunc(raw, func(r rune) bool { return strings.ContainsRune(",;\n\r \t", r) })
		if len(emails)+len(problems) > len(entries) {
			t.Fatalf("%d addresses and %d problems from %d entries", len(emails), len(problems), len(entries))
		}
		seen := map[string]bool{}
		for _, e := range emails {
			if n, err := NormalizeEmail(e); err != nil || n != e {
				t.Fatalf("returned %q, which normalizes to %q, %v", e, n, err)
			}
			if seen[e] {
				t.Fatalf("%q returned twice", e)
			}
			seen[e] = true
		}
		for entry, msg := range problems {
			if msg == "" || !slices.Contains(entries, entry) {
				t.Fatalf("problem %q for %q, which is not an entry of the input", msg, entry)
			}
		}
		for _, entry := range entries {
			e, err := NormalizeEmail(entry)
			if problems[entry] == "" && (err != nil || !seen[e]) {
				t.Fatalf("entry %q is neither an address nor a problem", entry)
			}
		}
	})
}

var slugShape = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// FuzzSlug checks the organization slug rules: CheckSlug accepts only
// 3–40 lower-case letters, digits and single inner hyphens, never a
// reserved word, and refuses with EINVALID; Slugify always gives at most 40
// such characters, and a valid slug slugifies to itself.
func FuzzSlug(f *testing.F) {
	for _, s := range []string{"acme", "acme-inc", "Acme Inc.", "ac", "new", "api", "-acme", "acme-", "ac--me", "Café Crème", "ÀÉÎÕÜ ÿ",
		"日本語", "ß", "ı", "a_b", strings.Repeat("ab-", 30), strings.Repeat("é", 50), "acme\x00", "\xffacme"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := CheckSlug(s); err != nil {
			wantInvalid(t, "CheckSlug("+strconv.Quote(s)+")", err)
		} else {
			if !slugShape.MatchString(s) || len(s) < MinSlugLen || len(s) > MaxSlugLen || reservedSlugs[s] {
				t.Fatalf("CheckSlug accepted %q", s)
			}
			if got := Slugify(s); got != s {
				t.Fatalf("the valid slug %q slugifies to %q", s, got)
			}
		}
		got := Slugify(s)
		if len(got) > MaxSlugLen || (got != "" && !slugShape.MatchString(got)) {
			t.Fatalf("Slugify(%q) = %q", s, got)
		}
		if again := Slugify(got); again != got {
			t.Fatalf("Slugify(%q) = %q, which slugifies to %q", s, got, again)
		}
	})
}

// FuzzCheckPassword checks the password rule of sign-up, reset and the
// account form (zxcvbn included): it never panics, refusals are EINVALID
// with a message, and an accepted password is valid UTF-8 of 10–128
// characters that is not the user's name, email or its local part.
func FuzzCheckPassword(f *testing.F) {
	f.Add("correct horse battery staple", "Ada Lovelace", "ada@example.com")
	f.Add("password123", "", "")
	f.Add("ada@example.com", "Ada", "ada@example.com")
	f.Add("adalovelace1815", "Ada Lovelace", "adalovelace1815@example.com")
	f.Add("short", "", "")
	f.Add(strings.Repeat("ж", 129), "", "")
	f.Add("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6", "", "")
	f.Add("qwertyuiopasdfgh", "", "")
	f.Add("1234567890123", "", "")
	f.Add("Tr0ub4dor&3 xylophone", "x", "@")
	f.Fuzz(func(t *testing.T, pw, name, email string) {
		err := CheckPassword(pw, name, email)
		if err != nil {
			wantInvalid(t, "CheckPassword", err)
			return
		}
		n := utf8.RuneCountInString(pw)
		if !utf8.ValidString(pw) || n < MinPasswordLen || n > MaxPasswordLen {
			t.Fatalf("CheckPassword accepted %q (%d characters)", pw, n)
		}
		local, _, _ := strings.Cut(email, "@")
		for _, in := range []string{name, email, local} {
			if in != "" && utf8.RuneCountInString(in) >= MinPasswordLen && strings.EqualFold(pw, in) {
				t.Fatalf("CheckPassword accepted %q, the user's own %q", pw, in)
			}
		}
	})
}

// FuzzParseAlertThresholds checks the alert levels field: what it accepts
// is 1–5 distinct whole percentages from 1 to 100, sorted, that format and
// parse back to themselves and make valid settings; refusals are EINVALID
// on the "thresholds" field.
func FuzzParseAlertThresholds(f *testing.F) {
	for _, s := range []string{"50, 80, 100", "50 80 100%", "100%,50%", "0", "101", "1,2,3,4,5,6", "80;80;80", "", " , ", "+50", "050",
		"5e1", "-1", "99999999999999999999", "50 %", "%", "1\t2", "٥٠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseAlertThresholds(s)
		if err != nil {
			wantInvalid(t, "ParseAlertThresholds("+strconv.Quote(s)+")", err)
			if ErrorFields(err)["thresholds"] == "" {
				t.Fatalf("ParseAlertThresholds(%q): %v names no field", s, err)
			}
			return
		}
		if len(ts) == 0 || len(ts) > MaxAlertThresholds || !slices.IsSorted(ts) || len(slices.Compact(slices.Clone(ts))) != len(ts) {
			t.Fatalf("ParseAlertThresholds(%q) = %v", s, ts)
		}
		for _, v := range ts {
			if v < 1 || v > 100 {
				t.Fatalf("ParseAlertThresholds(%q) = %v", s, ts)
			}
		}
		if back, err := ParseAlertThresholds(FormatAlertThresholds(ts)); err != nil || !slices.Equal(back, ts) {
			t.Fatalf("%v formats as %q and parses back as %v, %v", ts, FormatAlertThresholds(ts), back, err)
		}
		if err := (AlertSettings{Thresholds: ts}).Validate(); err != nil {
			t.Fatalf("settings with %v: %v", ts, err)
		}
	})
}

// FuzzParseMoney checks the auto-recharge cap's money field: accepted
// amounts are non-negative cents below $10^12 that FormatDollars and
// FormatMoney write in forms that parse back to the same cents; refusals
// are EINVALID with a message.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"120", "$120", "120.50", "1,200", "1,200.5", "$ 99.99", ".5", "5.", "1.234", "-5", "1,00", "12,345,678",
		"0", "000", "999999999999", "9999999999999", "1e3", "0x10", "١٢٠", "$$1", ",", "1,,000", "", "  $  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseMoney(s)
		if err != nil {
			wantInvalid(t, "ParseMoney("+strconv.Quote(s)+")", err)
			return
		}
		if c < 0 || c >= 1e14 {
			t.Fatalf("ParseMoney(%q) = %d cents", s, c)
		}
		for _, form := range []string{FormatDollars(c), FormatMoney(c, "usd")} {
			if back, err := ParseMoney(form); err != nil || back != c {
				t.Fatalf("ParseMoney(%q) = %d, written %q, reads back as %d, %v", s, c, form, back, err)
			}
		}
	})
}

// FuzzDayRange checks the day-range rules of the Overview's custom range,
// the usage reports and the Members tab: CheckDayRange accepts only two
// canonical YYYY-MM-DD days in order (they compare as strings as they do
// as dates), and ResolvePeriodOf always gives a known period whose range
// CheckDayRange accepts, whatever the key.
func FuzzDayRange(f *testing.F) {
	f.Add("2025-01-01", "2025-01-31", "month", int64(1735689600))
	f.Add("2025-02-29", "2025-03-01", "30d", int64(0))
	f.Add("2024-02-29", "2024-02-29", "90d", int64(-62135596800))
	f.Add("2025-1-1", "2025-01-02", "all", int64(253402300799))
	f.Add("0001-01-01", "9999-12-31", "", int64(1<<40))
	f.Add("2025-03-10", "2025-03-01", "7d", int64(-1<<40))
	f.Add(" 2025-01-01", "2025-01-01T00:00:00Z", "%00", int64(1))
	f.Fuzz(func(t *testing.T, from, to, key string, unix int64) {
		if err := CheckDayRange(from, to); err != nil {
			wantInvalid(t, "CheckDayRange", err)
		} else {
			a, err1 := time.Parse(time.DateOnly, from)
			b, err2 := time.Parse(time.DateOnly, to)
			if err1 != nil || err2 != nil || a.Format(time.DateOnly) != from || b.Format(time.DateOnly) != to || b.Before(a) || from > to {
				t.Fatalf("CheckDayRange accepted %q – %q", from, to)
			}
		}
		now := time.Unix(unix%(1<<40), 0) // ±35,000 years
		if now.Year() < 1 || now.Year() > 9999 {
			return // no day of such a year is written YYYY-MM-DD
		}
		for _, offered := range [][]string{UsagePeriodKeys, MemberPeriodKeys} {
			p := ResolvePeriodOf(offered, key, now)
			if !slices.Contains(offered, p.Key) || p.Label == "" || (slices.Contains(offered, key) && p.Key != key) {
				t.Fatalf("ResolvePeriodOf(%v, %q) = %+v", offered, key, p)
			}
			if p.From < "0001-01-01" {
				continue // 30 or 90 days before the year 1
			}
			if err := CheckDayRange(p.From, p.To); err != nil {
				t.Fatalf("ResolvePeriodOf(%v, %q, %v) = %+v, a range CheckDayRange refuses: %v", offered, key, now, p, err)
			}
		}
	})
}

var invoiceNumberShape = regexp.MustCompile(`^[A-Z0-9]{1,8}-[0-9]{4,}$`)

// FuzzInvoiceNumber checks the invoice numbering: whatever the slug, the
// prefix is 1–8 capitals and digits, and a number reads back as its prefix
// and sequence; numbers of one organization sort by sequence up to 9999.
func FuzzInvoiceNumber(f *testing.F) {
	f.Add("acme-inc", int64(1))
	f.Add("", int64(9999))
	f.Add("---", int64(10000))
	f.Add("ſıß-straße", int64(42))
	f.Add("a-very-long-organization-slug", int64(9223372036854775807))
	f.Add("日本", int64(7))
	f.Fuzz(func(t *testing.T, slug string, seq int64) {
		p := InvoicePrefix(slug)
		if p == "" || len(p) > 8 || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Fatalf("InvoicePrefix(%q) = %q", slug, p)
		}
		if seq < 1 {
			return // sequences start at 1
		}
		n := InvoiceNumber(p, seq)
		prefix, digits, _ := strings.Cut(n, "-")
		back, err := strconv.ParseInt(digits, 10, 64)
		if !invoiceNumberShape.MatchString(n) || prefix != p || err != nil || back != seq {
			t.Fatalf("InvoiceNumber(%q, %d) = %q", p, seq, n)
		}
		if seq < 9999 && InvoiceNumber(p, seq) >= InvoiceNumber(p, seq+1) {
			t.Fatalf("%q does not sort before %q", InvoiceNumber(p, seq), InvoiceNumber(p, seq+1))
		}
	})
}

// FuzzLooksLikeAPIKey checks the shape test every bearer secret passes
// before a database lookup: what it accepts is exactly obk_ and 52 base32
// capitals and digits (so garbage never reaches a query), fresh secrets
// always pass, and the display prefix is a prefix of the secret.
func FuzzLooksLikeAPIKey(f *testing.F) {
	f.Add(NewAPIKeySecret())
	f.Add("obk_")
	f.Add("obk_" + strings.Repeat("A", 52))
	f.Add("obk_" + strings.Repeat("a", 52))
	f.Add("obk_" + strings.Repeat("8", 52))
	f.Add("OBK_" + strings.Repeat("A", 52))
	f.Add("obk_" + strings.Repeat("A", 51) + "=")
	f.Add("obk_" + strings.Repeat("7", 53))
	f.Fuzz(func(t *testing.T, s string) {
		if LooksLikeAPIKey(s) {
			rest, ok := strings.CutPrefix(s, APIKeyPrefix)
			if !ok || len(rest) != 52 || strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
				t.Fatalf("LooksLikeAPIKey accepted %q", s)
			}
		}
		if p := APIKeyDisplayPrefix(s); !strings.HasPrefix(s, p) || len(p) > len(APIKeyPrefix)+6 {
			t.Fatalf("APIKeyDisplayPrefix(%q) = %q", s, p)
		}
		if fresh := NewAPIKeySecret(); !LooksLikeAPIKey(fresh) {
			t.Fatalf("a fresh secret %q fails the shape test", fresh)
		}
	})
}

// FuzzRoles checks the role fields of the member, invitation and grant
// forms: a string is a valid role only when it is one of the constants, and
// every valid role has a label.
func FuzzRoles(f *testing.F) {
	for _, s := range []string{"owner", "admin", "billing", "member", "manager", "", "Owner", "admin ", "none"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r := Role(s); r.Valid() != slices.Contains([]Role{RoleOwner, RoleAdmin, RoleBilling, RoleMember}, r) || (r.Valid() && r.Label() == "") {
			t.Fatalf("Role(%q): valid %v, label %q", s, r.Valid(), r.Label())
		}
		if r := Role(s); slices.Contains(InvitableRoles, r) && (!r.Valid() || r == RoleOwner) {
			t.Fatalf("Role(%q) is invitable", s)
		}
		if w := WorkspaceRole(s); w.Valid() != (w == WorkspaceMember || w == WorkspaceManager) || (w.Valid() && w.Label() == "") {
			t.Fatalf("WorkspaceRole(%q): valid %v, label %q", s, w.Valid(), w.Label())
		}
	})
}
