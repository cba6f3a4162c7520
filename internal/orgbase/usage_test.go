package orgbase

import (
	"errors"
	"testing"
)

func TestChargeRequestHash(t *testing.T) {
	c := Credits(120)
	base := ChargeRequest{WorkspaceID: 1, UserID: 2, Tool: "chat.completion", Model: "gpt", Units: 3, IdempotencyKey: "k",
		Metadata: map[string]any{"b": 1, "a": map[string]any{"y": "1", "x": []any{1, "2"}}}}
	same := base
	same.IdempotencyKey = "other key" // the key is not part of the payload
	same.Metadata = map[string]any{"a": map[string]any{"x": []any{1, "2"}, "y": "1"}, "b": 1}
	if base.Hash() != same.Hash() {
		t.Fatal("hash depends on the key or on map order")
	}
	for name, mod := range map[string]func(r *ChargeRequest){
		"workspace": func(r *ChargeRequest) { r.WorkspaceID = 9 },
		"user":      func(r *ChargeRequest) { r.UserID = 9 },
		"tool":      func(r *ChargeRequest) { r.Tool = "x" },
		"model":     func(r *ChargeRequest) { r.Model = "x" },
		"units":     func(r *ChargeRequest) { r.Units = 4 },
		"credits":   func(r *ChargeRequest) { r.Credits = &c },
		"metadata":  func(r *ChargeRequest) { r.Metadata = nil },
	} {
		r := base
		mod(&r)
		if r.Hash() == base.Hash() {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
	empty := base
	empty.Metadata = map[string]any{}
	none := base
	none.Metadata = nil
	if empty.Hash() != none.Hash() {
		t.Error("empty and missing metadata hash differently")
	}
}

func TestChargeRequestValidate(t *testing.T) {
	ok := ChargeRequest{WorkspaceID: 1, UserID: 2, Tool: "image.generate", Model: "flux", Units: 1, IdempotencyKey: "k"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	zero, huge := Credits(0), MaxCredits+1
	for field, mod := range map[string]func(r *ChargeRequest){
		"workspace":       func(r *ChargeRequest) { r.WorkspaceID = 0 },
		"user":            func(r *ChargeRequest) { r.UserID = -1 },
		"tool":            func(r *ChargeRequest) { r.Tool = "" },
		"model":           func(r *ChargeRequest) { r.Model = "bad\x00" },
		"units":           func(r *ChargeRequest) { r.Units = 0 },
		"credits":         func(r *ChargeRequest) { r.Credits = &zero },
		"idempotency_key": func(r *ChargeRequest) { r.IdempotencyKey = "" },
	} {
		r := ok
		mod(&r)
		err := r.Validate()
		if ErrorCode(err) != EINVALID || ErrorFields(err)[field] == "" {
			t.Errorf("%s: got %v", field, err)
		}
	}
	r := ok
	r.Credits = &huge
	if ErrorFields(r.Validate())["credits"] == "" {
		t.Error("absurd credits accepted")
	}
	if p, err := ok.Price(3 * Credit); err != nil || p != 3*Credit {
		t.Errorf("price = %s, %v", p, err)
	}
	r = ok
	r.Units = MaxUnits
	if _, err := r.Price(MaxCredits / 10); ErrorFields(err)["units"] == "" {
		t.Errorf("overflowing price: %v", err)
	}
}

func TestChargeRefusalErrors(t *testing.T) {
	var err error = &InsufficientCredits{AccountName: "Pool", Balance: 2 * Credit, Amount: 3 * Credit}
	if ErrorCode(err) != ECONFLICT || ErrorMessage(err) != "Not enough credits: this charge of 3 credits is paid from Pool, which has 2 credits." {
		t.Errorf("insufficient: %s %q", ErrorCode(err), ErrorMessage(err))
	}
	err = &IdempotencyConflict{Key: "k"}
	var ic *IdempotencyConflict
	if !errors.As(err, &ic) || ErrorCode(err) != ECONFLICT || ErrorFields(err)["idempotency_key"] == "" {
		t.Errorf("conflict: %v", err)
	}
}
