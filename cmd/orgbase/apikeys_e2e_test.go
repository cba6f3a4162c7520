package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestAPIKeysE2E: an owner creates an API key on the Primary workspace's
// page in a real browser, sees the secret once with a Copy button, a tool
// charges usage with it through the API, the key list shows it was used,
// and after the owner revokes it in the confirmation dialog the API refuses
// it. SQLite only: the store and API tests cover PostgreSQL. Screenshots go
// to test-artifacts/e2e/apikeys.
func TestAPIKeysE2E(t *testing.T) {
	chromium := findBrowser(t)
	dbURL := dbtest.URL(t, store.SQLite)
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
	srv := startServer(t, env) // migrates and seeds the catalog (dev mode)
	acc := seedTreeAccounts(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	primary, err := db.FindPrimaryWorkspace(ctx, acc.orgID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.GrantCredits(ctx, acc.orgID, 100*orgbase.Credit, "e2e", ""); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "apikeys"))
	u := &treeUI{b: b, slug: acc.slug}
	u.login(acc.ownerEmail)
	b.navigate(u.orgPath("/workspaces/" + strconv.FormatInt(primary.ID, 10)))
	b.wantText(`[data-testid="ws-keys-empty"]`, "No keys yet")
	b.typeInto(`[data-testid="ws-key-form"] #name`, "Image service")
	b.click(`[data-testid="ws-key-create"]`)
	b.waitFor("the new key", `!!document.querySelector('[data-testid="ws-key-new"]')`)
	secret := b.value(`[data-testid="ws-key-secret"]`)
	if !orgbase.LooksLikeAPIKey(secret) {
		t.Fatalf("the page shows %q as the new key", secret)
	}
	b.waitFor("the Copy button to be shown", `!document.querySelector('[data-testid="ws-key-copy"]').hidden`)
	b.screenshot("key-created")
	if strings.Contains(b.textContent(`[data-testid="ws-keys"] table`), secret) {
		t.Error("the key list shows the secret")
	}

	// A tool charges with it.
	charge := func(key string) (int, string) {
		body := `{"idempotency_key":"e2e-1","user":"` + acc.ownerEmail + `","tool":"chat.completion","model":"gpt-4.1-nano","units":10}`
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/usage", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		if e, ok := out["error"].(map[string]any); ok {
			return res.StatusCode, e["code"].(string)
		}
		return res.StatusCode, out["credits"].(string)
	}
	if status, credits := charge(secret); status != 200 || credits != "1.200" {
		t.Fatalf("charging with the new key: %d %s", status, credits)
	}

	// Reloaded, the page lists the key (used just now) and never the secret.
	b.navigate(u.orgPath("/workspaces/" + strconv.FormatInt(primary.ID, 10)))
	if n := b.count(`[data-testid="ws-key"]`); n != 1 || b.count(`[data-testid="ws-key-new"]`) != 0 {
		t.Fatalf("after a reload: %d keys listed, new-key panel shown %d times", n, b.count(`[data-testid="ws-key-new"]`))
	}
	if strings.Contains(b.textContent("body"), secret) {
		t.Error("the page shows the secret again after a reload")
	}
	b.screenshot("key-listed")

	// Revoke it through the confirmation dialog: the API refuses it at once.
	u.openDialog(`[data-testid="ws-key-revoke"]`, "ws-key-revoke-form")
	b.screenshot("revoke-dialog")
	b.click(`#modal-body [data-testid="ws-key-revoke-submit"]`)
	b.waitFor("the key to show as revoked", `!!document.querySelector('[data-testid="ws-key-revoked"]')`)
	if status, code := charge(secret); status != 401 || code != "unauthorized" {
		t.Errorf("charging with the revoked key: %d %s", status, code)
	}
	b.checkConsole("apikeys")
}
