package web

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Decoding of POST /api/v1/usage bodies (SPEC §6). The decoder is strict and
// names the field at fault, so a client always learns what to fix; it never
// touches the database, and `go test -fuzz FuzzDecodeUsage` runs it on
// arbitrary bytes.

// MaxBatchEvents is the most events one request may carry.
const MaxBatchEvents = 1000

// apiMaxBody bounds a usage request body: a full batch of events with
// modest metadata fits; larger bodies get 413 before any decoding.
const apiMaxBody = 2 << 20 // bodyLimit, the server's cap for every request

// usageEventIn is one decoded event, before the member's address and the
// workspace are resolved.
type usageEventIn struct {
	IdempotencyKey string
	User           string // lower-cased email address
	WorkspaceID    int64  // 0: the key's workspace
	Tool           string
	Model          string
	Units          int64
	Credits        *orgbase.Credits
	Metadata       map[string]any
}

// apiFieldError is a request the decoder refuses: 422 invalid_request naming
// the field ("events[3].units" in a batch).
type apiFieldError struct {
	Field   string
	Message string
}

func (e *apiFieldError) Error() string { return e.Field + ": " + e.Message }

var eventFields = []string{"idempotency_key", "user", "workspace", "tool", "model", "units", "credits", "metadata"}

// decodeUsage reads a body holding one event or {"events": [...]}. batch
// reports which form was sent. In a batch, a malformed event refuses the
// whole request (the client must fix its encoder); valid events that the
// charging service refuses are answered one by one.
func decodeUsage(body []byte) (events []usageEventIn, batch bool, err *apiFieldError) {
	var top map[string]json.RawMessage
	if e := strictUnmarshal(body, &top); e != nil || top == nil {
		return nil, false, &apiFieldError{Field: "body", Message: "The body must be a JSON object: one event, or {\"events\": [...]}."}
	}
	if raw, ok := top["events"]; ok {
		if len(top) != 1 {
			for k := range top {
				if k != "events" {
					return nil, true, &apiFieldError{Field: fieldName(k), Message: "A batch has only the field \"events\"."}
				}
			}
		}
		var list []json.RawMessage
		if e := strictUnmarshal(raw, &list); e != nil || list == nil {
			return nil, true, &apiFieldError{Field: "events", Message: "events must be an array of event objects."}
		}
		switch {
		case len(list) == 0:
			return nil, true, &apiFieldError{Field: "events", Message: "Send at least one event."}
		case len(list) > MaxBatchEvents:
			return nil, true, &apiFieldError{Field: "events", Message: "A batch holds at most " + strconv.Itoa(MaxBatchEvents) + " events; split it."}
		}
		events = make([]usageEventIn, len(list))
		for i, raw := range list {
			var obj map[string]json.RawMessage
			if e := strictUnmarshal(raw, &obj); e != nil || obj == nil {
				return nil, true, &apiFieldError{Field: "events[" + strconv.Itoa(i) + "]", Message: "Each event must be a JSON object."}
			}
			if ferr := decodeEvent(obj, &events[i]); ferr != nil {
				ferr.Field = "events[" + strconv.Itoa(i) + "]." + ferr.Field
				return nil, true, ferr
			}
		}
		return events, true, nil
	}
	events = make([]usageEventIn, 1)
	if ferr := decodeEvent(top, &events[0]); ferr != nil {
		return nil, false, ferr
	}
	return events, false, nil
}

// strictUnmarshal is json.Unmarshal that also refuses trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return &json.SyntaxError{}
	}
	return nil
}

