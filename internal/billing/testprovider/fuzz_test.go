package testprovider

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzValidate feeds arbitrary card forms to the test provider's card
// page: field messages are for its four fields only; an accepted card is
// one of the test cards (whatever spaces or dashes it was typed with),
// keeps only its brand and last four digits, and has an expiry that is
// this month or later and at most 20 years away, and a 3–4 digit code.
func FuzzValidate(f *testing.F) {
	f.Add("Ada Lovelace", CardSuccess, "12/30", "123", int64(1764201600))
	f.Add("", "4242 4242 4242 4242", "11/25", "1234", int64(1764201600))
	f.Add("", "4000-0000-0000-0002", "1/2045", "000", int64(1764201600))
	f.Add("", CardDeclineOffSession, "13/30", "12", int64(1764201600))
	f.Add("", "4242424242424241", "10/25", "12a", int64(1764201600))
	f.Add("", "79927398713", "+1/+30", " 123 ", int64(1764201600))
	f.Add(strings.Repeat("x", 101), "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", "12/-1", "", int64(0))
	f.Add("", "4242424242424242", "00/00", "9999", int64(-1))
	f.Fuzz(func(t *testing.T, name, number, expiry, cvc string, unix int64) {
		const span = 130 * 365 * 24 * 3600
		now := time.Unix(((unix%span)+span)%span, 0).UTC()
		card, fields := Validate(CardForm{Name: name, Number: number, Expiry: expiry, CVC: cvc}, now)
		for k, v := range fields {
			if !slices.Contains([]string{"name", "number", "expiry", "cvc"}, k) || v == "" {
				t.Fatalf("field message %q: %q", k, v)
			}
		}
		if len(fields) > 0 {
			if card != (Card{}) {
				t.Fatalf("refused (%v) but gave %+v", fields, card)
			}
			return
		}
		if !slices.Contains([]string{CardSuccess, CardDecline, CardDeclineOffSession}, card.digits) || !luhn(card.digits) ||
			card.Last4 != card.digits[len(card.digits)-4:] || card.Brand == "" || card.Declined() != (card.digits == CardDecline) {
			t.Fatalf("accepted %q as %+v", number, card)
		}
		if strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' {
				return -1
			}
			return r
		}, strings.TrimSpace(number)) != card.digits {
			t.Fatalf("accepted %q as the card %s", number, card.digits)
		}
		mm, yy, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(expiry), " ", ""), "/")
		m, _ := strconv.Atoi(mm)
		y, _ := strconv.Atoi(yy)
		if len(yy) == 2 {
			y += 2000
		}
		if m < 1 || m > 12 || y*12+m < now.Year()*12+int(now.Month()) || y > now.Year()+20 {
			t.Fatalf("accepted the expiry %q at %v", expiry, now)
		}
		if c := strings.TrimSpace(cvc); len(c) < 3 || len(c) > 4 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("accepted the code %q", cvc)
		}
		if len(strings.TrimSpace(name)) > 100 {
			t.Fatalf("accepted the name %q", name)
		}
	})
}
