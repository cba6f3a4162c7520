package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// apiWorld is the credits world (1,000 credits in the pool; Clients and
// Acme in budget mode) with a catalog, 100 credits moved to Clients, and an
// API key on Clients.
type apiWorld struct {
	*wsWorld
	key    string
	router routers.Router
	doc    *openapi3.T
}

func newAPIWorld(t *testing.T, e *env) *apiWorld {
	t.Helper()
	w := creditsWorld(t, e)
	ctx := context.Background()
	if _, err := e.db.SeedCatalog(ctx, []catalog.Entry{
		{Tool: "test.image", Model: "m1", Unit: "image", CreditsPerUnit: 3 * orgbase.Credit, Category: orgbase.CategoryImageSpeech},
		{Tool: "test.chat", Model: "m2", Unit: "1000 words", CreditsPerUnit: 120, Category: orgbase.CategoryChatbot},
	}); err != nil {
		t.Fatal(err)
	}
	op := orgbase.OperatorAccess(w.org.ID)
	if _, err := e.db.Transfer(ctx, w.org.ID, op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(w.clients.ID), 100*orgbase.Credit, orgbase.TransferMove, "", ""); err != nil {
		t.Fatal(err)
	}
	_, secret, err := e.db.CreateAPIKey(ctx, w.org.ID, op, w.clients.ID, "CI bot")
	if err != nil {
		t.Fatal(err)
	}
	aw := &apiWorld{wsWorld: w, key: secret}
	aw.loadSpec(t)
	return aw
}

// loadSpec fetches the OpenAPI document the server serves and validates it.
func (w *apiWorld) loadSpec(t *testing.T) {
	t.Helper()
	res, err := http.Get(w.e.srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: w.e.srv.URL}}
	if w.router, err = legacy.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	w.doc = doc
}

type apiResp struct {
	status int
	body   []byte
	json   map[string]any
}

func (r *apiResp) errCode() string {
	e, _ := r.json["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r *apiResp) errField() string {
	e, _ := r.json["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

// call sends a request with the key (none when key is "") and checks the
// response against the OpenAPI document: every documented operation's
// answer must match its schema for that status.
func (w *apiWorld) call(t *testing.T, method, path, key string, body []byte) *apiResp {
	t.Helper()
	req, err := http.NewRequest(method, w.e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := &apiResp{status: res.StatusCode, body: b}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, res.Header.Get("Content-Type"), abbrev(string(b)))
	}
	if err := json.Unmarshal(b, &out.json); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, abbrev(string(b)))
	}
	if out.status >= 400 && out.errCode() == "" {
		t.Errorf("%s %s: %d without an error code: %s", method, path, out.status, abbrev(string(b)))
	}
	// Validate against the document (the request too, except where the
	// test sends invalid input on purpose: only the response is checked).
	vreq, _ := http.NewRequest(method, w.e.srv.URL+path, bytes.NewReader(body))
	route, params, err := w.router.FindRoute(vreq)
	if err != nil {
		if out.status != 404 && out.status != 405 {
			t.Errorf("%s %s: not in the OpenAPI document (%v)", method, path, err)
		}
		return out
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(b)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\n%s", method, path, res.StatusCode, err, abbrev(string(b)))
	}
	return out
}

