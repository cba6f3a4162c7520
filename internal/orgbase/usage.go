package orgbase

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// Charging usage (SPEC §5.5). A charge names a workspace, the member who
// acted, the tool and model, the units (priced from the catalog) or an
// explicit amount, and a client-chosen idempotency key. It is accepted or
// refused as a whole.

// Limits of charge inputs.
const (
	MaxToolLen      = 100
	MaxUnits        = 1_000_000_000 // a billion units in one event is a bug or an attack
	MaxMetadataSize = 4096          // bytes of the metadata as JSON
)

// ChargeRequest is one usage event as a client sends it. Units is a whole
// count of the catalog unit of the tool and model (an image, 1,000 words,
// a megabyte, ...). Credits, when set, is charged instead of the catalog
// price × units (the tool and model must still be in the catalog: they give
// the event its category).
type ChargeRequest struct {
	WorkspaceID    int64
	UserID         int64
	Tool           string
	Model          string
	Units          int64
	Credits        *Credits
	IdempotencyKey string
	Metadata       map[string]any
	// Within, when set, is the id of a workspace the charged workspace must
	// be (or be below): an API key's workspace. It is authorization, not
	// payload, so it is not part of Hash. A workspace outside it is not found.
	Within int64
}

// ChargeResult is the answer to an accepted charge, or to a replay of one
// (Replayed: nothing was charged again, and the rest is the original answer).
type ChargeResult struct {
	EventID     int64
	TransferID  int64
	Charged     Credits
	BalanceLeft Credits // the funding account's balance right after the charge
	Replayed    bool
}

func invalidField(field, msg string) error {
	return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{field: msg}}
}

// Validate checks the request's shape (not whether the workspace, member,
// tool or model exist): EINVALID naming the first bad field among
// "workspace", "user", "tool", "model", "units", "credits",
// "idempotency_key" and "metadata".
func (r *ChargeRequest) Validate() error {
	switch {
	case r.WorkspaceID <= 0:
		return invalidField("workspace", "Name the workspace to charge.")
	case r.UserID <= 0:
		return invalidField("user", "Name the member who used the tool.")
	}
	if err := checkName("tool", r.Tool); err != nil {
		return err
	}
	if err := checkName("model", r.Model); err != nil {
		return err
	}
	switch {
	case r.Units <= 0:
		return invalidField("units", "Units must be a whole number above zero.")
	case r.Units > MaxUnits:
		return invalidField("units", "That is too many units for one event.")
	}
	if r.Credits != nil {
		switch {
		case *r.Credits <= 0:
			return invalidField("credits", "Enter an amount of credits above zero.")
		case *r.Credits > MaxCredits:
			return invalidField("credits", "That amount is too large.")
		}
	}
	switch {
	case r.IdempotencyKey == "":
		return invalidField("idempotency_key", "An idempotency key is required.")
	case len(r.IdempotencyKey) > MaxIdempotencyKeyLen:
		return invalidField("idempotency_key", "The idempotency key must be at most "+strconv.Itoa(MaxIdempotencyKeyLen)+" bytes.")
	case !Printable(r.IdempotencyKey):
		return invalidField("idempotency_key", "The idempotency key must be printable text.")
	}
	if r.Metadata != nil {
		b, err := json.Marshal(r.Metadata)
		if err != nil {
			return invalidField("metadata", "The metadata must be a JSON object.")
		}
		if len(b) > MaxMetadataSize {
			return invalidField("metadata", "The metadata must be at most "+strconv.Itoa(MaxMetadataSize)+" bytes of JSON.")
		}
	}
	return nil
}

func checkName(field, s string) error {
	switch {
	case s == "":
		return invalidField(field, "Name the "+field+".")
	case len(s) > MaxToolLen || !Printable(s) || strings.TrimSpace(s) != s:
		return invalidField(field, "Unknown "+field+".")
	}
	return nil
}

// Printable reports whether s is valid UTF-8 without control characters.
func Printable(s string) bool {
	if strings.ToValidUTF8(s, "\uFFFD") != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Price returns what the request costs: the explicit amount, else
// perUnit × units. EINVALID on "units" when the product passes MaxCredits.
func (r *ChargeRequest) Price(perUnit Credits) (Credits, error) {
	if r.Credits != nil {
		return *r.Credits, nil
	}
	if perUnit <= 0 || r.Units <= 0 || r.Units > int64(MaxCredits/perUnit) {
		return 0, invalidField("units", "That many units cost more than an event may.")
	}
	return perUnit * Credits(r.Units), nil
}

// MetadataJSON is the metadata as stored: compact JSON with sorted keys,
// "{}" for none.
func (r *ChargeRequest) MetadataJSON() string {
	if len(r.Metadata) == 0 {
		return "{}"
	}
	b, err := json.Marshal(r.Metadata)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// Hash is the request's canonical fingerprint (hex sha256): two requests
// with the same key are the same charge exactly when their hashes are equal.
// It covers everything but the key, with the amount in milli-credits and
// the metadata as JSON with sorted keys (encoding/json sorts map keys).
func (r *ChargeRequest) Hash() string {
	credits := ""
	if r.Credits != nil {
		credits = strconv.FormatInt(int64(*r.Credits), 10)
	}
	canon, _ := json.Marshal([]any{"v1", r.WorkspaceID, r.UserID, r.Tool, r.Model, r.Units, credits, r.MetadataJSON()})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// InsufficientCredits refuses a charge the funding account cannot pay. It
// names the account (the pool or the budget workspace the charged
// workspace spends from) and unwraps to an ECONFLICT *Error; the usage API
// maps it to insufficient_credits.
type InsufficientCredits struct {
	AccountID   int64
	AccountName string // "Organization pool" or the budget workspace's name
	WorkspaceID int64  // the workspace holding the account (the Primary for the pool)
	Balance     Credits
	Amount      Credits
}

// Message says who is short and by how much.
func (e *InsufficientCredits) Message() string {
	return "Not enough credits: this charge of " + e.Amount.String() + " credits is paid from " + e.AccountName +
		", which has " + e.Balance.String() + " credits."
}

func (e *InsufficientCredits) Error() string { return "orgbase insufficient credits: " + e.Message() }

// Unwrap exposes the refusal as an ECONFLICT *Error.
func (e *InsufficientCredits) Unwrap() error { return &Error{Code: ECONFLICT, Message: e.Message()} }

// IdempotencyConflict refuses a charge whose key an earlier, different
// charge of the organization used. It unwraps to an ECONFLICT *Error on the
// "idempotency_key" field; the usage API maps it to idempotency_conflict.
type IdempotencyConflict struct {
	Key string
}

const idempotencyConflictMsg = "This idempotency key was already used for a different charge."

func (e *IdempotencyConflict) Error() string {
	return "orgbase idempotency conflict: key " + strconv.Quote(e.Key)
}

// Unwrap exposes the refusal as an ECONFLICT *Error.
func (e *IdempotencyConflict) Unwrap() error {
	return &Error{Code: ECONFLICT, Message: idempotencyConflictMsg,
		Fields: map[string]string{"idempotency_key": "Already used for a different charge."}}
}
