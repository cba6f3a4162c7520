// Package catalog holds the default price catalog Orgbase ships with
// (SPEC §5.6) and reads price catalogs written as CSV. The default is
// embedded: the binary never reads it from disk.
package catalog

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// defaultCSV is the default catalog. Rows whose source is "published rate"
// or "published example" follow what a real credit-based AI platform
// publishes for the same tool; "assumed" rows are plausible values with no
// published source. The operator can change prices later.
//
//go:embed default.csv
var defaultCSV string

// Entry is one row of a catalog: the price of one unit of a tool with a model.
type Entry struct {
	Tool           string
	Model          string
	Unit           string
	CreditsPerUnit orgbase.Credits
	Category       orgbase.Category
	Source         string
}

// Header is the first line every catalog file starts with.
var Header = []string{"tool", "model", "unit", "credits_per_unit", "category", "source"}

// MaxFieldLen bounds the length of a tool, model, unit or source.
const MaxFieldLen = 100

// Default returns the default catalog.
func Default() ([]Entry, error) {
	entries, err := Parse(strings.NewReader(defaultCSV))
	if err != nil {
		return nil, fmt.Errorf("default price catalog: %w", err)
	}
	return entries, nil
}

// Parse reads a catalog written as CSV with the Header columns. Every row is
// checked: tool, model and unit are non-empty, the category is chatbot or
// image_speech, the price is a positive decimal with at most three decimals
// (read exactly into milli-credits, never through a float), and no tool and
// model pair appears twice. The first bad row fails the whole file.
func Parse(r io.Reader) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(Header)
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty")
	}
	if err != nil {
		return nil, err
	}
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\ufeff") // a byte order mark from a spreadsheet
	}
	if strings.Join(head, ",") != strings.Join(Header, ",") {
		return nil, fmt.Errorf("line 1: the header must be %s", strings.Join(Header, ","))
	}
	var out []Entry
	seen := map[[2]string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		e, err := parseRow(rec)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		key := [2]string{e.Tool, e.Model}
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s %s is already priced on line %d", line, e.Tool, e.Model, first)
		}
		seen[key] = line
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("the file has no prices")
	}
	return out, nil
}

func parseRow(rec []string) (Entry, error) {
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	e := Entry{Tool: rec[0], Model: rec[1], Unit: rec[2], Category: orgbase.Category(rec[4]), Source: rec[5]}
	for _, f := range []struct{ name, v string }{{"tool", e.Tool}, {"model", e.Model}, {"unit", e.Unit}, {"source", e.Source}} {
		if f.v == "" && f.name != "source" {
			return e, fmt.Errorf("the %s is empty", f.name)
		}
		if !utf8.ValidString(f.v) || utf8.RuneCountInString(f.v) > MaxFieldLen {
			return e, fmt.Errorf("the %s is not valid text of at most %d characters", f.name, MaxFieldLen)
		}
	}
	if !e.Category.Valid() {
		return e, fmt.Errorf("unknown category %q (want %s or %s)", rec[4], orgbase.CategoryChatbot, orgbase.CategoryImageSpeech)
	}
	price, err := orgbase.ParseCredits(rec[3])
	if err != nil {
		return e, fmt.Errorf("price %q: %s", rec[3], orgbase.ErrorMessage(err))
	}
	if price <= 0 {
		return e, fmt.Errorf("price %q: a price must be more than zero", rec[3])
	}
	e.CreditsPerUnit = price
	return e, nil
}
