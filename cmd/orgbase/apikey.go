package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// apikeyCommand is `orgbase apikey create --org SLUG --name NAME
// [--workspace ID] [--json]`: the operator's way to create a workspace API
// key (SPEC §6). The secret is printed once and never stored.
func apikeyCommand(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	const help = "apikey needs: create --org SLUG --name NAME [--workspace ID] [--json]"
	if len(args) == 0 || args[0] != "create" {
		return usageError{help}
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("org", "", "the organization's slug")
	name := fs.String("name", "", "what the key is for, e.g. the tool that uses it")
	wsText := fs.String("workspace", "", "the workspace's id (default: the Primary workspace)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"apikey create: " + err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{"apikey create takes no arguments besides its flags"}
	case strings.TrimSpace(*slug) == "":
		return usageError{"apikey create: --org is required"}
	case strings.TrimSpace(*name) == "":
		return usageError{"apikey create: --name is required"}
	}
	var wsID int64
	if *wsText != "" {
		id, err := strconv.ParseInt(*wsText, 10, 64)
		if err != nil || id <= 0 {
			return usageError{"apikey create: --workspace must be a workspace id (a number)"}
		}
		wsID = id
	}
	db, err := openLedgerDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	org, err := db.FindOrgBySlug(ctx, strings.TrimSpace(*slug))
	if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
		return fmt.Errorf("apikey create: no organization %q", *slug)
	} else if err != nil {
		return err
	}
	if wsID == 0 {
		primary, err := db.FindPrimaryWorkspace(ctx, org.ID)
		if err != nil {
			return err
		}
		wsID = primary.ID
	}
	ws, err := db.FindWorkspaceByID(ctx, org.ID, wsID)
	if err != nil {
		return domainErr("apikey create: --workspace", err)
	}
	key, secret, err := db.CreateAPIKey(ctx, org.ID, orgbase.OperatorAccess(org.ID), ws.ID, *name)
	if err != nil {
		return domainErr("apikey create", err)
	}
	if *asJSON {
		return writeJSON(stdout, struct {
			ID        int64  `json:"id"`
			Org       string `json:"org"`
			Workspace int64  `json:"workspace"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		}{key.ID, org.Slug, ws.ID, key.Name, secret})
	}
	_, err = fmt.Fprintf(stdout, "API key %q for %s / %s (workspace %d):\n\n  %s\n\nStore it now: it is shown only once.\n",
		key.Name, org.Slug, ws.Name, ws.ID, secret)
	return err
}
