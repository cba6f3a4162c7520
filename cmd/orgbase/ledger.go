package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// openLedgerDB opens the database for an operator command: migrated in
// development (as serve does), required to be current otherwise.
func openLedgerDB(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		return nil, err
	}
	if cfg.Dev() {
		err = db.Migrate(ctx)
	} else if err = db.Ready(ctx); err != nil {
		err = fmt.Errorf("%w (run `orgbase migrate up` first)", err)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// domainErr turns a domain error into the message a person can act on;
// anything else stays as it is.
func domainErr(what string, err error) error {
	if code := orgbase.ErrorCode(err); code != "" && code != orgbase.EINTERNAL {
		if code == orgbase.EINVALID {
			return usageError{what + ": " + orgbase.ErrorMessage(err)}
		}
		return fmt.Errorf("%s: %s", what, orgbase.ErrorMessage(err))
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ledgerCommand is `orgbase ledger check [--json]`: it verifies every
// account's balance against its transfers and exits non-zero on any mismatch.
func ledgerCommand(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError{"ledger needs: check [--json]"}
	}
	fs := flag.NewFlagSet("ledger check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"ledger check: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"ledger check takes no arguments"}
	}
	db, err := openLedgerDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.CheckLedger(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		err = writeJSON(stdout, struct {
			OK bool `json:"ok"`
			*store.LedgerCheck
		}{c.OK(), c})
	} else if c.OK() {
		_, err = fmt.Fprintf(stdout, "ledger ok: %d accounts, %d transfers\n", c.Accounts, c.Transfers)
	} else {
		for _, m := range c.Mismatches {
			if _, err = fmt.Fprintf(stdout, "mismatch: %s\n", m); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if !c.OK() {
		n := len(c.Mismatches)
		return fmt.Errorf("ledger check failed: %d problem%s in %d accounts, %d transfers", n, plural(n), c.Accounts, c.Transfers)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// creditsCommand is `orgbase credits grant --org SLUG --amount N [--memo …]
// [--key …] [--json]`: the operator's grant of credits to an organization's
// pool. With --key, running it again grants nothing more.
func creditsCommand(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "grant" {
		return usageError{"credits needs: grant --org SLUG --amount N [--memo TEXT] [--key KEY] [--json]"}
	}
	fs := flag.NewFlagSet("credits grant", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("org", "", "the organization's slug")
	amountText := fs.String("amount", "", "credits to grant, up to three decimals (100.5)")
	memo := fs.String("memo", "", "why (kept with the transfer)")
	key := fs.String("key", "", "idempotency key: a repeat with the same key grants nothing more")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"credits grant: " + err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{"credits grant takes no arguments besides its flags"}
	case strings.TrimSpace(*slug) == "":
		return usageError{"credits grant: --org is required"}
	case *amountText == "":
		return usageError{"credits grant: --amount is required"}
	}
	amount, err := orgbase.ParseCredits(*amountText)
	if err != nil {
		return usageError{"credits grant: --amount: " + orgbase.ErrorMessage(err)}
	}
	if amount == 0 {
		return usageError{"credits grant: --amount must be above zero"}
	}
	db, err := openLedgerDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	org, err := db.FindOrgBySlug(ctx, strings.TrimSpace(*slug))
	if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
		return fmt.Errorf("credits grant: no organization %q", *slug)
	} else if err != nil {
		return err
	}
	t, err := db.GrantCredits(ctx, org.ID, amount, *memo, *key)
	if err != nil {
		return domainErr("credits grant", err)
	}
	pool, err := db.PoolBalance(ctx, org.ID)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, struct {
			TransferID     int64           `json:"transfer_id"`
			Org            string          `json:"org"`
			Amount         orgbase.Credits `json:"amount"`
			PoolBalance    orgbase.Credits `json:"pool_balance"`
			Replayed       bool            `json:"replayed"`
			IdempotencyKey string          `json:"idempotency_key,omitempty"`
			Memo           string          `json:"memo,omitempty"`
			CreatedAt      time.Time       `json:"created_at"`
		}{t.ID, org.Slug, t.Amount, pool, t.Replayed, t.IdempotencyKey, t.Memo, t.CreatedAt})
	}
	if t.Replayed {
		_, err = fmt.Fprintf(stdout, "already granted with key %q: %s credits to %s (transfer %d); nothing changed; pool balance %s\n",
			t.IdempotencyKey, t.Amount, org.Slug, t.ID, pool)
	} else {
		_, err = fmt.Fprintf(stdout, "granted %s credits to %s (transfer %d); pool balance %s\n", t.Amount, org.Slug, t.ID, pool)
	}
	return err
}
