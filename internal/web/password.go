package web

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/orgbase/orgbase/internal/password"
)

func hashPassword(pw string) (string, error) { return password.Hash(pw) }

func checkPassword(pw, hash string) bool { return password.Check(pw, hash) }

// dummyHash is compared against when no account matches, so a login for an
// unknown address costs the same time as one for a known address.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = hashPassword("not the password of anybody at all") })
	return s.dummy
}

// newToken returns a random 256-bit token for a link and the hash we store.
func newToken() (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashSecret(token)
}
