package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// keysWorld is the workspace world with Mia as a plain member of Clients
// (she sees Acme, and manages nothing) and Max managing Acme.
func keysWorld(t *testing.T, e *env) (w *wsWorld, manager *client) {
	t.Helper()
	w = newWSWorld(t, e)
	ctx := context.Background()
	op := orgbase.OperatorAccess(w.org.ID)
	if err := e.db.SetGrant(ctx, w.org.ID, op, w.clients.ID, e.user(t, "mia@example.com").ID, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	manager = e.newUser(t, "Max Manager", "max@example.com")
	maxID := e.user(t, "max@example.com").ID
	if err := e.db.AddMember(ctx, w.org.ID, maxID, orgbase.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetGrant(ctx, w.org.ID, op, w.acme.ID, maxID, orgbase.WorkspaceManager); err != nil {
		t.Fatal(err)
	}
	return w, manager
}

// storedHashes returns every secret_hash in api_keys.
func storedHashes(t *testing.T, e *env) []string {
	t.Helper()
	rows, err := e.db.SQL().QueryContext(context.Background(), "SELECT secret_hash FROM api_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

func TestAPIKeys(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w, manager := keysWorld(t, e)
		ctx := context.Background()
		home := w.path(w.acme, "")
		htmx := []string{"HX-Request", "true", "HX-Current-URL", e.srv.URL + home}
		keys := func() []*orgbase.APIKey {
			t.Helper()
			ks, err := e.db.FindAPIKeys(ctx, w.org.ID, w.acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			return ks
		}
		var secret string

		t.Run("SectionForManagersOnly", func(t *testing.T) {
			r := w.owner.get(home)
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="ws-keys"] [data-testid="ws-key-form"]`)
			r.wantElement(`[data-testid="ws-keys-empty"]`)
			if curl := r.text(`[data-testid="ws-keys-curl"]`); !strings.Contains(curl, "POST http://example.test/api/v1/usage") || !strings.Contains(curl, "Authorization: Bearer $ORGBASE_API_KEY") {
				t.Errorf("curl example = %q, want POST /api/v1/usage with a bearer key", curl)
			}
			r = manager.get(home)
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="ws-keys"]`)
			r = w.member.get(home) // sees Acme, manages nothing
			r.wantStatus(http.StatusOK)
			r.wantNoElement(`[data-testid="ws-keys"]`)
			r.wantNoElement(`[data-testid="ws-key-form"]`)
		})

		t.Run("CreateShowsTheSecretOnce", func(t *testing.T) {
			r := w.owner.post(w.path(w.acme, "/keys"), url.Values{"name": {"  Image service  "}}, htmx...)
			r.wantStatus(http.StatusCreated)
			secret = r.attr(`[data-testid="ws-key-new"] [data-testid="ws-key-secret"]`, "value")
			if !orgbase.LooksLikeAPIKey(secret) {
				t.Fatalf("shown secret %q does not look like a key", secret)
			}
			if _, ok := r.find(`[data-testid="ws-key-secret"]`).Attr("readonly"); !ok {
				t.Error("the secret's field is not read-only")
			}
			if got := r.text(`[data-testid="ws-key-new"]`); !strings.Contains(got, "you will not see it again") {
				t.Errorf("new key panel = %q, want the warning that it is shown once", got)
			}
			if curl := r.text(`[data-testid="ws-keys-curl"]`); !strings.Contains(curl, "Bearer "+secret) {
				t.Errorf("curl example = %q, want the new key in it", curl)
			}
			if got := r.text(`[data-testid="ws-key"] p`); got != "Image service" {
				t.Errorf("listed name = %q, want the trimmed name", got)
			}
			ks := keys()
			if len(ks) != 1 || ks[0].Name != "Image service" || !strings.HasPrefix(secret, ks[0].Prefix) {
				t.Fatalf("stored keys = %+v, want one named Image service with the secret's prefix", ks)
			}
			// Stored as a hash, never as the secret.
			hashes := storedHashes(t, e)
			if len(hashes) != 1 || hashes[0] == secret || strings.Contains(hashes[0], secret[len(orgbase.APIKeyPrefix):]) || hashes[0] != orgbase.HashAPIKey(secret) {
				t.Errorf("stored hash %v, want the SHA-256 of the secret, not the secret", hashes)
			}
			if auth, err := e.db.AuthenticateAPIKey(ctx, secret); err != nil || auth.Key.ID != ks[0].ID {
				t.Fatalf("AuthenticateAPIKey(new key) = %+v, %v; want key %d", auth, err, ks[0].ID)
			}
			// The page never shows it again.
			r = w.owner.get(home)
			r.wantStatus(http.StatusOK)
			if strings.Contains(r.body, secret) {
				t.Error("the workspace page shows the secret again")
			}
			r.wantNoElement(`[data-testid="ws-key-secret"]`)
			if got := r.text(`[data-testid="ws-key-prefix"]`); got != ks[0].Prefix+"…" {
				t.Errorf("listed prefix = %q, want %q", got, ks[0].Prefix+"…")
			}
			if got := r.text(`[data-testid="ws-key-used"]`); got != "Never" {
				t.Errorf("last used = %q, want Never", got)
			}
			if got := r.text(`[data-testid="ws-key"] p.text-xs`); got != "by Olga Owner" {
				t.Errorf("creator = %q, want by Olga Owner", got)
			}
		})

		t.Run("CreateWithoutJavaScript", func(t *testing.T) {
			r := manager.post(w.path(w.acme, "/keys"), url.Values{"name": {"Chat bot"}})
			r.wantStatus(http.StatusCreated)
			r.wantElement(`[data-testid="breadcrumbs"]`) // the whole page
			if s := r.attr(`[data-testid="ws-key-secret"]`, "value"); !orgbase.LooksLikeAPIKey(s) || s == secret {
				t.Errorf("shown secret %q, want a new key", s)
			}
			if n := len(keys()); n != 2 {
				t.Errorf("%d keys, want 2", n)
			}
		})

		t.Run("InvalidNames", func(t *testing.T) {
			for name, want := range map[string]string{"": "Give the key a name", "   ": "Give the key a name", strings.Repeat("k", 81): "under 80 characters"} {
				r := w.owner.post(w.path(w.acme, "/keys"), url.Values{"name": {name}}, htmx...)
				r.wantStatus(http.StatusUnprocessableEntity)
				if got := r.fieldError("name"); !strings.Contains(got, want) {
					t.Errorf("name %q: error %q, want %q", name, got, want)
				}
				r.wantNoElement(`[data-testid="ws-key-new"]`)
			}
			if n := len(keys()); n != 2 {
				t.Errorf("%d keys after refusals, want 2", n)
			}
		})

		t.Run("MembersWhoDoNotManage", func(t *testing.T) {
			key := keys()[0]
			w.member.post(w.path(w.acme, "/keys"), url.Values{"name": {"Sneaky"}}).wantStatus(http.StatusForbidden)
			w.member.get(w.path(w.acme, "/keys/"+id(key.ID)+"/revoke")).wantStatus(http.StatusForbidden)
			w.member.post(w.path(w.acme, "/keys/"+id(key.ID)+"/revoke"), nil).wantStatus(http.StatusForbidden)
			// Max manages Acme only: Internal is out of his sight.
			manager.post(w.path(w.intl, "/keys"), url.Values{"name": {"Sneaky"}}).wantStatus(http.StatusNotFound)
			// A key of another workspace is not found under this one.
			w.owner.get(w.path(w.web, "/keys/"+id(key.ID)+"/revoke")).wantStatus(http.StatusNotFound)
			if n := len(keys()); n != 2 {
				t.Errorf("%d keys, want 2", n)
			}
			if ks := keys(); ks[0].Revoked() || ks[1].Revoked() {
				t.Error("a refused revoke revoked a key")
			}
		})

		t.Run("Revoke", func(t *testing.T) {
			var target *orgbase.APIKey
			for _, k := range keys() {
				if k.Name == "Image service" {
					target = k
				}
			}
			path := w.path(w.acme, "/keys/"+id(target.ID)+"/revoke")
			r := w.owner.getWith(path, "HX-Request", "true")
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="ws-key-revoke-form"] h2`); got != "Revoke Image service?" {
				t.Errorf("dialog title = %q, want it to name the key", got)
			}
			r = w.owner.post(path, nil, htmx...)
			r.wantStatus(http.StatusOK)
			if got := r.header.Get("HX-Trigger"); got != "close-modal" {
				t.Errorf("HX-Trigger = %q, want close-modal", got)
			}
			if got := r.attr(`#ws-keys`, "hx-swap-oob"); got != "true" {
				t.Errorf("keys card hx-swap-oob = %q, want true", got)
			}
			r.wantElement(`[data-key-name="Image service"] [data-testid="ws-key-revoked"]`)
			r.wantNoElement(`[data-key-name="Image service"] [data-testid="ws-key-revoke"]`)
			if _, err := e.db.AuthenticateAPIKey(ctx, secret); orgbase.ErrorCode(err) != orgbase.EUNAUTHORIZED {
				t.Errorf("AuthenticateAPIKey(revoked) = %v, want EUNAUTHORIZED", err)
			}
			// Revoked keys stay listed; no second confirmation.
			w.owner.getWith(path, "HX-Request", "true").wantStatus(http.StatusConflict)
			// Without JavaScript: a redirect back to the keys.
			var other *orgbase.APIKey
			for _, k := range keys() {
				if !k.Revoked() {
					other = k
				}
			}
			r = manager.post(w.path(w.acme, "/keys/"+id(other.ID)+"/revoke"), nil)
			r.wantRedirect(home + "#ws-keys")
			for _, k := range keys() {
				if !k.Revoked() {
					t.Errorf("%s is not revoked", k.Name)
				}
			}
			r = manager.get(home)
			if n := r.find(`[data-testid="ws-key-revoked"]`).Length(); n != 2 {
				t.Errorf("%d keys shown revoked, want 2", n)
			}
		})
	})
}
