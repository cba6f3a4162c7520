package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// FuzzDecodeUsage feeds arbitrary bodies to the usage API's decoder: it
// must never panic, and whatever it accepts must be a request the charging
// service can take as is (valid by ChargeRequest.Validate), re-encodable
// and decoded again to the same events. Seeds: f.Add below and
// testdata/fuzz/FuzzDecodeUsage.
func FuzzDecodeUsage(f *testing.F) {
	for _, s := range []string{
		`{"idempotency_key":"k1","user":"ada@example.com","tool":"image.generate","model":"flux-dev","units":2}`,
		`{"idempotency_key":"k1","user":"Ada@Example.com","workspace":"42","tool":"chat","model":"gpt","credits":"0.120","metadata":{"a":[1,2,{"b":null}]}}`,
		`{"events":[{"idempotency_key":"a","user":"a@b.co","tool":"t","model":"m","units":1},{"idempotency_key":"b","user":"a@b.co","tool":"t","model":"m","credits":"1"}]}`,
		`{"events":[]}`, `{"events":{}}`, `[]`, `null`, `{}`, `{"units":1e3}`, `{"credits":1.5}`,
		`{"idempotency_key":"\u0000","user":"a@b.co","tool":"t","model":"m","units":1}`,
		`{"idempotency_key":"k","user":"a@b.co","tool":"t","model":"m","units":9223372036854775808}`,
		`{"idempotency_key":"k","user":"a@b.co","workspace":-1,"tool":"t","model":"m","units":1}`,
		`{"idempotency_key":"k","idempotency_key":"j","user":"a@b.co","tool":"t","model":"m","units":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, batch, ferr := decodeUsage(body)
		if ferr != nil {
			if ferr.Field == "" || ferr.Message == "" || events != nil {
				t.Fatalf("a refusal must name a field and a message: %+v, %d events", ferr, len(events))
			}
			return
		}
		if len(events) == 0 || len(events) > MaxBatchEvents || (!batch && len(events) != 1) {
			t.Fatalf("accepted %d events (batch %v)", len(events), batch)
		}
		out := make([]map[string]any, len(events))
		for i, ev := range events {
			req := orgbase.ChargeRequest{WorkspaceID: max(ev.WorkspaceID, 1), UserID: 1, Tool: ev.Tool, Model: ev.Model, Units: ev.Units,
				Credits: ev.Credits, IdempotencyKey: ev.IdempotencyKey, Metadata: ev.Metadata}
			if err := req.Validate(); err != nil {
				t.Fatalf("decoded event %d is not a valid charge: %v (%+v)", i, err, ev)
			}
			if ev.User != strings.ToLower(ev.User) || !strings.Contains(ev.User, "@") || !orgbase.Printable(ev.User) || len(ev.User) > 254 {
				t.Fatalf("user %q", ev.User)
			}
			m := map[string]any{"idempotency_key": ev.IdempotencyKey, "user": ev.User, "tool": ev.Tool, "model": ev.Model, "units": ev.Units}
			if ev.WorkspaceID != 0 {
				m["workspace"] = ev.WorkspaceID
			}
			if ev.Credits != nil {
				m["credits"] = ev.Credits.Decimal()
			}
			if ev.Metadata != nil {
				m["metadata"] = ev.Metadata
			}
			out[i] = m
		}
		again, err := json.Marshal(map[string]any{"events": out})
		if err != nil {
			t.Fatal(err)
		}
		back, _, ferr := decodeUsage(again)
		if ferr != nil || len(back) != len(events) {
			t.Fatalf("re-encoded events do not decode: %v\n%s", ferr, again)
		}
		for i := range back {
			a, b := events[i], back[i]
			if a.IdempotencyKey != b.IdempotencyKey || a.User != b.User || a.WorkspaceID != b.WorkspaceID || a.Tool != b.Tool ||
				a.Model != b.Model || a.Units != b.Units || (a.Credits == nil) != (b.Credits == nil) || (a.Credits != nil && *a.Credits != *b.Credits) {
				t.Fatalf("event %d changed in a round trip: %+v → %+v", i, a, b)
			}
		}
	})
}
