package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
)

const sessionCookie = "orgbase_session"

// Session value keys.
const (
	keyUserID    = "uid"
	keyCreated   = "created" // unix seconds of sign-in, for the absolute timeout
	keyFlashKind = "flash_kind"
	keyFlashMsg  = "flash_msg"
	keyLastOrg   = "last_org"
)

// metaKey holds the loaded row in Values; Save strips it before encoding.
type metaKey struct{}

// sessionStore is a gorilla sessions.Store backed by the sessions table. The
// cookie carries a random secret signed with securecookie; the table is keyed
// by the secret's SHA-256, so a database leak does not leak live sessions.
// It records each session's user, device and IP so that people can list and
// end their sessions, and so that logout and revocation are real.
type sessionStore struct {
	db     SessionStore
	codecs []securecookie.Codec
	secure bool
	idle   time.Duration
	max    time.Duration
	now    func() time.Time
}

func newSessionStore(db SessionStore, keys [][]byte, secure bool, idle, max time.Duration, now func() time.Time) *sessionStore {
	pairs := make([][]byte, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, nil) // hash keys only: the cookie value is an opaque random id
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(int(max.Seconds()))
		}
	}
	return &sessionStore{db: db, codecs: codecs, secure: secure, idle: idle, max: max, now: now}
}

func (st *sessionStore) options() *sessions.Options {
	return &sessions.Options{Path: "/", MaxAge: int(st.max.Seconds()), HttpOnly: true, Secure: st.secure, SameSite: http.SameSiteLaxMode}
}

// Get returns the request's session, cached per request by gorilla's registry.
func (st *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(st, name)
}

// New loads the session named by the request's cookie, or starts an empty one.
func (st *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	s := sessions.NewSession(st, name)
	s.Options = st.options()
	s.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return s, nil
	}
	var secret string
	if err := securecookie.DecodeMulti(name, c.Value, &secret, st.codecs...); err != nil {
		return s, nil // a forged or stale cookie is simply no session
	}
	row, err := st.db.FindSession(r.Context(), hashSecret(secret))
	if err != nil {
		if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
			return s, nil
		}
		return s, err
	}
	if len(row.Data) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(row.Data)).Decode(&s.Values); err != nil {
			return s, nil
		}
	}
	s.ID, s.IsNew = secret, false
	s.Values[metaKey{}] = row
	return s, nil
}

// Save writes the session row and the cookie; MaxAge < 0 deletes both.
func (st *sessionStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Options.MaxAge < 0 {
		if s.ID != "" {
			if err := st.db.DeleteSession(r.Context(), hashSecret(s.ID)); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(s.Name(), "", s.Options))
		return nil
	}
	now := st.now().UTC()
	row, _ := s.Values[metaKey{}].(*orgbase.Session)
	isNew := s.ID == "" || row == nil
	if isNew {
		s.ID = newSecret()
		row = &orgbase.Session{CreatedAt: now}
	}
	values := make(map[any]any, len(s.Values))
	for k, v := range s.Values {
		if _, meta := k.(metaKey); !meta {
			values[k] = v
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(values); err != nil {
		return err
	}
	uid, _ := values[keyUserID].(int64)
	row.ID, row.UserID, row.Data = hashSecret(s.ID), uid, buf.Bytes()
	row.UserAgent, row.IP = truncate(r.UserAgent(), 300), clientIP(r)
	row.LastSeenAt = now
	row.ExpiresAt = st.expiry(row.CreatedAt, now)
	if isNew {
		if err := st.db.SaveSession(r.Context(), row); err != nil {
			return err
		}
	} else if err := st.db.UpdateSession(r.Context(), row); err != nil {
		if orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			return err
		}
		// The session ended while this request ran (logout elsewhere, a
		// password change): never bring it back; start an anonymous one.
		delete(s.Values, keyUserID)
		delete(s.Values, metaKey{})
		s.ID = ""
		return st.Save(r, w, s)
	}
	s.Values[metaKey{}] = row
	encoded, err := securecookie.EncodeMulti(s.Name(), s.ID, st.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(s.Name(), encoded, s.Options))
	return nil
}

// expiry is the earlier of the idle and the absolute deadline.
func (st *sessionStore) expiry(created, seen time.Time) time.Time {
	idle, abs := seen.Add(st.idle), created.Add(st.max)
	if abs.Before(idle) {
		return abs
	}
	return idle
}

// touch records activity at most once a minute, pushing the idle deadline.
func (st *sessionStore) touch(ctx context.Context, s *sessions.Session) error {
	row, _ := s.Values[metaKey{}].(*orgbase.Session)
	if row == nil {
		return nil
	}
	now := st.now().UTC()
	if now.Sub(row.LastSeenAt) < time.Minute {
		return nil
	}
	row.LastSeenAt, row.ExpiresAt = now, st.expiry(row.CreatedAt, now)
	return st.db.TouchSession(ctx, row.ID, row.LastSeenAt, row.ExpiresAt)
}

// sessionRowID returns the stored id (hash) of the request's session, or "".
func sessionRowID(s *sessions.Session) string {
	if row, _ := s.Values[metaKey{}].(*orgbase.Session); row != nil {
		return row.ID
	}
	return ""
}

func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// clientIP is the peer address. Orgbase does not trust forwarding headers
// unless placed behind a proxy that Echo is configured for.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// session returns the request's session (loaded by the session middleware).
func session(c echo.Context) *sessions.Session {
	s, _ := c.Get("session").(*sessions.Session)
	return s
}

// saveSession writes the session; failures are internal errors.
func (s *Server) saveSession(c echo.Context) error {
	sess := session(c)
	if sess == nil {
		return errors.New("no session in context")
	}
	return sess.Save(c.Request(), c.Response())
}

// startSession signs the user in with a brand-new session id (the old one, if
// any, is deleted), so a session fixed before login is useless after it.
func (s *Server) startSession(c echo.Context, userID int64) error {
	sess := session(c)
	if old := sessionRowID(sess); old != "" {
		if err := s.sessions.db.DeleteSession(c.Request().Context(), old); err != nil {
			return err
		}
	}
	delete(sess.Values, metaKey{})
	sess.ID = ""
	sess.Values[keyUserID] = userID
	sess.Values[keyCreated] = s.now().Unix()
	return s.saveSession(c)
}

// endSession signs out: deletes the row and clears the cookie.
func (s *Server) endSession(c echo.Context) error {
	sess := session(c)
	sess.Options.MaxAge = -1
	return s.saveSession(c)
}

// flash stores a message for the next page.
func (s *Server) flash(c echo.Context, kind, msg string) error {
	sess := session(c)
	sess.Values[keyFlashKind], sess.Values[keyFlashMsg] = kind, msg
	return s.saveSession(c)
}
