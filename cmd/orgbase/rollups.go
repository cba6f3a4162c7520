package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// rollupsCommand is `orgbase rollups check|rebuild [--org SLUG] [--json]`:
// check compares the daily usage rollups with a recomputation from the raw
// usage events and exits non-zero on any difference; rebuild rewrites them
// from the events, then checks.
func rollupsCommand(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	const help = "rollups needs: check|rebuild [--org SLUG] [--json]"
	if len(args) == 0 || (args[0] != "check" && args[0] != "rebuild") {
		return usageError{help}
	}
	verb := args[0]
	fs := flag.NewFlagSet("rollups "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("org", "", "only this organization (default: all)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"rollups " + verb + ": " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"rollups " + verb + " takes no arguments; " + help}
	}
	db, err := openLedgerDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var orgID int64
	if s := strings.TrimSpace(*slug); s != "" {
		org, err := db.FindOrgBySlug(ctx, s)
		if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
			return fmt.Errorf("rollups %s: no organization %q", verb, s)
		} else if err != nil {
			return err
		}
		orgID = org.ID
	}
	if verb == "rebuild" {
		if err := db.RebuildRollups(ctx, orgID); err != nil {
			return err
		}
	}
	const shown = 50
	bad, err := db.CheckRollups(ctx, orgID, shown)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		err = writeJSON(stdout, struct {
			OK         bool                   `json:"ok"`
			Rebuilt    bool                   `json:"rebuilt"`
			Mismatches []store.RollupMismatch `json:"mismatches"`
		}{len(bad) == 0, verb == "rebuild", append([]store.RollupMismatch{}, bad...)})
	case len(bad) == 0 && verb == "rebuild":
		_, err = fmt.Fprintln(stdout, "rollups rebuilt from the usage events; they match")
	case len(bad) == 0:
		_, err = fmt.Fprintln(stdout, "rollups ok: every daily rollup equals the usage events")
	default:
		for _, m := range bad {
			if _, err = fmt.Fprintf(stdout, "mismatch: %s %s stored [%s] computed [%s]\n", m.Table, m.Key, m.Stored, m.Computed); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) == shown {
			more = " (first " + fmt.Sprint(shown) + " shown)"
		}
		return fmt.Errorf("rollups check failed: %d rows differ from the usage events%s; `orgbase rollups rebuild` rewrites them", len(bad), more)
	}
	return nil
}