func event(key, user string, extra string) []byte {
	s := `{"idempotency_key":"` + key + `","user":"` + user + `","tool":"test.image","model":"m1","units":2`
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

func TestAPIUsageCharges(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAPIWorld(t, e)
		owner := "olga@example.com"

		// One event on the key's workspace: 2 images at 3 credits.
		r := w.call(t, "POST", "/api/v1/usage", w.key, event("k1", owner, ""))
		if r.status != 200 || r.json["credits"] != "6.000" || r.json["balance_left"] != "94.000" || r.json["replayed"] != false {
			t.Fatalf("charge: %d %s", r.status, r.body)
		}
		first := r.json["event_id"]
		// The same key and payload: the original answer, replayed.
		r = w.call(t, "POST", "/api/v1/usage", w.key, event("k1", owner, ""))
		if r.status != 200 || r.json["event_id"] != first || r.json["replayed"] != true || r.json["balance_left"] != "94.000" {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		// The same key, another payload.
		r = w.call(t, "POST", "/api/v1/usage", w.key, event("k1", owner, `"metadata":{"x":1}`))
		if r.status != 409 || r.errCode() != "idempotency_conflict" || r.errField() != "idempotency_key" {
			t.Fatalf("conflict: %d %s", r.status, r.body)
		}
		// A workspace below the key's (Acme, its own budget: empty).
		r = w.call(t, "POST", "/api/v1/usage", w.key, event("k2", owner, fmt.Sprintf(`"workspace":"%d"`, w.acme.ID)))
		if r.status != 402 || r.errCode() != "insufficient_credits" {
			t.Fatalf("insufficient: %d %s", r.status, r.body)
		}
		// Web is shared under Acme; an explicit amount.
		r = w.call(t, "POST", "/api/v1/usage", w.key, event("k3", owner, fmt.Sprintf(`"workspace":%d,"credits":"0.120"`, w.web.ID)))
		if r.status != 402 || r.errCode() != "insufficient_credits" {
			t.Fatalf("insufficient under Acme: %d %s", r.status, r.body)
		}
		// A limit on Clients.
		if _, err := e.db.SetWorkspaceLimit(context.Background(), w.org.ID, orgbase.OperatorAccess(w.org.ID), w.clients.ID, ptr(10*orgbase.Credit)); err != nil {
			t.Fatal(err)
		}
		r = w.call(t, "POST", "/api/v1/usage", w.key, event("k4", owner, ""))
		if r.status != 402 || r.errCode() != "limit_reached" {
			t.Fatalf("limit: %d %s", r.status, r.body)
		}
		if ws, _ := r.json["error"].(map[string]any)["workspace"].(map[string]any); ws["name"] != "Clients" {
			t.Errorf("limit_reached names %v, want Clients", ws)
		}

		// A batch: each event on its own, in order.
		batch := `{"events":[` + string(event("b1", owner, `"units":1`)[:0]) +
			`{"idempotency_key":"b1","user":"olga@example.com","tool":"test.chat","model":"m2","units":3},` +
			`{"idempotency_key":"b2","user":"nobody@example.com","tool":"test.chat","model":"m2","units":1},` +
			`{"idempotency_key":"b3","user":"olga@example.com","tool":"test.image","model":"m1","units":2},` +
			`{"idempotency_key":"k1","user":"olga@example.com","tool":"test.image","model":"m1","units":2}]}`
		r = w.call(t, "POST", "/api/v1/usage", w.key, []byte(batch))
		if r.status != 200 {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		results := r.json["results"].([]any)
		want := []struct{ status, code string }{{"accepted", ""}, {"refused", "not_found"}, {"refused", "limit_reached"}, {"accepted", ""}}
		for i, wnt := range want {
			got := results[i].(map[string]any)
			code := ""
			if e, ok := got["error"].(map[string]any); ok {
				code = e["code"].(string)
			}
			if got["status"] != wnt.status || code != wnt.code || got["index"] != float64(i) {
				t.Errorf("batch result %d = %v, want %s %s", i, got, wnt.status, wnt.code)
			}
		}
		if r.json["accepted"] != float64(2) || r.json["refused"] != float64(2) {
			t.Errorf("batch counts: %s", r.body)
		}
		_, clients, _ := w.balances(t)
		if clients != 94*orgbase.Credit-360 {
			t.Errorf("Clients balance = %s, want 93.64", clients)
		}

		// Balance and usage.
		r = w.call(t, "GET", "/api/v1/balance", w.key, nil)
		if r.status != 200 || r.json["mode"] != "budget" || r.json["available"] != "3.640" {
			t.Errorf("balance: %d %s", r.status, r.body)
		}
		r = w.call(t, "GET", "/api/v1/usage?group_by=category", w.key, nil)
		if r.status != 200 || r.json["total"].(map[string]any)["credits"] != "6.360" || len(r.json["rows"].([]any)) != 2 {
			t.Errorf("usage: %d %s", r.status, r.body)
		}
		r = w.call(t, "GET", "/api/v1/usage?group_by=member&from=2000-01-01&to=2000-01-31", w.key, nil)
		if r.status != 200 || len(r.json["rows"].([]any)) != 0 {
			t.Errorf("usage of an empty range: %d %s", r.status, r.body)
		}
		w.checkLedger(t)
	})
}

func ptr[T any](v T) *T { return &v }

// TestAPIBadInput: every kind of bad input gets a clear 4xx JSON error and
// changes nothing.
func TestAPIBadInput(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAPIWorld(t, e)
		ctx := context.Background()
		// Another organization with its own key and workspace.
		other := e.newUser(t, "Zed", "zed@example.com")
		otherSlug := other.createOrg("Zeta", "zeta")
		otherOrg := e.org(t, otherSlug, "zed@example.com")
		otherPrimary, err := e.db.FindPrimaryWorkspace(ctx, otherOrg.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, otherKey, err := e.db.CreateAPIKey(ctx, otherOrg.ID, orgbase.OperatorAccess(otherOrg.ID), otherPrimary.ID, "zeta")
		if err != nil {
			t.Fatal(err)
		}
		revoked, revokedKey, err := e.db.CreateAPIKey(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.clients.ID, "old")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.RevokeAPIKey(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.clients.ID, revoked.ID); err != nil {
			t.Fatal(err)
		}
		pool0, clients0, acme0 := w.balances(t)

		owner := "olga@example.com"
		many := make([]string, 1001)
		for i := range many {
			many[i] = string(event(fmt.Sprint("m", i), owner, ""))
		}
		cases := []struct {
			name, key, body string
			status          int
			code, field     string
		}{
			{"no key", "", string(event("x1", owner, "")), 401, "unauthorized", ""},
			{"garbage key", "obk_nope", string(event("x1", owner, "")), 401, "unauthorized", ""},
			{"revoked key", revokedKey, string(event("x1", owner, "")), 401, "unauthorized", ""},
			{"malformed JSON", w.key, `{"idempotency_key": "x1",`, 422, "invalid_request", "body"},
			{"not an object", w.key, `[1,2]`, 422, "invalid_request", "body"},
			{"trailing data", w.key, string(event("x1", owner, "")) + "{}", 422, "invalid_request", "body"},
			{"unknown field", w.key, string(event("x1", owner, `"price":"1"`)), 422, "invalid_request", "price"},
			{"no key field", w.key, `{"user":"olga@example.com","tool":"test.image","model":"m1","units":1}`, 422, "invalid_request", "idempotency_key"},
			{"bad email", w.key, string(event("x1", "olga", "")), 422, "invalid_request", "user"},
			{"unknown tool", w.key, `{"idempotency_key":"x1","user":"olga@example.com","tool":"nope","model":"m1","units":1}`, 422, "invalid_request", "tool"},
			{"unknown model", w.key, `{"idempotency_key":"x1","user":"olga@example.com","tool":"test.image","model":"nope","units":1}`, 422, "invalid_request", "tool"},
			{"zero units", w.key, string(event("x1", owner, `"units":0`)), 422, "invalid_request", "units"},
			{"negative units", w.key, string(event("x1", owner, `"units":-3`)), 422, "invalid_request", "units"},
			{"fractional units", w.key, string(event("x1", owner, `"units":1.5`)), 422, "invalid_request", "units"},
			{"absurd units", w.key, string(event("x1", owner, `"units":99999999999999999999`)), 422, "invalid_request", "units"},
			{"float credits", w.key, string(event("x1", owner, `"credits":0.5`)), 422, "invalid_request", "credits"},
			{"negative credits", w.key, string(event("x1", owner, `"credits":"-1"`)), 422, "invalid_request", "credits"},
			{"zero credits", w.key, string(event("x1", owner, `"credits":"0"`)), 422, "invalid_request", "credits"},
			{"absurd credits", w.key, string(event("x1", owner, `"credits":"99999999999999999999"`)), 422, "invalid_request", "credits"},
			{"four decimals", w.key, string(event("x1", owner, `"credits":"0.1234"`)), 422, "invalid_request", "credits"},
			{"metadata not an object", w.key, string(event("x1", owner, `"metadata":[1]`)), 422, "invalid_request", "metadata"},
			{"1,001 events", w.key, `{"events":[` + strings.Join(many, ",") + `]}`, 422, "invalid_request", "events"},
			{"empty batch", w.key, `{"events":[]}`, 422, "invalid_request", "events"},
			{"oversize body", w.key, string(event("x1", owner, `"metadata":{"a":"`+strings.Repeat("x", 3<<20)+`"}`)), 413, "request_too_large", ""},
			{"not a member", w.key, string(event("x1", "nobody@example.com", "")), 404, "not_found", "user"},
			{"member without access", w.key, string(event("x1", "mia@example.com", "")), 403, "forbidden", "user"},
			{"workspace above the key", w.key, string(event("x1", owner, fmt.Sprintf(`"workspace":"%d"`, w.primary.ID))), 404, "not_found", "workspace"},
			{"sibling workspace", w.key, string(event("x1", owner, fmt.Sprintf(`"workspace":"%d"`, w.intl.ID))), 404, "not_found", "workspace"},
			{"another organization's workspace", w.key, string(event("x1", owner, fmt.Sprintf(`"workspace":"%d"`, otherPrimary.ID))), 404, "not_found", "workspace"},
			{"a foreign key on our workspace", otherKey, string(event("x1", "zed@example.com", fmt.Sprintf(`"workspace":"%d"`, w.clients.ID))), 404, "not_found", "workspace"},
			{"a foreign key charging our member", otherKey, string(event("x1", owner, "")), 404, "not_found", "user"},
			{"bad workspace id", w.key, string(event("x1", owner, `"workspace":"abc"`)), 422, "invalid_request", "workspace"},
		}
		for _, c := range cases {
			r := w.call(t, "POST", "/api/v1/usage", c.key, []byte(c.body))
			if r.status != c.status || r.errCode() != c.code || r.errField() != c.field {
				t.Errorf("%s: got %d %s/%s, want %d %s/%s (%s)", c.name, r.status, r.errCode(), r.errField(), c.status, c.code, c.field, abbrev(string(r.body)))
			}
		}
		gets := []struct {
			path   string
			status int
			field  string
		}{
			{"/api/v1/balance?workspace=abc", 422, "workspace"},
			{fmt.Sprintf("/api/v1/balance?workspace=%d", otherPrimary.ID), 404, "workspace"},
			{fmt.Sprintf("/api/v1/balance?workspace=%d", w.primary.ID), 404, "workspace"},
			{"/api/v1/usage?from=2026-13-01", 422, "from"},
			{"/api/v1/usage?from=2026-02-01&to=2026-01-01", 422, "from"},
			{"/api/v1/usage?from=2000-01-01&to=2026-01-01", 422, "from"},
			{"/api/v1/usage?group_by=planet", 422, "group_by"},
			// Before store.MinReportDay: the default from of to=0000-01-05 was
			// answered as "-001-12-07" (FuzzAPIUsageQuery).
			{"/api/v1/usage?to=0000-01-05", 422, "to"},
			{"/api/v1/usage?from=1999-12-31&to=2000-01-01", 422, "from"},
			{"/api/v1/usage?to=2000-01-05", 422, "from"},
			{"/api/v1/nothing", 404, ""},
		}
		for _, g := range gets {
			r := w.call(t, "GET", g.path, w.key, nil)
			if r.status != g.status || r.errField() != g.field {
				t.Errorf("GET %s: got %d %s, want %d %s", g.path, r.status, r.body, g.status, g.field)
			}
		}
		if r := w.call(t, "DELETE", "/api/v1/usage", w.key, nil); r.status != 405 && r.status != 404 {
			t.Errorf("DELETE: %d %s", r.status, r.body)
		}
		pool, clients, acme := w.balances(t)
		if pool != pool0 || clients != clients0 || acme != acme0 {
			t.Errorf("bad input changed balances: %s/%s/%s, was %s/%s/%s", pool, clients, acme, pool0, clients0, acme0)
		}
		var events int64
		if err := e.db.SQL().QueryRow("SELECT COUNT(*) FROM usage_events").Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events != 0 {
			t.Errorf("bad input wrote %d usage events", events)
		}
		w.checkLedger(t)
	})
}

