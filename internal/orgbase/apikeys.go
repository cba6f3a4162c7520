package orgbase

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// API keys (SPEC §6): a workspace's key authenticates the usage API for that
// workspace and every workspace below it. The secret is shown once; the
// database keeps its SHA-256 and a short prefix to recognise it by.

// APIKeyPrefix starts every key, so leaked keys are easy to scan for.
const APIKeyPrefix = "obk_"

// MaxAPIKeyNameLen is the longest key name, in characters.
const MaxAPIKeyNameLen = 80

// APIKey is a workspace API key as lists show it (never the secret).
type APIKey struct {
	ID            int64
	OrgID         int64
	WorkspaceID   int64
	Name          string
	Prefix        string // the first characters of the secret, e.g. "obk_3FQK7W"
	CreatedBy     *int64
	CreatedByName string // filled by list queries
	CreatedAt     time.Time
	LastUsedAt    *time.Time
	RevokedAt     *time.Time
}

// Revoked reports whether the key no longer authenticates.
func (k *APIKey) Revoked() bool { return k.RevokedAt != nil }

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewAPIKeySecret returns a fresh secret: the prefix and 32 random bytes in
// base32 (52 characters).
func NewAPIKeySecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return APIKeyPrefix + keyEncoding.EncodeToString(b)
}

// HashAPIKey is the stored form of a secret (hex SHA-256). The secret has
// 256 random bits, so a fast hash is enough: nobody can guess one back.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// APIKeyDisplayPrefix is what lists show of a secret.
func APIKeyDisplayPrefix(secret string) string {
	if len(secret) > len(APIKeyPrefix)+6 {
		return secret[:len(APIKeyPrefix)+6]
	}
	return secret
}

// LooksLikeAPIKey reports whether s has the shape of a key (before any
// database lookup, so garbage never reaches a query): the prefix and 52
// characters of the base32 alphabet that decode to 32 bytes. The alphabet is
// checked byte by byte because encoding/base32 without padding accepts some
// bytes outside it in the last group (FuzzLooksLikeAPIKey found
// "obk_2…2\xff\xff\xff0000", which decodes to 28 bytes without an error).
func LooksLikeAPIKey(s string) bool {
	rest, ok := strings.CutPrefix(s, APIKeyPrefix)
	if !ok || len(rest) != keyEncoding.EncodedLen(32) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	b, err := keyEncoding.DecodeString(rest)
	return err == nil && len(b) == 32
}

// CleanAPIKeyName trims and checks a key name: EINVALID on "name".
func CleanAPIKeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", invalidField("name", "Give the key a name, e.g. the tool that will use it.")
	case !Printable(name):
		return "", invalidField("name", "The name contains characters that cannot be shown.")
	case utf8.RuneCountInString(name) > MaxAPIKeyNameLen:
		return "", invalidField("name", "Keep the name under 80 characters.")
	}
	return name, nil
}
