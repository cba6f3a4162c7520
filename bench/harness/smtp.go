package harness

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// smtpSink is the replicas' SMTP server: it accepts every message after a
// delay, so that email jobs are still running when a replica gets SIGTERM,
// and counts what it received and what is being received right now.
type smtpSink struct {
	srv   *smtp.Server
	port  int
	delay time.Duration

	mu       sync.Mutex
	received int
	active   int
}

type sinkSession struct{ k *smtpSink }

func (s sinkSession) Reset()                               {}
func (s sinkSession) Logout() error                        { return nil }
func (s sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s sinkSession) Data(r io.Reader) error {
	k := s.k
	k.mu.Lock()
	k.active++
	k.mu.Unlock()
	_, err := io.Copy(io.Discard, r)
	time.Sleep(k.delay)
	k.mu.Lock()
	k.active--
	if err == nil {
		k.received++
	}
	k.mu.Unlock()
	return err
}

func startSMTPSink(delay time.Duration) (*smtpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &smtpSink{port: ln.Addr().(*net.TCPAddr).Port, delay: delay}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{k}, nil }))
	k.srv.Domain = "sink.harness.test"
	k.srv.ReadTimeout, k.srv.WriteTimeout = 30*time.Second, 30*time.Second
	go k.srv.Serve(ln)
	return k, nil
}

// counts returns the messages received and those being received now.
func (k *smtpSink) counts() (received, active int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.received, k.active
}

func (k *smtpSink) Close() { k.srv.Close() }