// TestAPIExactlyOnce: 100 concurrent requests with one idempotency key
// charge once and all answer the same event; the same key with another
// payload is 409.
func TestAPIExactlyOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAPIWorld(t, e)
		body := event("once", "olga@example.com", "")
		const n = 100
		var wg sync.WaitGroup
		res := make([]*apiResp, n)
		for i := range n {
			wg.Go(func() { res[i] = w.call(t, "POST", "/api/v1/usage", w.key, body) })
		}
		wg.Wait()
		fresh := 0
		for i, r := range res {
			if r.status != 200 || r.json["event_id"] != res[0].json["event_id"] || r.json["credits"] != "6.000" || r.json["balance_left"] != "94.000" {
				t.Fatalf("request %d: %d %s (first: %s)", i, r.status, r.body, res[0].body)
			}
			if r.json["replayed"] == false {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("%d requests say they charged, want 1", fresh)
		}
		var transfers int64
		if err := e.db.SQL().QueryRow("SELECT COUNT(*) FROM transfers WHERE kind = 'usage'").Scan(&transfers); err != nil {
			t.Fatal(err)
		}
		if transfers != 1 {
			t.Errorf("%d usage transfers, want 1", transfers)
		}
		if _, clients, _ := w.balances(t); clients != 94*orgbase.Credit {
			t.Errorf("Clients = %s, want 94", clients)
		}
		r := w.call(t, "POST", "/api/v1/usage", w.key, event("once", "olga@example.com", `"units":3`))
		if r.status != 409 || r.errCode() != "idempotency_conflict" {
			t.Errorf("other payload: %d %s", r.status, r.body)
		}
		w.checkLedger(t)
	})
}
