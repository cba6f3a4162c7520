// Package jobs runs Orgbase's background jobs on River
// (github.com/riverqueue/river), a job queue that lives in the application's
// own database: PostgreSQL through River's database/sql driver, SQLite through
// its SQLite driver, both on the connection pool GORM uses. River's tables are
// created by store.Migrate.
//
// Two jobs run today:
//
//   - send_email delivers an outbox email over SMTP. With a mailer, New
//     registers itself with the store as the email enqueuer, so every email
//     written from then on gets a delivery job inserted in the very
//     transaction that writes it: a rolled-back change sends nothing and a
//     committed one is never lost. A failed delivery is retried with River's
//     backoff (attempt⁴ seconds, about three weeks over EmailMaxAttempts
//     tries). Without an SMTP server (the dev mailbox) emails stay in the
//     outbox and no delivery jobs are inserted.
//   - billing (billing.go) renews subscriptions and charges auto-recharges.
//     It is a River periodic job: only the elected leader among the
//     instances inserts it, and its unique options keep one per interval.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/mail"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// QueueEmail is the queue email deliveries run on.
const QueueEmail = "email"

// EmailMaxAttempts is how many times a delivery is tried before River
// discards the job (the email stays in the outbox with its last error).
const EmailMaxAttempts = 25

// SendEmailArgs is the job that delivers one outbox email.
type SendEmailArgs struct {
	EmailID int64 `json:"email_id"`
}

// Kind is the job's name in River's tables.
func (SendEmailArgs) Kind() string { return "send_email" }

// InsertOpts puts the job on the email queue with its attempt budget.
func (SendEmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEmail, MaxAttempts: EmailMaxAttempts}
}

// Options tune New.
type Options struct {
	// Logger receives River's and the workers' logs; nil discards them.
	Logger *slog.Logger
	// RetryPolicy schedules retries; nil keeps River's default exponential
	// backoff. Tests inject short delays.
	RetryPolicy river.ClientRetryPolicy
	// FetchPollInterval is how often workers look for new jobs (River polls:
	// neither driver here listens for notifications). Defaults to 1 second.
	FetchPollInterval time.Duration
	// EmailWorkers is how many emails are sent at once. Defaults to 4.
	EmailWorkers int
	// StopTimeout is how long Stop lets running jobs finish before cancelling
	// them. Defaults to 20 seconds.
	StopTimeout time.Duration
	// Payments is the payment provider the billing job charges; nil runs no
	// billing job.
	Payments billing.Provider
	// BillingInterval is how often the billing job runs. Defaults to BillingIntervalDefault.
	BillingInterval time.Duration

	testOnly bool
}

// Runner owns the River client.
type Runner struct {
	db     *store.DB
	client *river.Client[*sql.Tx]
	log    *slog.Logger
	biller *Biller // nil without a payment provider
}

