package jobs

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/riverqueue/river/rivertype"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/mail"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// sink is an in-process SMTP server that keeps every message it accepts.
type sink struct {
	mu   sync.Mutex
	msgs []received
	srv  *smtp.Server
}

type received struct {
	from string
	to   []string
	data []byte
}

type session struct {
	s   *sink
	cur received
}

func (s *session) Reset()                                      { s.cur = received{} }
func (s *session) Logout() error                               { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.cur.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.s.mu.Lock()
	s.s.msgs = append(s.s.msgs, s.cur)
	s.s.mu.Unlock()
	return nil
}

// listen serves SMTP on addr ("127.0.0.1:0" for any port) until the test ends.
func (k *sink) listen(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: k}, nil }))
	k.srv.Domain = "sink.test"
	k.srv.AllowInsecureAuth = true
	k.srv.ReadTimeout, k.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go k.srv.Serve(ln)
	t.Cleanup(func() { k.srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func (k *sink) messages() []received {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]received(nil), k.msgs...)
}

// freePort returns a port nothing listens on (for an SMTP server that is down).
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// fixedRetry retries failed jobs after a short, fixed delay.
type fixedRetry time.Duration

func (d fixedRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(time.Duration(d)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// start runs a Runner against an SMTP server on 127.0.0.1:port, stopped
// before the test's database closes.
func start(t *testing.T, db *store.DB, port int) *Runner {
	t.Helper()
	m, err := mail.NewSMTP(config.SMTP{Host: "127.0.0.1", Port: port, From: "Orgbase <no-reply@orgbase.test>", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(db, m, Options{
		Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		RetryPolicy:       fixedRetry(100 * time.Millisecond),
		FetchPollInterval: 50 * time.Millisecond,
		StopTimeout:       5 * time.Second,
		testOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		db.SetEmailEnqueuer(nil)
	})
	return r
}

// signUp is a committed change with an email: a new user and their
// verification message.
// invite creates an organization and invites email to it (with its email).
func invite(ctx context.Context, db *store.DB, email string) (*orgbase.Email, error) {
	owner, err := db.CreateVerifiedUser(ctx, "owner-"+email, "Owner", "x")
	if err != nil {
		return nil, err
	}
	org, err := db.CreateOrg(ctx, owner, store.NewOrg{Name: "Acme", Slug: "acme-" + strconv.FormatInt(owner, 10)})
	if err != nil {
		return nil, err
	}
	e := &orgbase.Email{To: email, Subject: "Owner invited you to Acme on Orgbase",
		Text: "Accept: https://orgbase.test/invites/tok\n", HTML: `<p><a href="https://orgbase.test/invites/tok">Accept</a></p>`}
	_, err = db.CreateInvitations(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.InviteBatch{Role: orgbase.RoleMember,
		ExpiresAt: time.Now().Add(time.Hour), Invites: []store.NewInvite{{Email: email, TokenHash: "hash-" + email, Mail: e}}})
	return e, err
}

func signUp(ctx context.Context, db *store.DB, email string) (*orgbase.User, *orgbase.Email, error) {
	e := &orgbase.Email{To: email, Subject: "Verify your email for Orgbase",
		Text: "Hello,\n\nPlease verify: https://orgbase.test/verify/abc\n", HTML: `<p>Hello,</p><p><a href="https://orgbase.test/verify/abc">Verify</a></p>`}
	u, err := db.CreateUser(ctx, email, "Ann", "not-a-real-hash", store.NewToken{Hash: "hash-" + email, ExpiresAt: time.Now().Add(time.Hour), Email: e})
	return u, e, err
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func delivery(t *testing.T, db *store.DB, id int64) *store.EmailDelivery {
	t.Helper()
	d, err := db.FindEmailDelivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func countJobs(t *testing.T, db *store.DB) (n int) {
	t.Helper()
	if err := db.SQL().QueryRow("SELECT count(*) FROM river_job").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func jobStates(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.SQL().Query("SELECT state FROM river_job ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// parts returns the message's header and its body parts by content type.
func parts(t *testing.T, data []byte) (netmail.Header, map[string]string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			b, _ = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	return msg.Header, out
}

// A committed change's email arrives once, with its subject, recipient and
// both parts, and its outbox row is marked sent.
func TestEmailDelivered(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var k sink
		start(t, db, k.listen(t, "127.0.0.1:0"))

		_, e, err := signUp(ctx, db, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the email to be marked sent", 10*time.Second, func() bool { return delivery(t, db, e.ID).SentAt != nil })
		msgs := k.messages()
		if len(msgs) != 1 {
			t.Fatalf("server received %d messages, want 1", len(msgs))
		}
		m := msgs[0]
		if m.from != "no-reply@orgbase.test" || len(m.to) != 1 || m.to[0] != "ann@example.com" {
			t.Errorf("envelope from %q to %q", m.from, m.to)
		}
		h, body := parts(t, m.data)
		if h.Get("Subject") != e.Subject || h.Get("To") != "<ann@example.com>" || !strings.Contains(h.Get("From"), "no-reply@orgbase.test") {
			t.Errorf("headers: Subject %q, To %q, From %q", h.Get("Subject"), h.Get("To"), h.Get("From"))
		}
		if body["text/plain"] != e.Text {
			t.Errorf("text part = %q, want %q", body["text/plain"], e.Text)
		}
		if body["text/html"] != e.HTML {
			t.Errorf("html part = %q, want %q", body["text/html"], e.HTML)
		}
		if d := delivery(t, db, e.ID); d.Attempts != 1 || d.LastError != "" {
			t.Errorf("delivery = %+v, want 1 attempt and no error", d)
		}
		waitFor(t, "the job to complete", 5*time.Second, func() bool {
			st := jobStates(t, db)
			return len(st) == 1 && st[0] == string(rivertype.JobStateCompleted)
		})
	})
}

// A change that rolls back after its email and delivery job were written
// leaves neither, and nothing is sent.
func TestRolledBackChangeSendsNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var k sink
		r := start(t, db, k.listen(t, "127.0.0.1:0"))
		boom := errors.New("boom")
		enqueued := 0
		db.SetEmailEnqueuer(func(ctx context.Context, tx *sql.Tx, id int64) error {
			if err := r.EnqueueEmail(ctx, tx, id); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&n); err != nil || n != 1 {
				t.Errorf("inside the transaction: %d jobs (%v), want 1", n, err)
			}
			enqueued++
			return boom // something later in the change fails
		})
		if _, _, err := signUp(ctx, db, "bob@example.com"); !errors.Is(err, boom) {
			t.Fatalf("signUp: got %v, want boom", err)
		}
		if enqueued != 1 {
			t.Fatalf("enqueuer ran %d times, want 1", enqueued)
		}
		if exists, err := db.UserExists(ctx, "bob@example.com"); err != nil || exists {
			t.Errorf("user exists = %v (%v) after rollback", exists, err)
		}
		if es, err := db.FindEmails(ctx, "", 10); err != nil || len(es) != 0 {
			t.Errorf("outbox = %d emails (%v) after rollback", len(es), err)
		}
		if n := countJobs(t, db); n != 0 {
			t.Errorf("%d jobs after rollback, want 0", n)
		}

		// The next committed change is delivered; the rolled-back one never is.
		db.SetEmailEnqueuer(r.EnqueueEmail)
		_, e, err := signUp(ctx, db, "cat@example.com")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the committed email", 10*time.Second, func() bool { return delivery(t, db, e.ID).SentAt != nil })
		time.Sleep(200 * time.Millisecond)
		msgs := k.messages()
		if len(msgs) != 1 || msgs[0].to[0] != "cat@example.com" {
			t.Errorf("server received %d messages (%v), want only cat's", len(msgs), msgs)
		}
	})
}

// With the SMTP server down the change still commits and the job keeps
// retrying; once the server is up the email arrives exactly once.
func TestSMTPDownRetriesUntilDelivered(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		port := freePort(t)
		start(t, db, port)

		// The change is an invitation, as an admin sends it.
		e, err := invite(ctx, db, "dan@example.com")
		if err != nil {
			t.Fatalf("the invitation must be created with the SMTP server down: %v", err)
		}
		waitFor(t, "two failed attempts", 10*time.Second, func() bool { return delivery(t, db, e.ID).Attempts >= 2 })
		d := delivery(t, db, e.ID)
		if d.SentAt != nil || d.LastError == "" {
			t.Fatalf("while down: delivery = %+v, want unsent with an error", d)
		}
		if st := jobStates(t, db); len(st) != 1 || st[0] == string(rivertype.JobStateDiscarded) || st[0] == string(rivertype.JobStateCompleted) {
			t.Fatalf("while down: job states %v, want one job still to retry", st)
		}

		var k sink
		k.listen(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		waitFor(t, "delivery after the server came back", 10*time.Second, func() bool { return delivery(t, db, e.ID).SentAt != nil })
		waitFor(t, "the job to complete", 5*time.Second, func() bool {
			st := jobStates(t, db)
			return len(st) == 1 && st[0] == string(rivertype.JobStateCompleted)
		})
		time.Sleep(300 * time.Millisecond) // any duplicate would arrive now
		msgs := k.messages()
		if len(msgs) != 1 || msgs[0].to[0] != "dan@example.com" {
			t.Fatalf("server received %d messages, want exactly 1", len(msgs))
		}
		d = delivery(t, db, e.ID)
		if d.Attempts < 3 || d.LastError != "" {
			t.Errorf("after delivery: %+v, want ≥3 attempts counted and the error cleared", d)
		}
	})
}

// Without SMTP (the dev mailbox) no Runner exists: the email stays in the
// outbox and no job is inserted.
func TestNoSMTPKeepsOutboxOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		_, e, err := signUp(context.Background(), db, "eve@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := db.FindEmailByID(context.Background(), e.ID); err != nil || got.SentAt != nil {
			t.Fatalf("outbox email = %+v, %v", got, err)
		}
		if n := countJobs(t, db); n != 0 {
			t.Errorf("%d jobs without SMTP, want 0", n)
		}
	})
}