func decodeEvent(obj map[string]json.RawMessage, ev *usageEventIn) *apiFieldError {
	unknown := make([]string, 0)
	for k := range obj {
		if !slices.Contains(eventFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return &apiFieldError{Field: fieldName(unknown[0]), Message: "Unknown field. An event has: " + strings.Join(eventFields, ", ") + "."}
	}
	str := func(name string, required bool) (string, *apiFieldError) {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			if required {
				return "", &apiFieldError{Field: name, Message: "This field is required."}
			}
			return "", nil
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", &apiFieldError{Field: name, Message: "Must be a string."}
		}
		if !orgbase.Printable(s) {
			return "", &apiFieldError{Field: name, Message: "Must be printable text."}
		}
		return s, nil
	}
	var ferr *apiFieldError
	if ev.IdempotencyKey, ferr = str("idempotency_key", true); ferr != nil {
		return ferr
	}
	if ev.IdempotencyKey == "" {
		return &apiFieldError{Field: "idempotency_key", Message: "This field is required."}
	}
	if len(ev.IdempotencyKey) > orgbase.MaxIdempotencyKeyLen {
		return &apiFieldError{Field: "idempotency_key", Message: "At most " + strconv.Itoa(orgbase.MaxIdempotencyKeyLen) + " bytes."}
	}
	user, ferr := str("user", true)
	if ferr != nil {
		return ferr
	}
	// The limit holds for the lower-cased address, which can be longer ("Ⱥ" is two bytes, "ⱥ" three).
	if a, err := mail.ParseAddress(user); err != nil || a.Address != user || a.Name != "" || len(strings.ToLower(user)) > orgbase.MaxEmailLen {
		return &apiFieldError{Field: "user", Message: "Give the member's email address, e.g. \"ada@example.com\"."}
	}
	ev.User = strings.ToLower(user)
	if raw, ok := obj["workspace"]; ok && string(raw) != "null" {
		var n json.Number
		var s string
		text := ""
		if json.Unmarshal(raw, &s) == nil {
			text = s
		} else if json.Unmarshal(raw, &n) == nil {
			text = n.String()
		}
		id, err := strconv.ParseInt(text, 10, 64)
		if err != nil || id <= 0 {
			return &apiFieldError{Field: "workspace", Message: "A workspace id, e.g. \"42\"; leave it out to charge the key's workspace."}
		}
		ev.WorkspaceID = id
	}
	if ev.Tool, ferr = str("tool", true); ferr != nil {
		return ferr
	}
	if ev.Model, ferr = str("model", true); ferr != nil {
		return ferr
	}
	for name, s := range map[string]string{"tool": ev.Tool, "model": ev.Model} {
		if s == "" || len(s) > orgbase.MaxToolLen {
			return &apiFieldError{Field: name, Message: "Name a " + name + " of the price catalog."}
		}
	}
	if raw, ok := obj["credits"]; ok && string(raw) != "null" {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return &apiFieldError{Field: "credits", Message: "Credits are a decimal string with up to three decimals, e.g. \"0.120\"."}
		}
		c, err := orgbase.ParseCredits(s)
		if err != nil {
			return &apiFieldError{Field: "credits", Message: orgbase.ErrorMessage(err)}
		}
		if c <= 0 {
			return &apiFieldError{Field: "credits", Message: "Charge more than zero credits."}
		}
		ev.Credits = &c
	}
	if raw, ok := obj["units"]; ok && string(raw) != "null" {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return &apiFieldError{Field: "units", Message: "Units must be a whole number above zero."}
		}
		u, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || u <= 0 {
			return &apiFieldError{Field: "units", Message: "Units must be a whole number above zero."}
		}
		if u > orgbase.MaxUnits {
			return &apiFieldError{Field: "units", Message: "That is too many units for one event."}
		}
		ev.Units = u
	} else if ev.Credits != nil {
		ev.Units = 1 // an explicit amount needs no units
	} else {
		return &apiFieldError{Field: "units", Message: "Give the units used (priced from the catalog), or an explicit \"credits\" amount."}
	}
	if raw, ok := obj["metadata"]; ok && string(raw) != "null" {
		if len(raw) > orgbase.MaxMetadataSize {
			return &apiFieldError{Field: "metadata", Message: "At most " + strconv.Itoa(orgbase.MaxMetadataSize) + " bytes of JSON."}
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil || m == nil {
			return &apiFieldError{Field: "metadata", Message: "Must be a JSON object."}
		}
		ev.Metadata = m
	}
	// The domain's own rules last (names without surrounding spaces, the
	// metadata's size as stored, …), so whatever the decoder accepts the
	// charging service takes as is.
	req := orgbase.ChargeRequest{WorkspaceID: 1, UserID: 1, Tool: ev.Tool, Model: ev.Model, Units: ev.Units,
		Credits: ev.Credits, IdempotencyKey: ev.IdempotencyKey, Metadata: ev.Metadata}
	if err := req.Validate(); err != nil {
		for field, msg := range orgbase.ErrorFields(err) {
			return &apiFieldError{Field: field, Message: msg}
		}
		return &apiFieldError{Field: "body", Message: orgbase.ErrorMessage(err)}
	}
	return nil
}

// fieldName names a client's unknown field in an error ("" has no name to show).
func fieldName(k string) string {
	if k == "" || !orgbase.Printable(k) || len(k) > 100 {
		return "body"
	}
	return k
}