// New creates the River client. With a mailer it adds the email worker and
// registers it with db as the email enqueuer; with opt.Payments it adds the
// periodic billing job. Call Start to work jobs.
func New(db *store.DB, mailer mail.Mailer, opt Options) (*Runner, error) {
	if mailer == nil && opt.Payments == nil {
		return nil, errors.New("jobs: nothing to run (no mailer, no payment provider)")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	workers := opt.EmailWorkers
	if workers <= 0 {
		workers = 4
	}
	stop := opt.StopTimeout
	if stop <= 0 {
		stop = 20 * time.Second
	}
	var cooldown time.Duration // River's default unless polling is faster
	if opt.FetchPollInterval > 0 && opt.FetchPollInterval < river.FetchCooldownDefault {
		cooldown = opt.FetchPollInterval
	}
	r := &Runner{db: db, log: log}
	ws := river.NewWorkers()
	queues := map[string]river.QueueConfig{}
	if mailer != nil {
		if err := river.AddWorkerSafely(ws, &sendEmailWorker{db: db, mailer: mailer, log: log}); err != nil {
			return nil, err
		}
		queues[QueueEmail] = river.QueueConfig{MaxWorkers: workers}
	}
	var periodic []*river.PeriodicJob
	if opt.Payments != nil {
		every := opt.BillingInterval
		if every <= 0 {
			every = BillingIntervalDefault
		}
		r.biller = &Biller{DB: db, Payments: opt.Payments, Log: log}
		if err := river.AddWorkerSafely(ws, &billingWorker{b: r.biller}); err != nil {
			return nil, err
		}
		queues[QueueBilling] = river.QueueConfig{MaxWorkers: 1}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) {
				// One pass per interval even if two instances think they lead.
				return BillingArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: max(every, time.Second)}}
			}, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	client, err := river.NewClient(db.RiverDriver(), &river.Config{
		Logger:            log,
		Workers:           ws,
		Queues:            queues,
		PeriodicJobs:      periodic,
		MaxAttempts:       EmailMaxAttempts,
		RetryPolicy:       opt.RetryPolicy,
		FetchPollInterval: opt.FetchPollInterval,
		FetchCooldown:     cooldown,
		// SQLite's driver would otherwise poll a notification table every
		// 50 ms on the single connection; the database/sql PostgreSQL
		// driver polls anyway.
		PollOnly:        true,
		JobTimeout:      2 * mail.SMTPTimeout,
		SoftStopTimeout: stop,
		TestOnly:        opt.testOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	r.client = client
	if mailer != nil {
		db.SetEmailEnqueuer(r.EnqueueEmail)
	}
	return r, nil
}

// EnqueueEmail inserts the delivery job of outbox email emailID inside tx.
func (r *Runner) EnqueueEmail(ctx context.Context, tx *sql.Tx, emailID int64) error {
	if _, err := r.client.InsertTx(ctx, tx, SendEmailArgs{EmailID: emailID}, nil); err != nil {
		return fmt.Errorf("enqueue email %d: %w", emailID, err)
	}
	return nil
}

// Start starts working jobs in the background. Cancelling ctx does not stop
// them: call Stop.
func (r *Runner) Start(ctx context.Context) error {
	return r.client.Start(context.WithoutCancel(ctx))
}

// Stop stops fetching jobs and waits for running ones to finish (cancelling
// them after Options.StopTimeout), or until ctx is done.
func (r *Runner) Stop(ctx context.Context) error {
	return r.client.Stop(ctx)
}

// sendEmailWorker delivers one outbox email and records the attempt on its
// row. A returned error makes River retry the job later.
type sendEmailWorker struct {
	river.WorkerDefaults[SendEmailArgs]
	db     *store.DB
	mailer mail.Mailer
	log    *slog.Logger
}

func (w *sendEmailWorker) Work(ctx context.Context, job *river.Job[SendEmailArgs]) error {
	e, err := w.db.FindEmailByID(ctx, job.Args.EmailID)
	if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
		return river.JobCancel(err) // nothing left to send
	}
	if err != nil {
		return err
	}
	if e.SentAt != nil {
		return nil // delivered by an earlier attempt
	}
	// Record the outcome even when the job's context ends with the send.
	rec := context.WithoutCancel(ctx)
	if err := w.mailer.Send(ctx, e); err != nil {
		if rerr := w.db.RecordEmailFailure(rec, e.ID, err); rerr != nil {
			w.log.Error("record email failure", slog.Int64("email_id", e.ID), slog.String("error", rerr.Error()))
		}
		w.log.Warn("email delivery failed", slog.Int64("email_id", e.ID), slog.Int("attempt", job.Attempt),
			slog.Int("max_attempts", job.MaxAttempts), slog.String("error", err.Error()))
		return err
	}
	if err := w.db.MarkEmailSent(rec, e.ID); err != nil {
		// The server has the message: retrying would send it twice.
		w.log.Error("email sent but not marked as sent", slog.Int64("email_id", e.ID), slog.String("error", err.Error()))
	}
	return nil
}
