package orgbase

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// Field length limits, in characters.
const (
	MaxNameLen          = 100
	MaxEmailLen         = 254
	MinPasswordLen      = 10
	MaxPasswordLen      = 128
	MinSlugLen          = 3
	MaxSlugLen          = 40
	MaxOrgNameLen       = 80
	MaxDescriptionLen   = 1000
	MaxWorkspaceNameLen = 80
)

// Validator collects field errors; its Err is nil when there are none.
type Validator struct {
	Fields map[string]string
}

// Check records msg for field when ok is false and the field has no message yet.
func (v *Validator) Check(ok bool, field, msg string) {
	if ok {
		return
	}
	if v.Fields == nil {
		v.Fields = map[string]string{}
	}
	if _, seen := v.Fields[field]; !seen {
		v.Fields[field] = msg
	}
}

// Add records an error for field from err when err is not nil.
func (v *Validator) Add(field string, err error) {
	if err != nil {
		v.Check(false, field, ErrorMessage(err))
	}
}

// Valid reports whether no field has an error.
func (v *Validator) Valid() bool { return len(v.Fields) == 0 }

// Err returns an EINVALID *Error with every field message, or nil.
func (v *Validator) Err() error {
	if v.Valid() {
		return nil
	}
	return &Error{Code: EINVALID, Message: "Please correct the highlighted fields.", Fields: v.Fields}
}

// CleanText trims s and checks it is valid UTF-8 without control characters
// and at most max characters; required says whether it may be empty.
func CleanText(s string, label string, max int, required bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", Errorf(EINVALID, "%s contains characters we cannot read.", label)
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", Errorf(EINVALID, "%s is required.", label)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", Errorf(EINVALID, "%s must be at most %d characters.", label, max)
	}
	for _, r := range s {
		if r == '\n' || r == '\t' || r == '\r' {
			if max >= MaxDescriptionLen {
				continue // multi-line fields keep their line breaks
			}
		}
		if unicode.IsControl(r) {
			return "", Errorf(EINVALID, "%s contains characters that are not allowed.", label)
		}
	}
	return s, nil
}

// NormalizeEmail validates an email address and returns it trimmed and
// lower-cased. Display names ("Ann <ann@x.org>") are refused.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", Errorf(EINVALID, "Email contains characters we cannot read.")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(EINVALID, "Email is required.")
	}
	if len(s) > MaxEmailLen {
		return "", Errorf(EINVALID, "Email must be at most %d characters.", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", Errorf(EINVALID, "Enter an email address like name@example.com.")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.ContainsAny(s, " \"[]\\") {
		return "", Errorf(EINVALID, "Enter an email address like name@example.com.")
	}
	// Lower-casing can lengthen an address ("Ⱥ" is two bytes, "ⱥ" three):
	// the limit holds for what is stored.
	if s = strings.ToLower(s); len(s) > MaxEmailLen {
		return "", Errorf(EINVALID, "Email must be at most %d characters.", MaxEmailLen)
	}
	return s, nil
}

// CheckPassword refuses passwords that are too short, too long, or easy to
// guess (common passwords, keyboard patterns, or built from the user's own
// name or email), judged by zxcvbn.
func CheckPassword(password string, userInputs ...string) error {
	if !utf8.ValidString(password) {
		return Errorf(EINVALID, "Password contains characters we cannot read.")
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen {
		return Errorf(EINVALID, "Use at least %d characters.", MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return Errorf(EINVALID, "Use at most %d characters.", MaxPasswordLen)
	}
	var inputs []string
	for _, in := range userInputs {
		if in == "" {
			continue
		}
		inputs = append(inputs, in)
		if local, _, ok := strings.Cut(in, "@"); ok {
			inputs = append(inputs, local)
		}
	}
	if zxcvbn.PasswordStrength(password, inputs).Score < 3 {
		return Errorf(EINVALID, "This password is too easy to guess. Try a longer phrase of unrelated words.")
	}
	return nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// reservedSlugs would collide with routes under /orgs/.
var reservedSlugs = map[string]bool{"new": true, "api": true, "admin": true, "settings": true, "static": true}

// CheckSlug validates an organization slug: 3–40 lower-case letters, digits
// and inner hyphens, not a reserved word.
func CheckSlug(s string) error {
	if !utf8.ValidString(s) || !slugRE.MatchString(s) || strings.Contains(s, "--") {
		return Errorf(EINVALID, "Use lower-case letters, digits and single hyphens, starting and ending with a letter or digit.")
	}
	if len(s) < MinSlugLen || len(s) > MaxSlugLen {
		return Errorf(EINVALID, "Use between %d and %d characters.", MinSlugLen, MaxSlugLen)
	}
	if reservedSlugs[s] {
		return Errorf(EINVALID, "%q is reserved. Choose another.", s)
	}
	return nil
}

// Slugify derives a slug candidate from an organization name. The result may
// still fail CheckSlug (for example when the name has no letters).
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		default:
			if r2, ok := foldLatin(r); ok {
				b.WriteRune(r2)
				dash = false
			} else if b.Len() > 0 && !dash {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= MaxSlugLen {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > MaxSlugLen {
		s = strings.Trim(s[:MaxSlugLen], "-")
	}
	return s
}

// foldLatin maps common accented Latin letters to their base letter.
func foldLatin(r rune) (rune, bool) {
	const from = "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿ"
	const to = "aaaaaaceeeeiiiinoooooouuuuyy"
	i := 0
	for _, f := range from {
		if f == r {
			return rune(to[i]), true
		}
		i++
	}
	return 0, false
}

// OneOf reports whether s is empty or one of choices.
func OneOf(s string, choices []string) bool {
	if s == "" {
		return true
	}
	for _, c := range choices {
		if s == c {
			return true
		}
	}
	return false
}
