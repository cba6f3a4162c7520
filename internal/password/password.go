// Package password hashes and checks passwords with Argon2id.
package password

import "github.com/alexedwards/argon2id"

// params meet OWASP's minimum for Argon2id (19 MiB, 2 iterations, 1 lane).
var params = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Hash returns the encoded Argon2id hash of pw with a fresh salt.
func Hash(pw string) (string, error) {
	p := params
	return argon2id.CreateHash(pw, &p)
}

// Check reports whether pw matches hash; malformed hashes never match.
func Check(pw, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	return err == nil && ok
}
